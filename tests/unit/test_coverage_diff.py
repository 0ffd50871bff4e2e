"""`diff` with a coverage pass: rows of cell groups where the patch's code
never ran say "not exercised" in every format, and `exercised: true`
expectations need the code to have run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from orchestrator.cli.main import main
from orchestrator.compare.diff import make_report
from orchestrator.config.schema import Expectation
from orchestrator.compare.expect import check
from orchestrator.coverage import session

RESULTS = Path(__file__).resolve().parent.parent / "data" / "results"
RUN = "20261125T000000Z-synthetic-000001"


FN = "arch/x86/kvm/mmu/paging_tmpl.h:FNAME(pte_prefetch)"


def _group(where: dict[str, str], ran: dict[str, int]) -> dict:
    return {"where": where, "kernels": {k: {
        "functions": {FN: {"lines": 10, "ran": n, "max_count": 2532 * n}} if k == "patched" else {},
        "lines": [], "changed_lines_with_code": 10, "ran": n, "executions": n * 100} for k, n in ran.items()}}


def coverage(keys: dict[str, str], off_ran: int = 7) -> dict:
    return {
        "schema": 1, "run": "20261126T000000Z-e2e-smoke-coverage-000001", "experiment": "synthetic",
        "kernels": {k: {"recipe": k, "measured_key": v, "coverage_key": "c" * 24, "objects": []} for k, v in keys.items()},
        "files": [], "changed": {},
        "groups": {"tdp=off workload=file-mmap": _group({"tdp": "off", "workload": "file-mmap"},
                                                         {"baseline": 0, "patched": off_ran}),
                   "tdp=on workload=file-mmap": _group({"tdp": "on", "workload": "file-mmap"},
                                                        {"baseline": 0, "patched": 0})},
    }


@pytest.fixture
def results(tmp_path) -> Path:
    out = tmp_path / "results"
    shutil.copytree(RESULTS, out)
    return out


def _keys(results: Path) -> dict[str, str]:
    manifest = json.loads((results / RUN / "manifest.json").read_text())
    return {v: k["key"] for v, k in manifest["artifacts"]["kernels"].items()}


def test_without_coverage_nothing_is_marked(results):
    report = make_report(results, "baseline", "patched")
    assert report.coverage_run is None and all(r.exercised is None for r in report.rows)


def test_rows_where_the_patch_never_ran_are_not_exercised(results, tmp_path):
    # a separate coverage run whose measured keys match the run's kernels
    cov = results / session.SUBDIR / "20261126T000000Z-e2e-smoke-coverage-000001"
    cov.mkdir(parents=True)
    (cov / "manifest.json").write_text(json.dumps({"schema": 2, "config": "x.yaml", "started": "2026-11-26T00:00:00+00:00"}))
    (cov / session.FILE).write_text(json.dumps(coverage(_keys(results))))
    report = make_report(results, "baseline", "patched")
    seen = {r.where["tdp"]: r.exercised for r in report.rows}
    assert seen == {"off": True, "on": False}
    out = tmp_path / "d.text"
    assert main(["diff", "baseline", "patched", "--results", str(results), "--format", "text", "--output", str(out)]) == 0
    text = out.read_text()
    assert "ran in 1 of 2 cell groups; not exercised in: tdp=on workload=file-mmap" in " ".join(text.split())
    assert any(line.startswith("  kvm.pf_fixed") and line.endswith(" -") for line in text.splitlines())
    assert "FNAME(pte_prefetch): patched 7/10 ×17,724" in text and max(map(len, text.splitlines())) <= 72
    md = tmp_path / "d.md"
    assert main(["diff", "baseline", "patched", "--results", str(results), "--format", "md", "--output", str(md)]) == 0
    assert "| not exercised |" in md.read_text()
    assert f"| `{FN}` |  | 0/10 ×0 |" in md.read_text() and "### Coverage" in md.read_text()
    # other kernels (another measured key): not this run's coverage
    (cov / session.FILE).write_text(json.dumps(coverage({"baseline": "x" * 24, "patched": "y" * 24})))
    assert make_report(results, "baseline", "patched").coverage_run is None


def test_a_run_s_own_coverage_comes_first(results):
    (results / RUN / session.FILE).write_text(json.dumps(coverage({"baseline": "z" * 24, "patched": "z" * 24}, 0)))
    report = make_report(results, "baseline", "patched")
    assert {r.exercised for r in report.rows} == {False}


def test_exercised_expectation(results):
    (results / RUN / session.FILE).write_text(json.dumps(coverage(_keys(results))))
    rows = make_report(results, "baseline", "patched").rows
    off = Expectation(metric="kvm.pf_fixed", change="decrease", when={"tdp": "off"}, min_effect_pct=20.0, exercised=True)
    assert check(off, rows).status == "met"
    on = Expectation(metric="kvm.pf_fixed", change="none", when={"tdp": "on"}, exercised=True)
    result = check(on, rows)
    assert result.status == "not met" and "never ran" in result.detail
    unknown = [r.__class__(**{**r.__dict__, "exercised": None}) for r in rows]
    assert check(off, unknown).status == "undecided"


def test_a_boolean_when_matches_cells_as_they_spell_it(results):
    """`when: {l2.prealloc: true}` is the cell coordinate `true`, not
    Python's `True` (such an expectation used to match no row)."""
    rows = make_report(results, "baseline", "patched").rows
    flagged = [r.__class__(**{**r.__dict__, "group": (*r.group, ("l2.prealloc", "true"))}) for r in rows]
    e = Expectation(metric="kvm.pf_fixed", change="decrease", when={"tdp": "off", "l2.prealloc": True},
                    min_effect_pct=20.0)
    assert check(e, flagged).status == "met"


def test_coverage_tables_fit_80_columns():
    from rich.console import Console

    from orchestrator.cli.coverage import print_tables
    console = Console(width=80, record=True)
    print_tables(coverage({"baseline": "a" * 24, "patched": "b" * 24}), console)
    out = console.export_text()
    assert "paging_tmpl.h:FNAME(pte_prefetch)" in out and "7/10 ×17,724" in out
    assert "NOT EXERCISED: no changed line ran" in out and max(map(len, out.splitlines())) <= 80


def test_show_prints_a_stored_coverage_with_its_lines(tmp_path, capsys):
    data = coverage({"baseline": "a" * 24, "patched": "b" * 24})
    data["groups"]["tdp=off workload=file-mmap"]["kernels"]["patched"]["lines"] = [
        {"file": "arch/x86/kvm/mmu/mmu.c", "line": 2898, "function": "direct_pte_prefetch_many", "count": 14735,
         "text": "mmu_set_spte(vcpu, slot, start, access, gfn,"}]
    (tmp_path / session.FILE).write_text(json.dumps(data))
    assert main(["coverage", "--show", str(tmp_path), "--lines"]) == 0
    out = capsys.readouterr().out
    assert "mmu.c:2898" in out and "14,735" in out and "mmu_set_spte(vcpu" in out
    (tmp_path / "bad.json").write_text("{}")
    assert main(["coverage", "--show", str(tmp_path / "bad.json")]) == 2


def test_the_html_report_has_the_coverage(results, tmp_path):
    (results / RUN / session.FILE).write_text(json.dumps(coverage(_keys(results))))
    out = tmp_path / "d.html"
    assert main(["diff", "baseline", "patched", "--results", str(results), "--format", "html", "--output", str(out)]) == 0
    page = out.read_text()
    assert '<section id="coverage">' in page and "paging_tmpl.h:FNAME(pte_prefetch)" in page
    assert ">not exercised<" in page  # the tdp=on rows of the tables
