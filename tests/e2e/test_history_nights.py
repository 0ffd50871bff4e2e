"""The nightly's history over three real local nights: the smoke
experiment (shadow paging, both kernels) run three times, each added as a
night; the trend page renders every headline series, and three nights of
the same kernels report no change point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.cli.main import main

HERE = Path(__file__).resolve().parent


@pytest.mark.nightly
def test_three_real_nights(tmp_path: Path, capsys):
    history = tmp_path / "history"
    for night in range(1, 4):
        results = tmp_path / f"night-{night}"
        assert main(["run", str(HERE / "smoke.yaml"), "--only", "tdp=off", "--results", str(results)]) == 0
        (run,) = results.iterdir()
        assert main(["history", "add", str(run), "--history", str(history), "--night", f"2026-12-0{night}"]) == 0
    capsys.readouterr()
    assert main(["history", "show", "--history", str(history), "--format", "json",
                 "--output", str(tmp_path / "trend.html")]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["nights"] == 3 and shown["findings"] == []
    page = (tmp_path / "trend.html").read_text()
    assert "kvm.pf_fixed" in page and page.count("<tr>") == 4  # a header and three nights
