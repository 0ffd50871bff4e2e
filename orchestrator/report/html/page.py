"""The whole page: the verdict on the first screen, then provenance,
forest plots, distributions and tables, and the gate's section when the
run has one."""

from __future__ import annotations

from html import escape
from pathlib import Path

from orchestrator.compare.diff import Report
from orchestrator.report.html import plots, sections, tables
from orchestrator.report.html.assets import CSS, JS


def _gate(gate) -> str:
    if gate is None:
        return ""
    from orchestrator.gate import render as gate_render

    return (f'<section id="gate"><h2>Gate: the KVM selftests</h2>'
            f"<pre>{escape(gate_render.to_markdown(gate))}</pre></section>")


def _coverage(report: Report) -> str:
    """Where the patch's code ran: the opening line and a table per cell
    group (changed function, lines run/changed ×most-run, per kernel)."""
    if not report.coverage:
        return ""
    from orchestrator.report import coverage as cov
    from orchestrator.report.render import coverage_lines

    parts = ['<section id="coverage"><h2>Coverage: did the patch run?</h2>']
    parts += [f"<p>{escape(line)}</p>" for line in coverage_lines(report)]
    for name, header, rows in cov.tables(report.coverage, list(dict.fromkeys((report.a, report.b)))):
        head = "".join(f"<th>{escape(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{escape(x)}</td>" for x in r) + "</tr>" for r in rows)
        parts.append(f"<h3>{escape(name)}</h3><table class='coverage'><thead><tr>{head}</tr></thead>"
                     f"<tbody>{body}</tbody></table>")
    return "".join(parts) + "</section>"


def _runs(report: Report) -> list[str]:
    """Each run, its accelerator and why, host CPU and QEMU: the opening
    lines of every report, on the first screen."""
    return [line for line in report.provenance if line.startswith(("run ", "host CPU"))] or [f"run {r}" for r in report.run_ids]


def page(report: Report, gate=None, out_dir: Path | None = None) -> str:
    title = f"{report.b} against {report.a}"
    body = [f"<h1>orchestrator diff: {escape(title)}</h1>",
            f"<p class='note'>{escape(report.mode)}; {escape('; '.join(_runs(report)))}</p>",
            sections.verdict(report, gate), sections.provenance(report, out_dir)]
    if not report.aa_needs:
        body += [plots.forests(report), plots.distributions(report), tables.tables(report), _coverage(report)]
    body.append(_gate(gate))
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>orchestrator diff: {escape(title)}</title><style>{CSS}</style></head>"
            f"<body>{''.join(body)}<script>{JS}</script></body></html>\n")
