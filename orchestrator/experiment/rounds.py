"""`run --until-decided`: more repetitions, in rounds, for exactly the cell
groups whose rows are still undecided.

After the planned cells, each round adds one repetition of every kernel
variant (interleaved, as the plan is) for each group that an expectation
row, or a headline row when the config has no expectations, leaves
undecided. It stops when every such row is decided, when a group would pass
`--max-repetitions`, or when the next round would not fit in
`--budget-minutes` after the planned cells (judged by the last round's
duration). Each added repetition is measured in a new L1 boot
(plan/boots.py): the statistics take one sample per boot, so only a new
boot adds one. A round therefore boots one template per kernel and tdp it
samples, and restores it for each of that group's workloads.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.machine.live import INTERRUPTED
from orchestrator.plan import Cell

Group = tuple[tuple[str, str], ...]
# the groups still undecided, given the run so far
Undecided = Callable[[], set[Group]]


@dataclass(frozen=True)
class Sampling:
    max_repetitions: int
    budget_minutes: float


def group_key(cell: Cell) -> Group:
    return tuple(sorted(cell.group))


@dataclass
class Rounds:
    """Decides each next round; its summary goes into the run's manifest."""
    sampling: Sampling
    planned: list[Cell]
    undecided: Undecided
    clock: Callable[[], float] = time.monotonic
    reps: dict[Group, int] = field(default_factory=dict)
    rounds: list[dict[str, Any]] = field(default_factory=list)
    stopped: str | None = None
    left: list[Group] = field(default_factory=list)
    added: list[str] = field(default_factory=list)  # ids of the cells the rounds added

    def __post_init__(self) -> None:
        for c in self.planned:
            self.reps[group_key(c)] = max(self.reps.get(group_key(c), 0), c.rep)
        self._start: float | None = None  # the budget counts from the end of the planned cells
        self._last = 0.0

    def _stop(self, why: str, left: set[Group]) -> list[Cell]:
        self.stopped, self.left = why, sorted(left)
        return []

    def next_round(self) -> list[Cell]:
        """The cells of the next round, or none (and why) when it is over."""
        now = self.clock()
        if self._start is None:
            self._start = now
        if self.rounds:
            self.rounds[-1]["seconds"] = round(now - self._last, 1)
        self._last = now
        left = self.undecided()
        if not left:
            return self._stop("decided", left)
        wanted = sorted(g for g in left if self.reps.get(g, 0) < self.sampling.max_repetitions)
        if not wanted:
            return self._stop(f"max repetitions ({self.sampling.max_repetitions}) reached", left)
        last = self.rounds[-1]["seconds"] if self.rounds else 0.0
        if now - self._start + last > self.sampling.budget_minutes * 60:
            return self._stop(f"budget ({self.sampling.budget_minutes:g} min) spent", left)
        cells = []
        for g in wanted:
            self.reps[g] += 1
            cells += [dataclasses.replace(c, rep=self.reps[g]) for c in self._first_rep(g)]
        self.rounds.append({"groups": [_label(g) for g in wanted], "cells": len(cells)})
        self.added += [c.id for c in cells]
        return cells

    def _first_rep(self, g: Group) -> list[Cell]:
        """One planned cell per kernel of group g: the shape of a new repetition."""
        seen: dict[str, Cell] = {}
        for c in self.planned:
            if group_key(c) == g:
                seen.setdefault(c.kernel, c)
        return list(seen.values())

    def summary(self) -> dict[str, Any]:
        return {"stopped": self.stopped, "rounds": self.rounds, "max_repetitions": self.sampling.max_repetitions,
                "budget_minutes": self.sampling.budget_minutes,
                "repetitions": {_label(g): n for g, n in sorted(self.reps.items())},
                "undecided": [_label(g) for g in self.left]}


def _label(g: Group) -> str:
    return " ".join(f"{k}={v}" for k, v in g)


class Refill:
    """Workers take cells; when none are left and none are running, the
    next round is asked for. Workers wait for it instead of exiting, so
    their warm templates live on."""

    def __init__(self, rounds: Rounds, add: Callable[[list[Cell]], None], pop: Callable[[], Cell | None]):
        self.rounds, self._add, self._pop = rounds, add, pop
        self._cond = threading.Condition()
        self._busy = 0
        self._over = False

    def take(self, take: Callable[[], Cell | None]) -> Cell | None:
        with self._cond:
            while not INTERRUPTED.is_set():
                cell = take() or (self._pop() if self._busy == 0 else None)
                if cell is not None:
                    self._busy += 1
                    return cell
                if self._over:
                    return None
                if self._busy == 0:
                    more = self.rounds.next_round()
                    if not more:
                        self._over = True
                        self._cond.notify_all()
                        return None
                    self._add(more)
                    self._cond.notify_all()
                    continue
                self._cond.wait(timeout=1.0)
            return None

    def done(self) -> None:
        with self._cond:
            self._busy -= 1
            self._cond.notify_all()
