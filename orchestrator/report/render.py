"""A diff report in every output form: terminal table (rich), Markdown,
JSON, JUnit XML and a self-contained HTML page with plots (matplotlib)."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from typing import Any
from xml.etree import ElementTree as ET

from rich.console import Console
from rich.table import Table

from orchestrator.compare.coverage import shown
from orchestrator.report import coverage as coverage_report
from orchestrator.compare.diff import Report, Row, _label
from orchestrator.compare.metrics import labelled, unit_of
from orchestrator.compare.stats import MIN_SAMPLES
from orchestrator.report.narrow import COVERAGE_NOTE, NOTE, WIDE, group_table
from orchestrator.report.verdict import change_text, gate_line, largest_changes

VERDICT_STYLE = {"improvement": "green", "regression": "red", "same": "", "undecided": "yellow", "not tested": "dim"}


def verdict_text(c) -> str:
    if c.verdict == "not tested":
        return "emulated: no verdict"
    return f"different: {c.verdict}" if c.outcome == "different" else c.verdict


def opening(report: Report) -> list[str]:
    """What every report says first: where the numbers come from, and
    whether time was the hardware's (see the README, "Timing")."""
    lines = list(report.provenance)
    if report.differences:
        lines.append("the two runs differ in: " + "; ".join(report.differences))
    lines += coverage_lines(report)
    if report.emulated:
        lines.append("time metrics are emulated (TCG, or an accelerator not recorded): " + (
            "--timing gives them verdicts anyway" if report.timing else
            "shown without a verdict, and no expectation is checked on them (--timing to ask)"))
    return lines


def coverage_lines(report: Report) -> list[str]:
    """Where the patch's code ran, when a coverage pass is known."""
    if not report.coverage_run:
        return []
    seen = {_label(r.group): r.exercised for r in report.rows}
    idle = sorted(g for g, e in seen.items() if e is False)
    ran = sum(1 for e in seen.values() if e)
    line = f"coverage ({report.coverage_run}): the patch's changed code ran in {ran} of {len(seen)} cell groups"
    return [line + (f"; not exercised in: {'; '.join(idle)}" if idle else "")]


def aa_message(report: Report) -> str:
    return (f"A/A of {report.a} splits each cell group's L1 boots (one per repetition by default) into two "
            f"halves, and {MIN_SAMPLES} samples a half are needed: this run needs {report.aa_needs} ok repetitions "
            f"in as many boots per group (add them with `orchestrator run CONFIG --repeat {report.aa_needs} "
            "--resume RUN`: added repetitions boot anew), or compare an A/A twin (two variants of the same kernel).")


def fp_lines(report: Report) -> list[str]:
    return [f"A/A false-positive rate, {fam}: {bad}/{n} rows different ({bad / n:.0%})"
            for fam, (bad, n) in report.false_positive_rate().items() if n]


def _num(x: float | None, fmt: str = "{:.4g}") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return fmt.format(x)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:+.1f}%"


def _ci(c) -> str:
    return "-" if c.ci_low_pct is None else f"[{c.ci_low_pct:+.1f}%, {c.ci_high_pct:+.1f}%]"


def _by_group(report: Report) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = defaultdict(list)
    for row in report.rows:
        out[_label(row.group)].append(row)
    return out


def as_dict(report: Report) -> dict[str, Any]:
    return {
        "a": report.a, "b": report.b, "mode": report.mode, "runs": report.run_ids,
        "provenance": report.provenance, "differences": report.differences,
        "time_emulated": report.emulated, "timing": report.timing,
        **({"aa_needs_repetitions": report.aa_needs, "message": aa_message(report)} if report.aa_needs else {}),
        "rows": [{
            "where": row.where, "metric": c.metric, "unit": unit_of(c.metric), "better": c.better, "n": [c.n_a, c.n_b],
            "median": [c.median_a, c.median_b], "iqr": [c.iqr_a, c.iqr_b], "change_pct": c.change_pct,
            "ci_pct": [c.ci_low_pct, c.ci_high_pct], "p_value": c.p_value, "p_same": c.p_same,
            "min_effect_pct": c.min_effect_pct, "outcome": c.outcome, "verdict": c.verdict, "why": c.why,
            "test": c.test, "exercised": row.exercised,
        } for row in report.rows for c in [row.comparison]],
        "expectations": [e.__dict__ for e in report.expectations],
        "failed_cells": report.failed_cells,
        **({"false_positive_rate": {k: {"different": d, "rows": n, "rate": d / n if n else None}
                                    for k, (d, n) in report.false_positive_rate().items()}}
           if report.mode == "a/a" and not report.aa_needs else {}),
        **({"patches": report.patches} if report.patches else {}),
        **({"coverage": {"run": report.coverage_run, "groups": {
            name: {k: {f: v for f, v in fig.get("functions", {}).items()} if "failed" not in fig else fig
                   for k, fig in g["kernels"].items() if k in (report.a, report.b)}
            for name, g in report.coverage["groups"].items()}}} if report.coverage else {}),
    }


