"""The diff's terminal tables for a narrow terminal (under 120 columns):
they fit 80. The same rows as the wide table, with medians in short
figures (38.9k), the interval wrapping between its two ends, the verdict
in one word, and no p values (the verdict is their outcome; a terminal of
120 columns or more, `--format md` and `--format json` show them); a metric
name is never split."""

from __future__ import annotations

import math

from rich import box
from rich.table import Table

from orchestrator.compare.diff import Report, Row

WIDE = 120  # from this many columns on, the wide table (every column apart)
SHORT_VERDICT = {"not tested": "no verdict"}


def short(x: float | None) -> str:
    """A median in at most 6 characters: 38.9k, 1.23M, 9467, 0.0312."""
    if x is None or math.isnan(x):
        return "-"
    for least, unit, suffix in ((1e9, 1e9, "G"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if abs(x) >= least:
            return f"{x / unit:.3g}{suffix}"
    return f"{x:.4g}"


def _cells(row: Row) -> list[str]:
    c = row.comparison
    change = "-" if c.change_pct is None else f"{c.change_pct:+.1f}%"
    ci = "-" if c.ci_low_pct is None else f"[{c.ci_low_pct:+.1f}%, {c.ci_high_pct:+.1f}%]"
    return [c.metric, f"{c.n_a}/{c.n_b}", short(c.median_a), short(c.median_b), change, ci,
            "not run" if row.exercised is False and c.outcome != "different" else SHORT_VERDICT.get(c.verdict, c.verdict)]


def group_table(report: Report, label: str, rows: list[Row], styles: dict[str, str]) -> Table:
    a, b = ("odd reps", "even reps") if report.a == report.b else (report.a, report.b)
    t = Table(title=label, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, padding=0)
    for col, kw in (("metric", {"no_wrap": True}), ("n", {"no_wrap": True}), (a, {"max_width": 9}),
                    (b, {"max_width": 9}), ("change", {"no_wrap": True}), ("95% CI", {"min_width": 8}),
                    ("verdict", {"min_width": 11})):
        t.add_column(col, overflow="fold", justify="right" if col in (a, b, "change") else "left", **kw)
    for row in rows:
        cells = _cells(row)
        style = styles.get(row.comparison.verdict, "")
        t.add_row(*cells[:-1], f"[{style}]{cells[-1]}[/]" if style else cells[-1])
    return t


NOTE = ("medians; the change of geometric means with its 95% CI; no verdict: emulated time (TCG); "
        "p values: 120 columns or more, or --format md")
COVERAGE_NOTE = "not run: the patch's changed code never ran in that cell group (a coverage pass)"
