"""`orchestrator diff` on a synthetic run (tests/data/results): golden files
for every output format, A/A, expectations and the exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.cli.main import main
from orchestrator.compare.diff import make_report
from orchestrator.errors import EXIT_EXPECTATION, EXIT_REGRESSION, EXIT_USER

DATA = Path(__file__).resolve().parent.parent / "data"
RESULTS = DATA / "results"
GOLDEN = DATA / "golden"


@pytest.mark.parametrize("fmt", ["table", "md", "json", "junit"])
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
    assert verdicts[("on", "kvm.pf_fixed")] == "no change"
    assert [e.status for e in r.expectations] == ["met", "met", "not applicable"]
    assert r.failed_cells == ["r007.tdp-off.file-mmap.baseline"]


def test_aa_has_no_significant_rows():
    r = make_report(RESULTS, "patched", "patched")
    assert r.mode == "a/a" and not any(row.comparison.significant for row in r.rows)
    assert set(r.false_positive_rate().values()) == {0.0}


def test_html_is_self_contained_with_plots(tmp_path):
    out = tmp_path / "r.html"
    assert main(["diff", "baseline", "patched", "--results", str(RESULTS), "--format", "html", "--output", str(out)]) == 0
    text = out.read_text()
    assert text.count("<img") == 3 and "data:image/png;base64," in text and "http" not in text


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
