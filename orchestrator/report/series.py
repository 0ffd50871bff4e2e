"""A series walk's summary (orchestrator/series/summary.py) as a terminal
table, Markdown, JSON and an HTML page with one plot per headline metric
across the steps. One table per cell group: a row per step, the patch it
adds, and per metric the step's median with its change against the step
before (`*`: significant after adjustment and past the minimum effect)."""

from __future__ import annotations

import html
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from orchestrator.compare.diff import HEADLINE
from orchestrator.report.figures import png_base64, pyplot

STYLE = {"improvement": "green", "regression": "red"}


def _cell(point: dict[str, Any]) -> str:
    if point["median"] is None:
        return "-"
    text = f"{point['median']:.4g}"
    c = point["vs_previous"]
    if c and c["change_pct"] is not None:
        text += f" ({c['change_pct']:+.1f}%{'*' if c['significant'] else ''})"
    return text


def _steps(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["step"]: s for s in summary["steps"]}


def _unbuilt(summary: dict[str, Any]) -> list[str]:
    return [f"{s['step']} {s['subject']}: {s['status']}" + (f" ({s['detail'].splitlines()[0]})" if s["detail"] else "")
            for s in summary["steps"] if s["status"] != "built"]


def to_table(summary: dict[str, Any], console: Console) -> None:
    console.print(f"[bold]series[/] on {summary['base']} (run {summary['run']}): "
                  "each step's median, and its change against the step before; * significant")
    steps = _steps(summary)
    for group in summary["groups"]:
        t = Table(title=group["group"], title_justify="left")
        for col in ("step", "patch", *(m["metric"] for m in group["metrics"])):
            t.add_column(col, overflow="fold")
        for i, name in enumerate(p["step"] for p in group["metrics"][0]["points"]):
            cells = []
            for m in group["metrics"]:
                point = m["points"][i]
                style = STYLE.get((point["vs_previous"] or {}).get("verdict", ""), "")
                cells.append(f"[{style}]{_cell(point)}[/]" if style else _cell(point))
            t.add_row(name, steps[name]["subject"] or "(base)", *cells)
        console.print(t)
    for line in _unbuilt(summary):
        console.print(f"[red]{line}[/]", markup=True, highlight=False)
    if summary["failed_cells"]:
        console.print(f"[red]{len(summary['failed_cells'])} failed cell(s) left out[/]")


def to_markdown(summary: dict[str, Any]) -> str:
    steps = _steps(summary)
    lines = [f"## Series on {summary['base']}", "", f"Run `{summary['run']}`. Each step's median, and its "
             "change against the step before (**bold**: significant after adjustment and past the minimum effect).", ""]
    lines += [f"- `{s['step']}` {s['subject'] or '(base)'}" + (f" ({s['author']})" if s["author"] else "")
              + ("" if s["status"] == "built" else f": **{s['status']}**") for s in summary["steps"]]
    lines.append("")
    for group in summary["groups"]:
        metrics = [m["metric"] for m in group["metrics"]]
        lines += [f"### {group['group']}", "", "| step | patch | " + " | ".join(metrics) + " |",
                  "| --- | --- |" + " --- |" * len(metrics)]
        for i, name in enumerate(p["step"] for p in group["metrics"][0]["points"]):
            cells = []
            for m in group["metrics"]:
                point = m["points"][i]
                significant = (point["vs_previous"] or {}).get("significant")
                cells.append(f"**{_cell(point)}**" if significant else _cell(point))
            lines.append(f"| {name} | {steps[name]['subject'] or '(base)'} | " + " | ".join(cells) + " |")
        lines.append("")
    if summary["failed_cells"]:
        lines += [f"Failed cells left out: {', '.join(summary['failed_cells'])}", ""]
    return "\n".join(lines)


def to_json(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=2, sort_keys=True) + "\n"


def _plot(metric: str, groups: list[tuple[str, dict[str, Any]]]) -> str:
    fig, ax = pyplot().subplots(figsize=(7, 3))
    for label, m in groups:
        points = [p for p in m["points"] if p["median"] is not None]
        xs = [p["step"] for p in points]
        ax.plot(xs, [p["median"] for p in points], marker="o", label=label)
        for p in points:
            ax.scatter([p["step"]] * p["n"], p["samples"], s=8, alpha=0.4, color=ax.lines[-1].get_color())
    ax.set_title(f"{metric}: median and samples per step", fontsize=9)
    ax.legend(fontsize=7)
    return png_base64(fig)


def to_html(summary: dict[str, Any]) -> str:
    per_metric: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for group in summary["groups"]:
        for m in group["metrics"]:
            if m["metric"] in HEADLINE or m["metric"].startswith("workload."):
                per_metric.setdefault(m["metric"], []).append((group["group"], m))
    imgs = "".join(f'<h3>{html.escape(metric)}</h3><img alt="{html.escape(metric)}" '
                   f'src="data:image/png;base64,{_plot(metric, groups)}"/>' for metric, groups in per_metric.items())
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>orchestrator series</title></head>"
            f"<body><h1>orchestrator series on {html.escape(summary['base'])}</h1>{imgs}"
            f"<h2>Steps</h2><pre>{html.escape(to_markdown(summary))}</pre></body></html>\n")
