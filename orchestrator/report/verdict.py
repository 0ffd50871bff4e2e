"""What every report form says first: each expectation's status and the
largest decided changes. The rows and their outcomes are the comparison's
(orchestrator.compare); this only picks and orders them."""

from __future__ import annotations

from orchestrator.compare.diff import Report, Row

LARGEST = 5


def largest_changes(report: Report, n: int = LARGEST) -> list[Row]:
    """The rows decided *different*, largest change first."""
    decided = [r for r in report.rows if r.comparison.outcome == "different" and r.comparison.change_pct is not None]
    return sorted(decided, key=lambda r: -abs(r.comparison.change_pct or 0.0))[:n]


def change_text(row: Row) -> str:
    """`-85.1% [-85.1%, -85.1%] (improvement)`: a decided row's change."""
    c = row.comparison
    ci = "" if c.ci_low_pct is None else f" [{c.ci_low_pct:+.1f}%, {c.ci_high_pct:+.1f}%]"
    return f"{c.change_pct:+.1f}%{ci} ({c.verdict})"


def gate_line(gate) -> str:
    """The gate's result in one line (gate: orchestrator.gate.compare.GateReport)."""
    new = len(gate.new_failures)
    if new:
        return f"gate: FAILED, {new} new failure(s) on {gate.b}: " + ", ".join(
            f"{r.test} (tdp {r.tdp})" for r in gate.new_failures[:5]) + (" ..." if new > 5 else "")
    return f"gate: passed, no new failure on {gate.b}" + (f" against {gate.a}" if gate.a != gate.b else "")
