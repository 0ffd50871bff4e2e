"""The page's first two sections: the verdict (expectations, the largest
decided changes, the gate) and the provenance (runs, kernels, patches,
failed cells with links to their logs)."""

from __future__ import annotations

import os
from html import escape
from pathlib import Path

from orchestrator.compare.diff import FailedCell, Report, _label
from orchestrator.report.render import aa_message, fp_lines, opening, patch_lines
from orchestrator.report.verdict import change_text, gate_line, largest_changes


def _cls(text: str) -> str:
    return text.replace(" ", "-")


def _table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    """A plain table; the cells are HTML already."""
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def _mood(report: Report, gate) -> str:
    """The verdict box's colour: bad on a regression, an unmet expectation
    or a new gate failure; open while anything is undecided; else good."""
    if (report.regressions or any(e.status == "not met" for e in report.expectations)
            or (gate is not None and gate.new_failures)):
        return "bad"
    if report.aa_needs or any(e.status == "undecided" for e in report.expectations):
        return "open"
    return "good"


def verdict(report: Report, gate=None) -> str:
    parts = [f'<section id="verdict" class="{_mood(report, gate)}"><h2>Verdict</h2>']
    if report.aa_needs:
        parts.append(f"<p>{escape(aa_message(report))}</p>")
    if report.expectations:
        parts.append(_table(["expectation", "status", "detail"], [
            [escape(e.name), f'<span class="s-{_cls(e.status)}">{escape(e.status)}</span>', escape(e.detail)]
            for e in report.expectations], "expectations"))
    if report.mode == "a/a":
        parts.append("<p>A/A: the config's expectations are not checked (they are about A against B).</p>")
        parts += [f"<p>{escape(line)}</p>" for line in fp_lines(report)]
    changes = largest_changes(report)
    if changes:
        parts.append("<h3>Largest decided changes</h3><ul class='changes'>" + "".join(
            f'<li><code>{escape(r.comparison.metric)}</code> <span class="v-{_cls(r.comparison.verdict)}">'
            f"{escape(change_text(r))}</span> where {escape(_label(r.group))}</li>" for r in changes) + "</ul>")
    elif not report.expectations and not report.aa_needs:
        parts.append("<p>No expectation, and no metric decided different.</p>")
    if gate is not None:
        parts.append(f'<p class="gate">{escape(gate_line(gate))}</p>')
    return "".join(parts) + "</section>"


def _href(cell: FailedCell, out_dir: Path | None) -> str:
    """The cell's log folder relative to the page when it is written into
    a folder, else relative to the run folder."""
    if out_dir is None:
        return os.path.relpath(cell.logs, cell.run_folder)
    return os.path.relpath(cell.logs.resolve(), out_dir.resolve())


def _kernels(report: Report) -> str:
    variants = None if report.mode == "runs" else {report.a, report.b}
    rows = []
    for info in report.runs:
        for v, k in info.kernels.items():
            if variants is None or v in variants:
                patches = "<ol>" + "".join(f"<li>{escape(p)}</li>" for p in k.patches) + "</ol>" if k.patches else "none"
                rows.append([escape(v), escape(info.run_id), escape(k.recipe), f'<span class="mono">{escape(k.key[:12])}</span>',
                             patches])
    return _table(["kernel", "run", "recipe", "key", "patches"], rows, "kernels")


def provenance(report: Report, out_dir: Path | None = None) -> str:
    parts = ['<section id="provenance"><h2>Provenance</h2>', _table(
        ["run", "accelerator", "why", "host CPU", "QEMU"],
        [[f'<span class="mono">{escape(i.run_id)}</span>', escape(i.accel), escape(i.accel_reason),
          escape(i.host_cpu), escape(i.qemu_version)] for i in report.runs], "runs"), _kernels(report)]
    notes = [line for line in opening(report) if line.startswith(("the two runs differ", "time metrics"))]
    parts += [f'<p class="note">{escape(line)}</p>' for line in notes]
    for side, lines in patch_lines(report):
        parts.append(f"<details><summary>patches of {escape(side)}: authors, files, hashes</summary><ol>"
                     + "".join(f"<li>{escape(line)}</li>" for line in lines) + "</ol></details>")
    if report.failed:
        where = "this page" if out_dir is not None else "the run folder"
        parts.append(f"<h3>Failed cells, left out ({len(report.failed)})</h3>"
                     f"<p class='note'>links to each cell's logs, relative to {where}</p><ul class='failed'>" + "".join(
                         f'<li><a href="{escape(_href(c, out_dir))}/">{escape(c.cell_id)}</a> '
                         f"(run <span class='mono'>{escape(c.run_id)}</span>): {escape(c.failure)}</li>"
                         for c in report.failed) + "</ul>")
    return "".join(parts) + "</section>"
