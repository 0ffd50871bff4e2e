"""Which cell a worker takes next.

Without warm start: the plan's order. With it, the plan's order too while
the next cell's group is one the worker holds a saved L1 for, or one it has
room for that no other worker holds; otherwise the worker keeps to a group
it holds, then takes a group no other worker holds, and only then shares one (booting its own template) if at least
STEAL_MIN of its cells are left; else the worker is done. So the groups
spread over the workers and each template is booted about once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable

from orchestrator.plan import Cell


STEAL_MIN = 4  # cells left in a group before a second worker boots it too


class Scheduler:
    def __init__(self, cells: Iterable[Cell], group_of: Callable[[Cell], Hashable] | None = None):
        self._queue = list(cells)
        self._group_of = group_of
        self._held: dict[int, set[Hashable]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._queue)

    def add(self, cells: Iterable[Cell]) -> None:
        """More cells at the end (`run --until-decided`'s next round)."""
        with self._lock:
            self._queue.extend(cells)

    def pop(self) -> Cell | None:
        """The head of the queue whoever holds its group: for a worker left
        alone with cells that no one else will take."""
        with self._lock:
            return self._queue.pop(0) if self._queue else None

    def next(self, worker: int, held: set[Hashable] = frozenset(), room: bool = True) -> Cell | None:
        """`held`: the groups this worker has templates for; `room`: whether
        it may keep one more without dropping one."""
        with self._lock:
            if not self._queue:
                return None
            self._held[worker] = set(held)
            index = 0
            if self._group_of is not None:
                others = set().union(*(h for w, h in self._held.items() if w != worker))
                groups = [self._group_of(c) for c in self._queue]
                head = groups[0]
                if not (head in held or (room and head not in others)):
                    for wanted in (lambda g: g in held, lambda g: g not in others):
                        found = next((i for i, g in enumerate(groups) if wanted(g)), None)
                        if found is not None:
                            index = found
                            break
                    else:
                        # every group left is another worker's: a second
                        # template (a boot, ~25 s under TCG) pays only for a long tail
                        if groups.count(head) < STEAL_MIN:
                            return None
            cell = self._queue.pop(index)
            if self._group_of is not None:
                self._held[worker].add(self._group_of(cell))
            return cell
