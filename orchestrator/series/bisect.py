"""Binary search for the first step of a series that moved a metric.

The ends are measured first: step 0 (good) and step N (bad) must differ as
the condition says, or there is nothing to find. A step in between is then
judged against both ends, with the statistics of `diff`:
- bad: it differs from the good end in the condition's direction (and by
  at least the threshold, when one is given);
- good: it does not differ from the good end but does differ from the bad
  end;
- skip: anything else (undecided, or it did not build or boot), as `git
  bisect skip` does: the search tries the untested step nearest the middle
  instead, and if only skipped steps remain, the answer is a range.
The judge is a callable, so the search is tested without kernels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

GOOD, BAD, SKIP = "good", "bad", "skip"


@dataclass
class Search:
    steps: int  # the last step's index (N); 0 is the good end
    verdicts: dict[int, str] = field(default_factory=dict)

    def bounds(self) -> tuple[int, int]:
        """The last known good step and the first known bad one."""
        good = max([0] + [s for s, v in self.verdicts.items() if v == GOOD])
        bad = min([self.steps] + [s for s, v in self.verdicts.items() if v == BAD and s > good])
        return good, bad

    def next_step(self) -> int | None:
        """The untested step nearest the middle of the open range, or None
        when the range is closed (or holds only skipped steps)."""
        good, bad = self.bounds()
        open_steps = [s for s in range(good + 1, bad) if s not in self.verdicts]
        if not open_steps:
            return None
        middle = (good + bad) / 2
        return min(open_steps, key=lambda s: (abs(s - middle), s))

    def answer(self) -> tuple[int, list[int]]:
        """The first bad step, and the steps it may be (more than one only
        when skipped steps sit right before it)."""
        good, bad = self.bounds()
        return bad, [s for s in range(good + 1, bad + 1)]


def search(steps: int, judge: Callable[[int], str], on_verdict: Callable[[int, str], None] = lambda s, v: None,
           known: dict[int, str] | None = None) -> Search:
    """Judge steps until the first bad one is pinned down; `known`
    verdicts (a resumed bisect's) are not judged again."""
    if steps < 1:
        raise ValueError("a bisect needs at least one step after the good end")
    state = Search(steps, dict(known or {}))
    while (step := state.next_step()) is not None:
        verdict = judge(step)
        state.verdicts[step] = verdict
        on_verdict(step, verdict)
    return state
