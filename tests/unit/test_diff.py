"""`orchestrator diff` on a synthetic run (tests/data/results): golden files
for every output format, A/A, expectations and the exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from orchestrator.cli.main import main
from orchestrator.compare.diff import make_report
from orchestrator.errors import EXIT_EXPECTATION, EXIT_REGRESSION, EXIT_USER

DATA = Path(__file__).resolve().parent.parent / "data"
RESULTS = DATA / "results"
GOLDEN = DATA / "golden"


@pytest.mark.parametrize("fmt", ["table", "text", "md", "json", "junit"])
def test_golden(fmt, tmp_path):
    out = tmp_path / f"diff.{fmt}"
    assert main(["diff", "baseline", "patched", "--results", str(RESULTS), "--format", fmt, "--output", str(out)]) == 0
    assert out.read_text() == (GOLDEN / f"diff.{fmt}").read_text()


def test_golden_aa(tmp_path):
    out = tmp_path / "aa.md"
    assert main(["diff", "baseline", "baseline", "--results", str(RESULTS), "--format", "md", "--output", str(out)]) == 0
    assert out.read_text() == (GOLDEN / "aa.md").read_text()


def test_report_content():
    r = make_report(RESULTS, "baseline", "patched")
    verdicts = {(row.where["tdp"], row.comparison.metric): row.comparison.verdict for row in r.rows}
    assert verdicts[("off", "kvm.pf_fixed")] == "improvement"
    assert verdicts[("off", "kvm.exits")] == "improvement"
    assert verdicts[("on", "kvm.pf_fixed")] == "same"
    # under TCG, time is the emulator's: shown, no verdict, no expectation
    assert verdicts[("off", "workload.seconds")] == "not tested"
    assert [e.status for e in r.expectations] == ["met", "met", "not applicable"]
    assert r.failed_cells == ["r007.tdp-off.file-mmap.baseline"]


def test_aa_has_no_significant_rows():
    r = make_report(RESULTS, "patched", "patched")
    assert r.mode == "a/a" and not any(row.comparison.significant for row in r.rows)
    assert r.false_positive_rate() == {"kvm": (0, 4)} and r.expectations == []


def test_timing_gives_time_metrics_verdicts_and_every_report_opens_with_provenance(tmp_path):
    r = make_report(RESULTS, "baseline", "patched", timing=True)
    verdicts = {(row.where["tdp"], row.comparison.metric): row.comparison.verdict for row in r.rows}
    assert verdicts[("off", "workload.seconds")] == "improvement"
    for fmt in ("table", "md", "json", "junit", "html"):
        out = tmp_path / f"r.{fmt}"
        assert main(["diff", "baseline", "patched", "--results", str(RESULTS), "--format", fmt, "--output", str(out)]) == 0
        text = out.read_text()
        for needed in ("accelerator tcg", "Synthetic CPU", "QEMU 7.2.0", "b0b0b0b0b0b0",
                       "KVM: MMU: prefetch ptes when intercepted guest #PF", "emulated"):
            assert needed in text, (fmt, needed)


def _copy_run(tmp_path: Path, reps: set[int], manifest_edit=None) -> Path:
    src = RESULTS / "20261125T000000Z-synthetic-000001"
    dest = tmp_path / "results" / src.name
    (dest / "cells").mkdir(parents=True)
    manifest = json.loads((src / "manifest.json").read_text())
    if manifest_edit:
        manifest_edit(manifest)
    (dest / "manifest.json").write_text(json.dumps(manifest))
    for f in (src / "cells").glob("*.json"):
        if int(f.name[1:4]) in reps:
            (dest / "cells" / f.name).write_text(f.read_text())
    return dest.parent


def test_aa_with_too_few_repetitions_says_how_many_it_needs(tmp_path, capsys):
    results = _copy_run(tmp_path, {1, 2, 3})
    assert main(["diff", "baseline", "baseline", "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "needs 6 ok repetitions in as many boots" in " ".join(out.split())
    assert "undecided" not in out and "┏" not in out
    data = json.loads((lambda: (main(["diff", "baseline", "baseline", "--results", str(results), "--format", "json"]),
                                capsys.readouterr().out)[1])())
    assert data["aa_needs_repetitions"] == 6 and data["rows"] == []


def test_a_twin_of_the_same_kernel_key_is_aa_without_expectations(tmp_path):
    def twin(m):
        m["artifacts"]["kernels"]["patched"]["key"] = m["artifacts"]["kernels"]["baseline"]["key"]
    results = _copy_run(tmp_path, {1, 2, 3}, twin)
    r = make_report(results, "baseline", "patched")
    assert r.mode == "a/a" and r.expectations == [] and r.rows and r.aa_needs is None
    assert set(r.false_positive_rate()) == {"kvm"}


def test_run_accepts_a_label(tmp_path):
    r = make_report(RESULTS, "baseline", "patched", run_ref="synthetic")
    assert r.run_ids == ["20261125T000000Z-synthetic-000001"]


def test_two_runs_show_where_they_differ(tmp_path):
    def other(m):
        m["accel"]["accel"] = "kvm"
        m["label"] = "other"
        m["artifacts"]["kernels"]["patched"]["key"] = "9" * 24
    results = _copy_run(tmp_path, {1, 2, 3, 4, 5, 6}, other)
    src = RESULTS / "20261125T000000Z-synthetic-000001"
    twin = results / "20261126T000000Z-synthetic-000002"
    twin.mkdir()
    (twin / "manifest.json").write_text((src / "manifest.json").read_text())
    shutil.copytree(src / "cells", twin / "cells")
    r = make_report(results, "other", "synthetic")
    assert r.mode == "runs"
    assert any(d.startswith("accelerator: kvm / tcg") for d in r.differences)
    assert any(d.startswith("kernel patched key: 999999999999 / c1c1c1c1c1c1") for d in r.differences)


def test_html_is_self_contained_with_plots(tmp_path):
    out = tmp_path / "r.html"
    assert main(["diff", "baseline", "patched", "--results", str(RESULTS), "--format", "html", "--output", str(out)]) == 0
    text = out.read_text()
    assert text.count("<img") == 4 and "data:image/png;base64," in text and "http" not in text


def test_fail_on_regression_and_expectation():
    args = ["diff", "patched", "baseline", "--results", str(RESULTS), "--format", "json", "--output", "/dev/null"]
    assert main([*args, "--fail-on", "regression"]) == EXIT_REGRESSION
    assert main([*args, "--fail-on", "expectation"]) == EXIT_EXPECTATION
    assert main(["diff", "baseline", "patched", "--results", str(RESULTS), "--format", "json",
                 "--output", "/dev/null", "--fail-on", "regression", "--fail-on", "expectation"]) == 0


def test_unknown_sides_are_user_errors(capsys):
    assert main(["diff", "nosuch", "patched", "--results", str(RESULTS)]) == EXIT_USER
    assert main(["diff", "a", "b", "--results", str(RESULTS / "nowhere")]) == EXIT_USER


def test_foreign_folder_is_refused(tmp_path):
    run = tmp_path / "20261125T000000Z-x-1"
    (run / "cells").mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({"hello": "world"}))
    assert main(["diff", "baseline", "patched", "--results", str(tmp_path), "--run", str(run)]) == EXIT_USER


def test_per_unit_metrics_for_workloads_that_report_their_size(tmp_path):
    results = _copy_run(tmp_path, {1, 2, 3, 4, 5, 6})
    for f in (next(results.iterdir()) / "cells").glob("*.json"):
        rec = json.loads(f.read_text())
        rec["metrics"]["workload.mib"] = 32
        f.write_text(json.dumps(rec))
    r = make_report(results, "baseline", "patched", everything=True)
    rows = {(row.where["tdp"], row.comparison.metric): row for row in r.rows}
    per_mib = rows[("off", "kvm.pf_fixed_per_mib")]
    assert per_mib.a[0] == pytest.approx(34133 / 32) and per_mib.comparison.verdict == "improvement"


def test_l0_cpu_time_of_l1s_qemu():
    import os

    from orchestrator.experiment.cell import qemu_cpu_s

    class Me:
        class process:
            pid = os.getpid()

    used = qemu_cpu_s(Me())
    assert used is not None and 0 < used < 10_000
    assert qemu_cpu_s(object()) is None


def test_text_fits_72_columns_with_the_verdict_first(tmp_path):
    out = tmp_path / "diff.text"
    assert main(["diff", "baseline", "patched", "--results", str(RESULTS), "--format", "text", "--output", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert max(len(line) for line in lines) <= 72
    assert lines.index("Verdict:") < next(i for i, line in enumerate(lines) if line.startswith("host CPU"))
    assert any(line.startswith("  met       fewer faults with shadow paging") for line in lines)
    assert any(line.startswith("  kvm.pf_fixed") and line.endswith("-85.1% *") for line in lines)


def test_a_side_that_is_neither_kernel_nor_run_says_so(tmp_path, capsys):
    import shutil
    run = RESULTS / "20261125T000000Z-synthetic-000001"
    shutil.copytree(run, tmp_path / run.name)
    assert main(["diff", "baseline", "nosuch", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "'nosuch' is not a kernel of the latest run 20261125T000000Z-synthetic-000001" in err
    assert "(it has baseline, patched)" in err
    assert main(["diff", "monday", "tuesday", "--results", str(tmp_path)]) == 2
    assert "'monday' is neither a kernel of the latest run" in capsys.readouterr().err
