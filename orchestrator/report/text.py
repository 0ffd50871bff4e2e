"""A diff report as plain text at 72 columns, for a reply on a mailing
list or a commit message: the verdict first (each expectation, then the
largest decided changes), where the numbers come from, then one compact
table per cell group with a line per metric, as mmtests' compare prints:
both medians, the change, and a marker.

Markers: `*` different (adjusted p < 0.05 and past the minimum effect),
`=` same (shown within the minimum effect), `?` undecided, blank for a
metric without a verdict (emulated time under TCG)."""

from __future__ import annotations

import textwrap
from collections import defaultdict

from orchestrator.compare.diff import Report, Row, _label
from orchestrator.compare.metrics import labelled
from orchestrator.report import coverage as coverage_report
from orchestrator.report.render import aa_message, fp_lines, opening
from orchestrator.report.verdict import change_text, gate_line, largest_changes

WIDTH = 72
MARK = {"different": "*", "same": "=", "undecided": "?"}
STATUS = {"met": "met", "not met": "NOT MET", "undecided": "UNDECIDED", "not applicable": "n/a"}


def _wrap(text: str, indent: str = "") -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=" " * len(indent) + "  ",
                         break_on_hyphens=False) or [indent]


def _num(x: float | None) -> str:
    return "-" if x is None or x != x else f"{x:.5g}"


def _mark(row: Row) -> str:
    """The outcome's marker; `-` where the patch's code never ran (a
    coverage pass said so) and nothing was found different."""
    if row.exercised is False and row.comparison.outcome != "different":
        return "-"
    return MARK.get(row.comparison.outcome or "", " ")


def _row(row: Row) -> list[str]:
    """A metric's line; a name (with its unit) too long for the column
    gets a line of its own, the figures below it."""
    c = row.comparison
    change = "-" if c.change_pct is None else f"{c.change_pct:+.1f}%"
    name = labelled(c.metric)
    figures = f"{_num(c.median_a):>11s} {_num(c.median_b):>11s} {change:>9s} {_mark(row)}"
    if len(name) <= 26:
        return [f"  {name:26s} {figures}"]
    return [*_wrap(name, "  "), f"  {'':26s} {figures}"]


def _verdict(report: Report) -> list[str]:
    out = ["Verdict:"]
    for e in report.expectations:
        out += _wrap(f"{STATUS.get(e.status, e.status):9s} {e.name}: {e.detail}", "  ")
    for r in largest_changes(report):
        out += _wrap(f"{r.comparison.metric} {change_text(r)} where {_label(r.group)}", "  changed: ")
    if len(out) == 1:
        out.append("  no expectation, and no metric decided different")
    return out


def gate_text(gate) -> str:
    """The gate's section at 72 columns (gate: a GateReport): its summary,
    a line per listed test, and the end of each new failure's output."""
    from orchestrator.gate import render as gate_render

    lines = ["", "Gate: the kernel's KVM selftests"]
    lines += [out for line in gate_render.summary_lines(gate) for out in _wrap(line, "  ")]
    for title, rows in gate_render.sections(gate):
        lines += ["", *_wrap(f"{title}:")]
        for r in rows:
            lines += _wrap(f"{r.test} (tdp {r.tdp}): {r.status_a} / {r.status_b}" + (f"; {r.expunged}" if r.expunged else ""),
                           "  ")
    for r in gate.new_failures:
        lines += ["", *_wrap(f"{r.test} (tdp {r.tdp}) on {gate.b}, the end of its output:")]
        lines += [out for line in gate_render.tail(r.b).splitlines()
                  for out in (textwrap.wrap(line, WIDTH - 2, initial_indent="  ", subsequent_indent="  ") or [""])]
    return "\n".join(lines) + "\n"


def to_text(report: Report, gate=None) -> str:
    if report.aa_needs is not None:
        return "\n".join(_wrap(aa_message(report))) + "\n"
    lines = _wrap(f"orchestrator diff: {report.b} against {report.a} ({report.mode}; run {', '.join(report.run_ids)})")
    lines += ["", *_verdict(report), *(_wrap(gate_line(gate), "  ") if gate is not None else []), ""]
    for line in opening(report):
        lines += _wrap(line)
    if report.mode == "a/a":
        lines += [line for text in fp_lines(report) for line in _wrap(text)]
    groups: dict[str, list[Row]] = defaultdict(list)
    for row in report.rows:
        groups[_label(row.group)].append(row)
    for label, rows in groups.items():
        lines += ["", *_wrap(label),
                  f"  {'metric':26s} {report.a[:11]:>11s} {report.b[:11]:>11s} {'change':>9s}"]
        lines += [line for r in rows for line in _row(r)]
    if report.coverage:
        lines += [""] + [wrapped for line in coverage_report.text(report.coverage, list(dict.fromkeys((report.a, report.b))))
                         for wrapped in _wrap(line, " " * (len(line) - len(line.lstrip())))]
    if report.failed_cells:
        lines += [""] + _wrap(f"failed cells left out: {', '.join(report.failed_cells)}")
    lines += ["", "* different  = same  ? undecided  - patch not exercised (coverage)",
              "medians; change of geometric means"]
    return "\n".join(lines) + "\n"
