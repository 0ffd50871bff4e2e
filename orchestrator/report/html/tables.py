"""One sortable table per cell group: the Markdown's columns and numbers
(orchestrator.report.render), each numeric cell carrying its raw value
for sorting, the verdict coloured."""

from __future__ import annotations

import math
from html import escape

from orchestrator.compare.coverage import shown
from orchestrator.compare.diff import Report, Row
from orchestrator.report.render import _by_group, _cells, _columns

NUMERIC = (2, 3, 4, 5, 6, 7)  # medians, change, CI, p diff, p same


def _raw(row: Row) -> list[float | None]:
    """The numbers behind the shown cells (sort keys), by column."""
    c = row.comparison
    return [None, None, c.median_a, c.median_b, c.change_pct, c.ci_low_pct, c.p_value, c.p_same, None]


def _td(text: str, raw: float | None, col: int) -> str:
    if col not in NUMERIC:
        return f"<td>{escape(text)}</td>"
    v = "" if raw is None or math.isnan(raw) else f' data-v="{raw:.17g}"'
    return f'<td class="num"{v}>{escape(text)}</td>'


def _row(report: Report, row: Row) -> str:
    c = row.comparison
    cells = _cells(report, c)
    cells[-1] = shown(row, cells[-1])
    raw = _raw(row)
    tds = [_td(text, raw[i], i) for i, text in enumerate(cells[:-1])]
    why = f' title="{escape(c.why)}"' if c.why else ""
    tds.append(f'<td class="v-{c.verdict.replace(" ", "-")}"{why}>{escape(cells[-1])}</td>')
    return "<tr>" + "".join(tds) + "</tr>"


def tables(report: Report) -> str:
    if report.aa_needs:
        return ""
    head = "".join(f"<th>{escape(col)}</th>" for col in _columns(report))
    parts = ['<section id="tables"><h2>Tables</h2><p class="note">one per cell group; '
             "click a column head to sort; hover a verdict for what an undecided row lacks</p>"]
    for label, rows in _by_group(report).items():
        body = "".join(_row(report, r) for r in rows)
        parts.append(f"<h3>{escape(label)}</h3><table class='sortable results' data-group='{escape(label)}'>"
                     f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    return "".join(parts) + "</section>"
