"""The HTML report of `orchestrator diff` (tests/data/results, a synthetic
run), loaded in headless Chromium as a reader would: it renders with no
console message, the verdict comes first, the forest plots and the tables
are there once the page's script ran, and sorting works. The screenshot
is kept in the test's tmp_path (its path is printed)."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from orchestrator.cli.main import main
from orchestrator.compare.diff import make_report
from orchestrator.report.html.plots import log_scale
from tests import browser

RESULTS = Path(__file__).resolve().parents[1] / "data" / "results"
needs_chromium = pytest.mark.skipif(browser.chromium() is None,
                                    reason="no chromium on PATH: ./setup.sh installs Debian's `chromium`")


def _page(tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / "report.html"
    assert main(["diff", "baseline", "patched", "--results", str(RESULTS), "--format", "html",
                 "--output", str(out), *extra]) == 0
    return out


def test_html_is_self_contained_and_opens_with_the_verdict(tmp_path):
    text = _page(tmp_path).read_text()
    order = [text.index(f'id="{s}"') for s in ("verdict", "provenance", "forests", "distributions", "tables")]
    assert order == sorted(order)
    assert "http:" not in text and "https:" not in text and "<script src" not in text
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(images) == 4  # forests: kvm, time; distributions: two cell groups
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    verdict = text[text.index('id="verdict"'):text.index('id="provenance"')]
    assert verdict.count('class="s-met"') == 2 and "not applicable" in verdict
    assert "kvm.pf_fixed" in verdict and "-85.1% [-85.1%, -85.1%] (improvement)" in verdict


def test_html_tables_carry_the_markdowns_numbers(tmp_path):
    text = _page(tmp_path).read_text()
    md = (tmp_path / "r.md")
    assert main(["diff", "baseline", "patched", "--results", str(RESULTS), "--format", "md", "--output", str(md)]) == 0
    for line in md.read_text().splitlines():
        if line.startswith("| kvm.") or line.startswith("| workload."):
            for cell in line.strip("|").split(" | ")[:-1]:
                assert f">{cell.strip()}</td>" in text, cell
    tables = text[text.index('id="tables"'):]
    assert tables.count('class="v-improvement"') == 2 and tables.count('class="v-same"') == 2


def test_the_provenance_links_failed_cells_to_their_logs(tmp_path):
    text = _page(tmp_path).read_text()
    run = "20261125T000000Z-synthetic-000001"
    for needed in ("tcg", "auto: the host CPU has no vmx/svm flag", "Synthetic CPU @ 2.00GHz", "7.2.0",
                   "b0b0b0b0b0b0", "KVM: MMU: prefetch ptes when intercepted guest #PF", run):
        assert needed in text, needed
    href = re.search(r'<a href="([^"]+)">r007.tdp-off.file-mmap.baseline</a>', text).group(1)
    assert (tmp_path / href).resolve() == (RESULTS / run / "logs" / "r007.tdp-off.file-mmap.baseline").resolve()
    assert "panic L2: Kernel panic" in text


def test_forest_scale_is_log_only_across_orders_of_magnitude():
    rows = make_report(RESULTS, "baseline", "patched").rows
    kvm = [r for r in rows if r.comparison.metric.startswith("kvm.")]
    assert not log_scale(kvm)  # -85% .. +0.2%: ratios 0.15 .. 1.01, under 10x
    up = make_report(RESULTS, "patched", "baseline").rows  # +570%: ratios 1 .. 6.7, with CIs ~6.8
    assert not log_scale([r for r in up if r.comparison.metric == "kvm.pf_fixed"])
    assert log_scale([r for r in up if r.comparison.metric.startswith("kvm.")] + [
        r for r in rows if r.comparison.metric == "kvm.pf_fixed"])  # 0.15 .. 6.7: 45x


@needs_chromium
def test_chromium_renders_the_report(tmp_path):
    page = _page(tmp_path)
    loaded = browser.load(page, tmp_path / "report.png")
    print(f"screenshot: {loaded.screenshot}")
    assert browser.problems(loaded) == []
    assert loaded.dom.count('<figure class="forest"') == 2
    assert loaded.dom.count('data-ready="1"') == 2


@needs_chromium
def test_chromium_sorts_a_table_by_a_column(tmp_path):
    page = _page(tmp_path)
    loaded = browser.load(page, tmp_path / "sorted.png", fragment="#sort=4")  # the change column
    assert browser.problems(loaded) == []
    for table in re.findall(r'<table class="sortable results".*?</table>', loaded.dom, re.S):
        changes = [float(v) for v in re.findall(r'<tr>(?:<td[^>]*>[^<]*</td>){4}<td class="num" data-v="([^"]+)"',
                                                table)]
        assert len(changes) == 3 and changes == sorted(changes)
    assert 'aria-sort="ascending"' in loaded.dom


@needs_chromium
def test_the_chromium_check_fails_a_broken_page(tmp_path):
    page = _page(tmp_path)
    broken = tmp_path / "broken.html"
    # a script error before the page's own: the tables are never marked ready
    broken.write_text(page.read_text().replace("<script>", "<script>nosuch();</script><script>nosuch();", 1))
    bad = browser.problems(browser.load(broken, tmp_path / "broken.png"))
    assert any("Uncaught ReferenceError: nosuch is not defined" in b for b in bad)


def test_the_gates_result_is_in_the_verdict(tmp_path):
    from orchestrator.gate.compare import GateReport, Row
    from orchestrator.report import render

    report = make_report(RESULTS, "baseline", "patched")
    gate = GateReport("baseline", "patched", ["tcg-svm"], rows=[
        Row("off", "mmu_stress_test", {"status": "pass"}, {"status": "fail", "output": "ASSERT failed here"}),
        Row("on", "dirty_log_test", {"status": "pass"}, {"status": "pass"})])
    text = render.to_html(report, gate, tmp_path)
    verdict = text[text.index('id="verdict"'):text.index('id="provenance"')]
    assert 'class="bad"' in verdict and "gate: FAILED, 1 new failure(s) on patched: mmu_stress_test (tdp off)" in verdict
    assert 'id="gate"' in text and "ASSERT failed here" in text
    md = render.to_markdown(report, gate)
    assert md.index("gate: FAILED") < md.index("Mode: variants")
    passed = GateReport("baseline", "patched", ["tcg-svm"], rows=[gate.rows[1]])
    assert "gate: passed, no new failure on patched against baseline" in render.to_html(report, passed, tmp_path)


def test_aa_pages_say_what_they_lack_or_their_false_positive_rate(tmp_path):
    from orchestrator.report import render

    full = render.to_html(make_report(RESULTS, "baseline", "baseline"), None, tmp_path)
    assert "A/A false-positive rate, kvm: 0/4 rows different (0%)" in full and "odd reps" in full
    assert full.count('<table class=\'sortable results\'') == 2
    # three repetitions: A/A of one side needs six; the page says so, and has no plots
    short = tmp_path / "short"
    (short / RESULTS.name).mkdir(parents=True)
    src = next(RESULTS.iterdir())
    run = short / RESULTS.name / src.name
    (run / "cells").mkdir(parents=True)
    (run / "manifest.json").write_text((src / "manifest.json").read_text())
    for f in (src / "cells").glob("r00[123]*.json"):
        (run / "cells" / f.name).write_text(f.read_text())
    page = render.to_html(make_report(short / RESULTS.name, "baseline", "baseline"), None, tmp_path)
    assert "needs 6 ok repetitions" in page and 'class="open"' in page and "<img" not in page


def test_two_runs_page_lists_both_runs_and_where_they_differ(tmp_path):
    import shutil

    from orchestrator.report import render
    from tests.unit.test_diff import _copy_run

    def other(m):
        m["label"] = "other"
        m["host"]["cpu"] = "Other CPU"
    results = _copy_run(tmp_path, {1, 2, 3, 4, 5, 6, 7}, other)
    src = RESULTS / "20261125T000000Z-synthetic-000001"
    shutil.copytree(src, results / "20261126T000000Z-synthetic-000002")
    page = render.to_html(make_report(results, "other", "synthetic"), None, tmp_path)
    runs = page[page.index('id="provenance"'):page.index('id="forests"')]
    assert "Other CPU" in runs and "Synthetic CPU @ 2.00GHz" in runs and "the two runs differ in: host CPU" in runs
    assert runs.count("r007.tdp-off.file-mmap.baseline</a>") == 2  # failed in each run, each with its own logs
