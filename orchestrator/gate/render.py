"""The gate's report in every format: terminal, Markdown, JSON, JUnit.

New failures come first and carry the failing test's output (its end), so
the reason a run failed is on the screen, not only in the run folder.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape, quoteattr

from rich.console import Console
from rich.table import Table

from orchestrator.gate.compare import GateReport, Row
from orchestrator.gate.plan import FAILING

TAIL_LINES = 25


def _tail(record: dict[str, Any] | None, lines: int = TAIL_LINES) -> str:
    if not record:
        return ""
    return "\n".join(str(record.get("output", "")).rstrip().splitlines()[-lines:])


def _counts(report: GateReport, kernel: str) -> str:
    c = report.counts.get(kernel, {})
    text = ", ".join(f"{n} {s}" for s, n in sorted(c.items())) or "no results"
    side = (lambda r: r.status_a) if kernel == report.a and report.a != report.b else (lambda r: r.status_b)
    known = sum(1 for r in report.expunged if side(r) in FAILING)
    return text + (f" ({known} of the failures expunged)" if known else "")


def summary_lines(report: GateReport) -> list[str]:
    head = [f"gate {report.b} against {report.a}" if report.a != report.b else f"gate {report.a}",
            f"host profile: {', '.join(report.profiles) or 'unknown'}"]
    for k in dict.fromkeys((report.a, report.b)):
        head.append(f"{k}: {_counts(report, k)} ({report.seconds.get(k, 0):.0f} s of tests)")
    head.append(f"new failures (fail on {report.b}, not on {report.a}): {len(report.new_failures)}")
    if report.a != report.b:
        head.append(f"fixed (fail on {report.a}, not on {report.b}): {len(report.fixed)}")
        head.append(f"failing on both: {len(report.both)}")
    head.append(f"expunged: {len(report.expunged)}")
    if report.unpaired:
        head.append(f"with a result on one side only (not compared): {len(report.unpaired)}")
    return head


def _row_dict(r: Row) -> dict[str, Any]:
    return {"tdp": r.tdp, "test": r.test, "a": r.status_a, "b": r.status_b, "expunged": r.expunged,
            "exit_code_a": r.a.get("exit_code") if r.a else None,
            "exit_code_b": r.b.get("exit_code") if r.b else None,
            "output_b": _tail(r.b) if r.status_b != "pass" else ""}


def as_dict(report: GateReport) -> dict[str, Any]:
    return {
        "a": report.a, "b": report.b, "profiles": report.profiles, "expunge_files": report.expunge_files,
        "counts": report.counts, "seconds": report.seconds,
        "new_failures": [_row_dict(r) for r in report.new_failures],
        "fixed": [_row_dict(r) for r in report.fixed],
        "failing_on_both": [_row_dict(r) for r in report.both],
        "expunged": [_row_dict(r) for r in report.expunged],
        "tests": [_row_dict(r) for r in report.rows],
    }


def to_table(report: GateReport, console: Console) -> None:
    for line in summary_lines(report):
        console.print(line, markup=False)
    table = Table(title=f"gate: {report.a} vs {report.b}" if report.a != report.b else f"gate: {report.a}")
    for col in ("tdp", "test", report.a if report.a != report.b else "", report.b, "note"):
        table.add_column(col or "-", overflow="fold")
    new = {id(r) for r in report.new_failures}
    for r in report.rows:
        note = f"expunged: {r.expunged}" if r.expunged else "[red]NEW FAILURE[/]" if id(r) in new else ""
        table.add_row(r.tdp, r.test, r.status_a if report.a != report.b else "", r.status_b, note)
    console.print(table)
    for r in report.new_failures:
        console.print(f"[red]new failure[/] {r.test} tdp={r.tdp} on {report.b} "
                      f"(exit {r.b.get('exit_code') if r.b else '?'}):")
        console.print(_tail(r.b), markup=False, highlight=False)


def sections(report: GateReport) -> list[tuple[str, list[Row]]]:
    """The rows every form lists, by kind: new failures, fixed, failing on
    both, expunged (the empty kinds left out)."""
    kinds = ((f"New failures (fail on {report.b}, not on {report.a})", report.new_failures),
             (f"Fixed (fail on {report.a}, not on {report.b})", report.fixed if report.a != report.b else []),
             ("Failing on both", report.both if report.a != report.b else []),
             ("Expunged (known on this host profile)", report.expunged))
    return [(title, rows) for title, rows in kinds if rows]


def tail(record: dict[str, Any] | None) -> str:
    """The end of a test's output, as the reports show it."""
    return _tail(record)


def to_markdown(report: GateReport) -> str:
    out = ["## Gate: the kernel's KVM selftests", ""] + [f"- {line}" for line in summary_lines(report)] + [""]
    for title, rows in sections(report):
        out += [f"### {title}", "", "| tdp | test | A | B | note |", "| --- | --- | --- | --- | --- |"]
        out += [f"| {r.tdp} | {r.test} | {r.status_a} | {r.status_b} | {r.expunged or ''} |" for r in rows]
        out.append("")
    for r in report.new_failures:
        out += [f"#### {r.test} (tdp={r.tdp}) on {report.b}", "", "```", _tail(r.b), "```", ""]
    return "\n".join(out) + "\n"


def junit_suite(report: GateReport) -> str:
    """One <testsuite> (B's results; a new failure is a <failure>)."""
    new = {(r.tdp, r.test) for r in report.new_failures}
    cases = []
    for r in report.rows:
        name = quoteattr(f"gate.tdp-{r.tdp}.{r.test}")
        body = ""
        if (r.tdp, r.test) in new:
            body = f"<failure message={quoteattr(f'{r.status_b} on {report.b}, {r.status_a} on {report.a}')}>" \
                   f"{escape(_tail(r.b))}</failure>"
        elif r.expunged or r.status_b in ("skip", "not-built"):
            body = f"<skipped message={quoteattr(r.expunged or r.status_b)}/>"
        seconds = float(r.b.get("seconds") or 0) if r.b else 0.0
        cases.append(f'    <testcase classname="gate.{escape(report.b)}" name={name} time="{seconds:.3f}">{body}</testcase>')
    return (f'  <testsuite name={quoteattr(f"gate {report.b} vs {report.a}")} tests="{len(report.rows)}" '
            f'failures="{len(new)}">\n' + "\n".join(cases) + "\n  </testsuite>\n")


def to_junit(report: GateReport) -> str:
    return f'<?xml version="1.0" encoding="utf-8"?>\n<testsuites>\n{junit_suite(report)}</testsuites>\n'
