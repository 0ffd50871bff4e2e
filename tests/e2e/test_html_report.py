"""The HTML report of a real run, loaded in headless Chromium: the small
prefetch experiment with shadow paging, three repetitions a kernel (the
fewest that give a verdict), rendered into its run folder. It must render
with no console message, open with the verdict (the expectation about
fixed faults met), and carry a forest plot and the sortable tables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orchestrator.cli.main import main
from tests import browser

HERE = Path(__file__).resolve().parent


@pytest.mark.skipif(browser.chromium() is None, reason="no chromium on PATH: ./setup.sh installs Debian's `chromium`")
def test_a_real_runs_html_report_renders_in_chromium(tmp_path):
    args = ["--results", str(tmp_path), "--only", "tdp=off", "--repeat", "3", "--no-gate"]
    assert main(["run", str(HERE / "smoke.yaml"), *args]) == 0
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    page = run / "report.html"
    assert main(["diff", "baseline", "patched", "--results", str(tmp_path), "--format", "html",
                 "--output", str(page)]) == 0
    loaded = browser.load(page, tmp_path / "report.png")
    print(f"screenshot: {loaded.screenshot}")
    assert browser.problems(loaded) == []
    verdict = loaded.dom[loaded.dom.index('id="verdict"'):loaded.dom.index('id="provenance"')]
    # the config's first expectation: fewer fixed faults with shadow paging, by 20% or more
    assert re.search(r"shadow paging takes fewer fixed faults with prefetch</td><td><span class=\"s-met\">met", verdict)
    assert "kvm.pf_fixed" in verdict and "(improvement)" in verdict
    assert '<figure class="forest" data-family="kvm"' in loaded.dom
    assert loaded.dom.count('<table class="sortable results"') == 1  # one cell group: tdp=off file-mmap
