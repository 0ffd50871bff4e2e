"""`orchestrator diff`'s terminal tables at 80 columns: nothing past the
edge, no metric name, number or verdict split, one line per row."""

from __future__ import annotations

import io
import re
from pathlib import Path

from rich.console import Console

from orchestrator.compare.diff import make_report
from orchestrator.report import render
from orchestrator.report.narrow import short

RESULTS = Path(__file__).resolve().parents[1] / "data" / "results"


def _render(width: int, a: str = "baseline", b: str = "patched") -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    render.to_table(make_report(RESULTS, a, b), console)
    return console.export_text()


def test_diff_tables_fit_80_columns_one_line_a_row():
    text = _render(80)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    rows = [line for line in lines if re.match(r"(kvm|workload)\.\S+ +\d+/\d+ ", line)]
    assert len(rows) == 6  # three metrics in each of two cell groups, each on one line
    off = next(line for line in rows if line.startswith("kvm.pf_fixed ") and "improvement" in line)
    assert off.split() == ["kvm.pf_fixed", "6/6", "34.1k", "5080", "-85.1%", "[-85.1%,", "-85.1%]", "improvement"]
    assert "no verdict" in text and "p values: 120 columns or more" in text
    for whole in ("shadow", "paging", "r007.tdp-off.file-mmap.baseline", "sha256:bbbbbbbbbbbb"):
        assert whole in text, whole


def test_wide_terminals_keep_every_column():
    text = _render(160)
    assert "p diff (BH)" in text and "3.413e+04" in text and "different: improvement" in text


def test_short_figures():
    assert short(38887) == "38.9k" and short(1234567) == "1.23M" and short(0.03115) == "0.03115"
    assert short(float("nan")) == "-" and short(-45678) == "-45.7k"


def test_text_with_a_gate_fits_72_columns_and_gives_its_result_first():
    from orchestrator.gate.compare import GateReport, Row
    from orchestrator.report.text import gate_text, to_text

    long = "x" * 150
    gate = GateReport("baseline", "patched", ["tcg-svm"], rows=[
        Row("off", "mmu_stress_test", {"status": "pass"}, {"status": "fail", "output": f"ASSERT {long}\nend"}),
        Row("on", "known_test", {"status": "fail"}, {"status": "fail"}, expunged="TCG lacks it " * 10)])
    text = to_text(make_report(RESULTS, "baseline", "patched"), gate) + gate_text(gate)
    assert max(len(line) for line in text.splitlines()) <= 72
    assert text.index("gate: FAILED, 1 new failure(s) on patched") < text.index("run 20261125T000000Z")
    assert "mmu_stress_test (tdp off) on patched, the end of its output:" in text and "  end" in text
    assert "known_test (tdp on): fail / fail; TCG lacks it" in text


def test_diff_on_a_terminal_takes_its_width(monkeypatch, capsys):
    import sys

    from orchestrator.cli.diff import table_width
    from orchestrator.cli.main import main

    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert table_width() == 80 and table_width(to_file=True) == 160
    assert main(["diff", "baseline", "patched", "--results", str(RESULTS)]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80 and "p values: 120 columns or more" in out
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    assert table_width() == 160  # a pipe or a file: every column
