"""The page's inline style and script (no CDN: the report works offline).

The script makes every `table.sortable` sortable by a click on a column
head (numbers by their `data-v`, text otherwise; a second click reverses),
sorts every table by column N when the address ends in `#sort=N` (a link
to a sorted view, and how the Chromium test checks sorting), and marks
each table `data-ready` and the body `data-tables-ready` when done."""

from __future__ import annotations

# verdict colours, shared with the plots (orchestrator.report.html.plots)
COLOURS = {"improvement": "#1a7f37", "regression": "#cf222e", "same": "#0969da", "undecided": "#bf8700",
           "not tested": "#8c959f"}

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1180px;padding:0 16px 48px;color:#1f2328}
h1{font-size:22px;margin:18px 0 8px}h2{font-size:18px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
section{margin-bottom:28px}
#verdict{border:2px solid #d0d7de;border-radius:8px;padding:4px 16px 12px}
#verdict.bad{border-color:#cf222e}#verdict.good{border-color:#1a7f37}#verdict.open{border-color:#bf8700}
table{border-collapse:collapse;margin:6px 0 14px;font-size:13px}
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th[aria-sort=ascending]::after{content:" \\25B2"}
table.sortable th[aria-sort=descending]::after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.v-improvement,.s-met{color:#fff;background:#1a7f37}
.v-regression,.s-not-met{color:#fff;background:#cf222e}
.v-same{color:#fff;background:#0969da}
.v-undecided,.s-undecided{background:#f5d36b}
.v-not-tested,.s-not-applicable{color:#57606a;background:#eaeef2}
code,.mono{font-family:ui-monospace,monospace;font-size:12.5px}
figure{margin:8px 0 18px}figure img{max-width:100%;height:auto}
figcaption{color:#57606a;font-size:12.5px}
.note{color:#57606a}
"""

JS = """
(function () {
  function key(td) {
    var v = td.getAttribute('data-v');
    return v === null ? td.textContent.trim().toLowerCase() : parseFloat(v);
  }
  function cmp(a, b) {
    var an = typeof a === 'number' && !isNaN(a), bn = typeof b === 'number' && !isNaN(b);
    if (an && bn) { return a - b; }
    if (an !== bn) { return an ? -1 : 1; }
    return String(a).localeCompare(String(b));
  }
  function sortBy(table, col, descending) {
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r, s) {
      var d = cmp(key(r.cells[col]), key(s.cells[col]));
      return descending ? -d : d;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      if (i === col) { th.setAttribute('aria-sort', descending ? 'descending' : 'ascending'); }
      else { th.removeAttribute('aria-sort'); }
    });
  }
  var tables = document.querySelectorAll('table.sortable');
  var asked = /#sort=(\\d+)/.exec(window.location.hash);
  Array.prototype.forEach.call(tables, function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.addEventListener('click', function () {
        sortBy(table, i, th.getAttribute('aria-sort') === 'ascending');
      });
    });
    if (asked && +asked[1] < table.tHead.rows[0].cells.length) { sortBy(table, +asked[1], false); }
    table.setAttribute('data-ready', '1');
  });
  document.body.setAttribute('data-tables-ready', String(tables.length));
})();
"""
