"""The page's figures (matplotlib, inline PNG): a forest plot per metric
family, each row a cell group's change with its 95% interval, coloured by
verdict, over a band of ± the row's minimum effect; and per cell group the
samples of both kernels side by side, each metric on its own scale. Every
number drawn is the comparison's (orchestrator.compare)."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from html import escape

from orchestrator.compare.diff import Report, Row, _label
from orchestrator.compare.metrics import family
from orchestrator.report.figures import png_base64, pyplot
from orchestrator.report.html.assets import COLOURS

SPAN = 10.0  # a family whose ratios span this factor or more is drawn on a log scale


def _families(report: Report, plotted: bool = True) -> dict[str, list[Row]]:
    """Rows by metric family; plotted: those with a change (else those
    without one, which a caption lists)."""
    out: dict[str, list[Row]] = defaultdict(list)
    for row in sorted(report.rows, key=lambda r: (r.comparison.metric, _label(r.group))):
        if (row.comparison.change_pct is not None) == plotted:
            out[family(row.comparison.metric)].append(row)
    return dict(sorted(out.items()))


def _unplotted(rows: list[Row]) -> str:
    if not rows:
        return ""
    return ("; not drawn, no change to show: " + "; ".join(
        f"{r.comparison.metric} {_label(r.group)} ({r.comparison.why or r.comparison.verdict})" for r in rows))


def log_scale(rows: list[Row]) -> bool:
    """Ratios (1 + change) spanning an order of magnitude or more, all of
    them positive (a relative change below -100% has no logarithm)."""
    values = [v for r in rows for v in (r.comparison.change_pct, r.comparison.ci_low_pct, r.comparison.ci_high_pct)
              if v is not None]
    ratios = [1 + v / 100 for v in values]
    return bool(ratios) and min(ratios) > 0 and max(ratios) / min(ratios) >= SPAN


def _x(pct: float, log: bool) -> float:
    return 1 + pct / 100 if log else pct


def _limits(rows: list[Row], log: bool) -> tuple[float, float]:
    """The x range: every change and interval, no change, and ± the
    median row's minimum effect (a band far wider than the data, as a
    minimum effect of 200% on a count near 1 gives, is cut off, not drawn
    to scale at the cost of every other row)."""
    values = [v for r in rows for v in (r.comparison.change_pct, r.comparison.ci_low_pct, r.comparison.ci_high_pct)
              if v is not None]
    m = statistics.median(r.comparison.min_effect_pct for r in rows)
    values += [0.0, m] + ([-m] if not log or m < 100 else [])
    lo, hi = min(values), max(values)
    if log:
        return (1 + lo / 100) / 1.15, (1 + hi / 100) * 1.15
    pad = (hi - lo) * 0.06 or 1.0
    return lo - pad, hi + pad


def _band(ax, i: int, m: float, log: bool, limits: tuple[float, float]) -> None:
    lo, hi = (1 - m / 100, 1 + m / 100) if log else (-m, m)
    lo, hi = max(lo, limits[0]), min(hi, limits[1])
    ax.add_patch(pyplot().Rectangle((lo, i - 0.42), hi - lo, 0.84, color="#d0d7de", alpha=0.55, lw=0, zorder=0))


def _forest_axes(ax, rows: list[Row], log: bool) -> None:
    limits = _limits(rows, log)
    for i, row in enumerate(rows):
        c = row.comparison
        _band(ax, i, c.min_effect_pct, log, limits)
        colour = COLOURS[c.verdict]
        if c.ci_low_pct is not None:
            ax.plot([_x(c.ci_low_pct, log), _x(c.ci_high_pct, log)], [i, i], color=colour, lw=2, zorder=2)
        ax.plot([_x(c.change_pct, log)], [i], "o", color=colour, ms=5, zorder=3)
        ax.text(1.01, i, f"{c.change_pct:+.1f}% {c.verdict}", transform=ax.get_yaxis_transform(),
                va="center", fontsize=7, color=colour)
    ax.axvline(_x(0.0, log), color="#57606a", lw=0.8, zorder=1)
    if log:
        from matplotlib.ticker import LogLocator

        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(pyplot().FuncFormatter(lambda v, _: f"{(v - 1) * 100:+.0f}%"))
        ax.xaxis.set_minor_formatter(pyplot().NullFormatter())
    ax.set_xlim(*limits)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{r.comparison.metric}  {_label(r.group)}" for r in rows], fontsize=7)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_xlabel("change of B against A, 95% CI" + (" (log scale)" if log else ""), fontsize=8)


def forest_png(rows: list[Row], log: bool) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.24 * len(rows) + 0.9))
    _forest_axes(ax, rows, log)
    shown = dict.fromkeys(r.comparison.verdict for r in rows)
    handles = [plt.Line2D([], [], color=COLOURS[v], marker="o", lw=2, label=v) for v in shown]
    handles.append(plt.Rectangle((0, 0), 1, 1, color="#d0d7de", label="± minimum effect"))
    ax.legend(handles=handles, fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(handles),
              frameon=False)
    return png_base64(fig, dpi=100, tight=True)


def forests(report: Report) -> str:
    parts = ['<section id="forests"><h2>Changes, per metric family</h2>']
    missing = _families(report, plotted=False)
    for fam, rows in _families(report).items():
        log = log_scale(rows)
        parts.append(f'<figure class="forest" data-family="{escape(fam)}" data-log="{int(log)}">'
                     f'<img alt="forest plot: {escape(fam)}" src="data:image/png;base64,{forest_png(rows, log)}"/>'
                     f"<figcaption>{escape(fam)}: {len(rows)} rows; a dot is the change of the geometric mean, "
                     "the bar its 95% interval, the grey band ± the row's minimum effect"
                     f"{'; log scale' if log else ''}{escape(_unplotted(missing.get(fam, [])))}</figcaption></figure>")
    return "".join(parts) + "</section>"


def _strip(ax, report: Report, row: Row) -> None:
    c = row.comparison
    samples = [list(row.a), list(row.b)]
    ax.boxplot(samples, positions=[0, 1], widths=0.5, showfliers=False,
               medianprops={"color": "#57606a"}, boxprops={"color": "#8c959f"}, whiskerprops={"color": "#8c959f"},
               capprops={"color": "#8c959f"})
    for x, (values, colour) in enumerate(zip(samples, ("tab:blue", "tab:orange"))):
        offsets = [(-0.12 + 0.24 * k / max(len(values) - 1, 1)) if len(values) > 1 else 0.0 for k in range(len(values))]
        ax.scatter([x + o for o in offsets], values, color=colour, s=14, zorder=3)
    ax.set_xticks([0, 1])
    ax.set_xticklabels([report.a[:14], report.b[:14]] if report.a != report.b else ["odd reps", "even reps"], fontsize=7)
    ax.set_title(c.metric, fontsize=8, color=COLOURS[c.verdict])
    ax.tick_params(axis="y", labelsize=7)
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 5))


def strips_png(report: Report, rows: list[Row]) -> str:
    plt = pyplot()
    cols = min(4, len(rows))
    lines = math.ceil(len(rows) / cols)
    fig, axes = plt.subplots(lines, cols, figsize=(2.5 * cols, 2.2 * lines), squeeze=False)
    for ax, row in zip(axes.flat, rows):
        _strip(ax, report, row)
    for ax in list(axes.flat)[len(rows):]:
        ax.set_visible(False)
    return png_base64(fig, dpi=100)


def distributions(report: Report) -> str:
    groups: dict[str, list[Row]] = defaultdict(list)
    for row in report.rows:
        if row.a and row.b:
            groups[_label(row.group)].append(row)
    parts = ['<section id="distributions"><h2>Distributions</h2><p class="note">per cell group, each '
             "kernel's samples (dots) over a box of their quartiles; each metric on its own scale, its title "
             "coloured by its verdict</p>"]
    for label, rows in groups.items():
        parts.append(f'<figure class="distribution" data-group="{escape(label)}"><figcaption>{escape(label)}'
                     f'</figcaption><img alt="samples: {escape(label)}" src="data:image/png;base64,'
                     f'{strips_png(report, rows)}"/></figure>')
    return "".join(parts) + "</section>"
