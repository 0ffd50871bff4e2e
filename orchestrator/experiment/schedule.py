"""Which cell a worker takes next.

Without warm start: the plan's order. With it, a worker first keeps to a
group it already holds a saved L1 for, then takes a group no other worker
holds, and only then shares one (booting its own template), so the groups
spread over the workers and each template is booted about once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable

from orchestrator.plan import Cell


class Scheduler:
    def __init__(self, cells: Iterable[Cell], group_of: Callable[[Cell], Hashable] | None = None):
        self._queue = list(cells)
        self._group_of = group_of
        self._held: dict[int, set[Hashable]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._queue)

    def next(self, worker: int, held: set[Hashable] = frozenset()) -> Cell | None:
        with self._lock:
            if not self._queue:
                return None
            self._held[worker] = set(held)
            index = 0
            if self._group_of is not None:
                others = set().union(*(h for w, h in self._held.items() if w != worker))
                groups = [self._group_of(c) for c in self._queue]
                for wanted in (lambda g: g in held, lambda g: g not in others):
                    found = next((i for i, g in enumerate(groups) if wanted(g)), None)
                    if found is not None:
                        index = found
                        break
            cell = self._queue.pop(index)
            if self._group_of is not None:
                self._held[worker].add(self._group_of(cell))
            return cell
