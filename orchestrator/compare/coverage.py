"""Whether the compared kernels' changed code ran in each cell group, from
a coverage pass (orchestrator coverage, or run --coverage), attached to a
report's rows: a "no change" where the patch never ran is no evidence."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

NOT_EXERCISED = "not exercised"


def attach(report: Any, results: Path, run: Any, variants: list[str]) -> None:
    """Mark each row's group exercised or not (None: no coverage data)."""
    from orchestrator.coverage import session  # the build layer, only when a report has a run to look at
    data = session.find(results, run)
    if data is None:
        return
    groups = {tuple(sorted(g["where"].items())): g for g in data["groups"].values()}
    report.coverage = data
    report.rows = [replace(r, exercised=session.exercised(groups[r.group], variants) if r.group in groups else None)
                   for r in report.rows]


def shown(row: Any, verdict: str) -> str:
    """A row's verdict as reports show it, with what coverage says."""
    if row.exercised is False:
        return verdict + " (patch not exercised)" if row.comparison.outcome == "different" else NOT_EXERCISED
    return verdict
