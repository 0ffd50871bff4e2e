"""The config's expectations checked against a report's rows.

`decrease` and `increase` need every matching row *different* in that
direction; `none` needs every matching row *same*; an undecided row never
meets an expectation, and a row that carries no verdict (emulated time
under TCG) neither meets nor fails one. With `exercised: true`, a matching
row must also come from a cell group where the patch's code ran (a
coverage pass); without coverage data it stays undecided.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.compare.stats import Comparison
from orchestrator.results.models import Expectation


@dataclass(frozen=True)
class ExpectationResult:
    name: str
    metric: str
    when: dict[str, Any]
    change: str
    status: str  # met, not met, undecided, not applicable
    detail: str
    groups: tuple[str, ...] = ()  # the labels of the undecided groups


def coordinate(value: Any) -> str:
    """A `when` value as cell coordinates spell it (`true`, not `True`)."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def label(group: tuple[tuple[str, str], ...]) -> str:
    return " ".join(f"{k}={v}" for k, v in group)


def matches(e: ExpectationResult, row) -> bool:
    """Whether the row is one the expectation speaks of."""
    return row.comparison.metric == e.metric and all(row.where.get(k) == v for k, v in e.when.items())


def _fails(change: str, c: Comparison) -> str | None:
    """Why this row does not meet the expectation; None when it does."""
    shown = "n/a" if c.change_pct is None else f"{c.change_pct:+.1f}%"
    if change == "none":
        return None if c.outcome == "same" else f"{shown}, {c.outcome} ({c.why or 'not shown within ±' + format(c.min_effect_pct, 'g') + '%'})"
    down = change == "decrease"
    if c.outcome == "different" and c.change_pct is not None and (c.change_pct < 0) == down:
        return None
    return f"{shown}, {c.outcome}" + (f" ({c.why})" if c.why else "")


def _unexercised(row) -> str | None:
    if row.exercised is None:
        return "no coverage data (run --coverage, or orchestrator coverage CONFIG)"
    return None if row.exercised else "the patch's changed code never ran here"


def check(exp: Expectation, rows: list) -> ExpectationResult:
    when = {k: coordinate(v) for k, v in exp.when.items()}
    name = exp.name or f"{exp.metric} {exp.change} where {when or 'everywhere'}"
    hits = [r for r in rows if r.comparison.metric == exp.metric and all(r.where.get(k) == v for k, v in when.items())]
    hits = [r for r in hits if r.comparison.verdict != "not tested"]
    if not hits:
        return ExpectationResult(name, exp.metric, when, exp.change, "not applicable",
                                 "no matching rows with a verdict in this report")
    bad, undecided = [], []
    for r in hits:
        why, unknown = _fails(exp.change, r.comparison), r.comparison.outcome == "undecided"
        if why is None and exp.exercised:
            why, unknown = _unexercised(r), r.exercised is None
        if why is None:
            continue
        (undecided if unknown else bad).append((label(r.group), why))
    # a contrary outcome decides "not met"; only undecided rows leave it open
    status = "not met" if bad else "undecided" if undecided else "met"
    detail = "; ".join(f"{g}: {w}" for g, w in bad + undecided) or f"{len(hits)} matching cell group(s)"
    return ExpectationResult(name, exp.metric, when, exp.change, status, detail,
                             tuple(g for g, _ in undecided))
