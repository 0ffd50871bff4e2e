"""A walk's result as plain data (what report/series.py renders and
`series/report.json` keeps): each step, and per cell group and metric the
step's samples with its change against the step before and against the
base, with the statistics of `diff`."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from orchestrator.compare.diff import Report, _label
from orchestrator.compare.stats import Comparison
from orchestrator.series.walk import Walk

FORMAT = 1


def _change(c: Comparison) -> dict[str, Any]:
    return {"change_pct": c.change_pct, "ci_pct": [c.ci_low_pct, c.ci_high_pct], "p_value": c.p_value,
            "min_effect_pct": c.min_effect_pct, "verdict": c.verdict, "significant": c.significant}


def _rows(report: Report) -> dict[tuple[str, str], Any]:
    return {(_label(r.group), r.comparison.metric): r for r in report.rows}


def _samples(walk: Walk) -> dict[str, dict[tuple[str, str], tuple[float, ...]]]:
    """step -> (group, metric) -> its samples, from the reports' sides."""
    out: dict[str, dict[tuple[str, str], tuple[float, ...]]] = defaultdict(dict)
    for report in walk.previous.values():
        for where, row in _rows(report).items():
            out[report.a].setdefault(where, row.a)
            out[report.b][where] = row.b
    return out


def _point(step: str, values: tuple[float, ...], walk: Walk, where: tuple[str, str]) -> dict[str, Any]:
    point: dict[str, Any] = {"step": step, "n": len(values), "samples": list(values),
                             "median": statistics.median(values) if values else None}
    for name, reports in (("vs_previous", walk.previous), ("vs_base", walk.base)):
        row = _rows(reports[step]).get(where) if step in reports else None
        point[name] = _change(row.comparison) if row else None
    return point


def summarize(walk: Walk, run_id: str, base: str) -> dict[str, Any]:
    samples = _samples(walk)
    wheres = sorted({w for per in samples.values() for w in per})
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for group, metric in wheres:
        better = next((r.comparison.better for rep in walk.previous.values() for (g, m), r in _rows(rep).items()
                       if (g, m) == (group, metric)), "lower")
        points = [_point(s.name, samples[s.name].get((group, metric), ()), walk, (group, metric))
                  for s in walk.built]
        groups[group].append({"metric": metric, "better": better, "points": points})
    failed = sorted({c for rep in walk.previous.values() for c in rep.failed_cells})
    return {"format": FORMAT, "run": run_id, "base": base, "steps": [s.as_json() for s in walk.steps],
            "groups": [{"group": g, "metrics": ms} for g, ms in groups.items()], "failed_cells": failed}


def moved(summary: dict[str, Any], metric: str, group: str) -> list[tuple[str, str]]:
    """(step, verdict) of each step against the one before, for one metric
    and cell group: what moved it."""
    for g in summary["groups"]:
        if g["group"] != group:
            continue
        for m in g["metrics"]:
            if m["metric"] == metric:
                return [(p["step"], p["vs_previous"]["verdict"]) for p in m["points"] if p["vs_previous"]]
    return []
