"""The nightly's trend page: change points and drifts first, with the two
nights around each and what differed in the kernels, then one plot per
headline metric, every series across the nights, change points marked.
One self-contained HTML file (plots inline)."""

from __future__ import annotations

import html
from collections import defaultdict
from typing import Any

from orchestrator.history.trends import Trend, kernel_changes
from orchestrator.report.figures import png_base64, pyplot


def findings(nights: list[dict[str, Any]], trends: list[Trend]) -> list[dict[str, Any]]:
    """Each change point and drift as plain data (the JSON output too)."""
    date = {n["run"]: n["night"] for n in nights}
    out: list[dict[str, Any]] = []
    for t in trends:
        for c in t.points:
            before, after = t.nights[c.index - 1], t.nights[c.index]
            out.append({"kind": "change point", "series": t.series, "metric": t.metric,
                        "between": [f"{date[before]} ({before})", f"{date[after]} ({after})"],
                        "median_before": c.before, "median_after": c.after, "change_pct": round(c.change_pct, 2),
                        "p_value": c.p_value, "kernels": kernel_changes(nights, before, after)})
        if t.drift:
            out.append({"kind": "drift", "series": t.series, "metric": t.metric,
                        "slope_pct_per_night": round(t.drift.slope_pct_per_night, 3), "p_value": t.drift.p_value,
                        "between": [f"{date[t.nights[0]]} ({t.nights[0]})", f"{date[t.nights[-1]]} ({t.nights[-1]})"]})
    return out


def to_text(nights: list[dict[str, Any]], found: list[dict[str, Any]]) -> str:
    lines = [f"history: {len(nights)} night(s), {nights[0]['night']} to {nights[-1]['night']}"]
    if not found:
        lines.append("no change point and no drift")
    for f in found:
        if f["kind"] == "drift":
            lines.append(f"drift {f['metric']} [{f['series']}]: {f['slope_pct_per_night']:+.2f}% a night, "
                         f"{f['between'][0]} to {f['between'][1]}")
        else:
            lines.append(f"change {f['metric']} [{f['series']}]: {f['change_pct']:+.1f}% between {f['between'][0]} "
                         f"and {f['between'][1]} (p={f['p_value']:.3g})")
            lines += [f"    {k}" for k in f["kernels"]]
    return "\n".join(lines) + "\n"


def _plot(metric: str, trends: list[Trend], labels: list[str]) -> str:
    fig, ax = pyplot().subplots(figsize=(9, 3.2))
    index = {run: i for i, run in enumerate(labels)}
    for t in trends:
        xs = [index[r] for r in t.nights]
        line, = ax.plot(xs, t.values, marker=".", label=t.series)
        for c in t.points:
            ax.axvline(xs[c.index] - 0.5, color=line.get_color(), linestyle="--", linewidth=1)
    ax.set_title(metric, fontsize=9)
    ax.set_xlabel("night")
    ax.legend(fontsize=6, loc="best")
    return png_base64(fig)


def to_html(nights: list[dict[str, Any]], trends: list[Trend]) -> str:
    found = findings(nights, trends)
    items = "".join(f"<li>{html.escape(line)}</li>" for line in to_text(nights, found).splitlines()[1:])
    by_metric: dict[str, list[Trend]] = defaultdict(list)
    for t in trends:
        by_metric[t.metric].append(t)
    labels = [n["run"] for n in nights]
    plots = "".join(f'<h3>{html.escape(m)}</h3><img alt="{html.escape(m)}" '
                    f'src="data:image/png;base64,{_plot(m, ts, labels)}"/>' for m, ts in sorted(by_metric.items()))
    rows = "".join(f"<tr><td>{i}</td><td>{html.escape(n['night'])}</td><td>{html.escape(n['run'])}</td>"
                   f"<td>{html.escape(str(n.get('accel')))}</td><td>{n.get('failed_cells', 0)}</td></tr>"
                   for i, n in enumerate(nights))
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>orchestrator history</title></head><body>"
            f"<h1>orchestrator history: {len(nights)} nights, {html.escape(nights[0]['night'])} to "
            f"{html.escape(nights[-1]['night'])}</h1><h2>Change points and drifts</h2><ul id='findings'>{items}</ul>"
            f"<h2>Trends</h2>{plots}<h2>Nights</h2><table><tr><th>#</th><th>night</th><th>run</th><th>accel</th>"
            f"<th>failed cells</th></tr>{rows}</table></body></html>\n")