def to_json(report: Report) -> str:
    def clean(v: Any) -> Any:
        if isinstance(v, float) and math.isnan(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v
    return json.dumps(clean(as_dict(report)), indent=2, sort_keys=True) + "\n"


def patch_lines(report: Report) -> list[tuple[str, list[str]]]:
    """Each side's patches as a reviewer names them: subject, author, then
    the file and its hash, so the numbers are tied to exact content."""
    out = []
    for side, patches in report.patches.items():
        out.append((side, [
            f"{p.get('subject') or p['file']}" + (f" ({p['author']})" if p.get("author") else "")
            + f" [{p['file']} sha256:{p['sha256'][:12]}]" for p in patches]))
    return out


def _cells(report: Report, c) -> list[str]:
    return [labelled(c.metric), f"{c.n_a}/{c.n_b}", _num(c.median_a), _num(c.median_b), _pct(c.change_pct), _ci(c),
            _num(c.p_value, "{:.3g}"), _num(c.p_same, "{:.3g}"), verdict_text(c)]


def _columns(report: Report) -> list[str]:
    # A/A of one side: its odd repetitions against its even ones
    a, b = (f"{report.a} (odd reps)", f"{report.b} (even reps)") if report.a == report.b else (report.a, report.b)
    return ["metric", "n", f"median {a}", f"median {b}", "change (geo. mean)", "95% CI", "p diff (BH)",
            "p same (BH)", "verdict"]


def to_table(report: Report, console: Console) -> None:
    console.print(f"[bold]{report.b}[/] against [bold]{report.a}[/] ({report.mode}; run {', '.join(report.run_ids)})")
    for line in opening(report):
        console.print(line, markup=False, highlight=False)
    for side, lines in patch_lines(report):
        console.print(f"patches of [bold]{side}[/]:", markup=True)
        for i, line in enumerate(lines, 1):
            console.print(f"  {i}. {line}", markup=False, highlight=False)
    if report.aa_needs:
        console.print(aa_message(report), markup=False, highlight=False)
        return
    narrow = console.width < WIDE
    for label, rows in _by_group(report).items():
        if narrow:
            console.print(group_table(report, label, rows, VERDICT_STYLE))
            continue
        t = Table(title=label, title_justify="left")
        for col in _columns(report):
            t.add_column(col)
        for row in rows:
            cells = _cells(report, row.comparison)
            cells[-1] = shown(row, cells[-1])
            style = VERDICT_STYLE[row.comparison.verdict]
            t.add_row(*cells[:-1], f"[{style}]{cells[-1]}[/]" if style else cells[-1])
        console.print(t)
    if narrow:
        console.print(NOTE, markup=False, highlight=False, style="dim")
        if report.coverage:
            console.print(COVERAGE_NOTE, markup=False, highlight=False, style="dim")
    _expectations_table(report, console)


def _expectations_table(report: Report, console: Console) -> None:
    if report.expectations:
        t = Table(title="expectations", title_justify="left")
        for col in ("expectation", "status", "detail"):
            t.add_column(col, overflow="fold")
        for e in report.expectations:
            color = {"met": "green", "not met": "red"}.get(e.status, "yellow")
            t.add_row(e.name, f"[{color}]{e.status}[/]", e.detail)
        console.print(t)
    elif report.mode == "a/a":
        console.print("A/A: the config's expectations are not checked (they are about A against B)")
    if report.mode == "a/a":
        for line in fp_lines(report):
            console.print(line)
    if report.failed_cells:
        console.print(f"[red]{len(report.failed_cells)} failed cell(s) left out:[/] {', '.join(report.failed_cells)}")


def _md_verdict(report: Report, gate=None) -> list[str]:
    """The Markdown's first section: each expectation, the largest decided
    changes (or the A/A false-positive rate), the gate's result."""
    lines = ["### Verdict", ""]
    if report.expectations:
        lines += ["| expectation | status | detail |", "| --- | --- | --- |"]
        lines += [f"| {e.name} | {e.status} | {e.detail} |" for e in report.expectations]
        lines.append("")
    if report.mode == "a/a":
        lines += ["The config's expectations are not checked: they are about A against B.", ""]
        lines += [f"- {line}" for line in fp_lines(report)]
    else:
        changes = largest_changes(report)
        lines += ["Largest decided changes:", ""] if changes else []
        lines += [f"- `{r.comparison.metric}` {change_text(r)} where {_label(r.group)}" for r in changes]
        if not changes and not report.expectations:
            lines.append("No expectation, and no metric decided different.")
    if gate is not None:
        lines += ["", f"- {gate_line(gate)}"]
    return lines + [""]


def to_markdown(report: Report, gate=None) -> str:
    """The PR or job summary: the verdict first, then where the numbers
    come from, then a table per cell group."""
    lines = [f"## `{report.b}` against `{report.a}`", ""]
    if not report.aa_needs:
        lines += _md_verdict(report, gate)
    lines += [f"Mode: {report.mode}; run(s): {', '.join(f'`{r}`' for r in report.run_ids)}", ""]
    lines += [f"- {line}" for line in opening(report)] + [""]
    for side, plines in patch_lines(report):
        lines += [f"Patches of `{side}`:", ""] + [f"{i}. {line}" for i, line in enumerate(plines, 1)] + [""]
    if report.aa_needs:
        return "\n".join(lines + [aa_message(report), ""])
    cols = _columns(report)
    for label, rows in _by_group(report).items():
        lines += [f"### {label}", "", "| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
        for row in rows:
            cells = _cells(report, row.comparison)
            cells[-1] = shown(row, cells[-1])
            if row.comparison.outcome == "different":
                cells[-1] = f"**{cells[-1]}**"
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += coverage_report.markdown(report.coverage, list(dict.fromkeys((report.a, report.b))))
    if report.failed_cells:
        lines += [f"Failed cells left out: {', '.join(report.failed_cells)}", ""]
    return "\n".join(lines)


def to_junit(report: Report) -> str:
    suite = ET.Element("testsuite", name=f"orchestrator diff {report.a} {report.b}")
    props = ET.SubElement(suite, "properties")
    for i, line in enumerate(opening(report), 1):
        ET.SubElement(props, "property", name=f"provenance {i}", value=line)
    if report.aa_needs:
        ET.SubElement(props, "property", name="a/a", value=aa_message(report))
    if report.patches:
        for side, plines in patch_lines(report):
            for i, line in enumerate(plines, 1):
                ET.SubElement(props, "property", name=f"patch {side} {i}", value=line)
    cases = 0
    failures = 0
    for e in report.expectations:
        case = ET.SubElement(suite, "testcase", classname="expectations", name=e.name)
        cases += 1
        if e.status in ("not met", "undecided"):
            ET.SubElement(case, "failure", message=f"{e.status}: {e.detail}").text = e.detail
            failures += 1
        elif e.status == "not applicable":
            ET.SubElement(case, "skipped", message=e.detail)
    for row in report.rows:
        c = row.comparison
        case = ET.SubElement(suite, "testcase", classname=f"regression.{_label(row.group)}", name=c.metric)
        cases += 1
        if c.verdict == "regression":
            msg = f"{c.metric} {_pct(c.change_pct)} (p={_num(c.p_value, '{:.3g}')}), {c.better} is better"
            ET.SubElement(case, "failure", message=msg).text = msg
            failures += 1
    suite.set("tests", str(cases))
    suite.set("failures", str(failures))
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def to_html(report: Report, gate=None, out_dir=None) -> str:
    """The self-contained HTML page (orchestrator.report.html); out_dir is
    where it will be written, for its links to failed cells' logs."""
    from orchestrator.report.html.page import page

    return page(report, gate, out_dir)
