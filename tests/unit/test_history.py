"""`orchestrator history`: a night's record from a run, and the trend of a
synthetic history with a known step (and a kernel change that night), a
known drift, and flat noisy series that must stay quiet."""

from __future__ import annotations

import json
import shutil

import numpy as np

from orchestrator.cli.main import main
from orchestrator.history import nights as history
from orchestrator.results.store import open_folder
from tests.conftest import DATA

RUN = DATA / "results/20261125T000000Z-synthetic-000001"
OFF = "kernel=patched tdp=off workload=file-mmap"
ON = "kernel=patched tdp=on workload=file-mmap"
BASE = "kernel=baseline tdp=off workload=file-mmap"


def test_a_nights_record_holds_medians_kernels_and_failures(tmp_path):
    rec = history.record(open_folder(RUN))
    assert rec["night"] == "2026-11-25" and rec["failed_cells"] == 1
    assert rec["series"][OFF]["kvm.pf_fixed"] == 5079.5
    assert rec["series"][BASE]["kvm.pf_fixed"] == 34133.5
    path = history.add(tmp_path, rec)
    assert json.loads(path.read_text())["run"] == RUN.name


def _nights(folder, n=30, step_at=14):
    rng = np.random.default_rng(1)
    for i in range(n):
        key = "k-new" if i >= step_at else "k-old"
        pf = 5000 * (1.15 if i >= step_at else 1.0) * (1 + rng.normal(0, 0.01))
        drifting = 800 * (1 + 0.006 * i) * (1 + rng.normal(0, 0.005))
        history.add(folder, {
            "format": 1, "night": f"2026-10-{i + 1:02d}", "run": f"202610{i + 1:02d}T021700Z-nightly-{i:06x}",
            "started": f"2026-10-{i + 1:02d}T02:17:00+00:00", "label": "nightly", "accel": "tcg",
            "kernels": {"patched": {"key": key, "patches": ["KVM: MMU: prefetch ptes when intercepted guest #PF"]},
                        "baseline": {"key": "b", "patches": []}},
            "failed_cells": 0,
            "series": {OFF: {"kvm.pf_fixed": pf, "kvm.exits": 9000 * (1 + rng.normal(0, 0.02))},
                       ON: {"kvm.pf_fixed": 11 + rng.normal(0, 0.3), "kvm.exits": drifting}}})


def test_show_finds_the_step_at_its_night_and_the_drift(tmp_path, capsys, test_project, monkeypatch):
    monkeypatch.chdir(test_project)
    _nights(tmp_path / "h")
    page = tmp_path / "trend.html"
    assert main(["history", "show", "--history", str(tmp_path / "h"), "--format", "json", "--output", str(page)]) == 0
    found = json.loads(capsys.readouterr().out)["findings"]
    steps = [f for f in found if f["kind"] == "change point"]
    assert [(f["series"], f["metric"]) for f in steps] == [(OFF, "kvm.pf_fixed")]
    assert steps[0]["between"][0].startswith("2026-10-14") and steps[0]["between"][1].startswith("2026-10-15")
    assert 12 < steps[0]["change_pct"] < 18
    assert steps[0]["kernels"] == ["patched: key k-old -> k-new"]
    drifts = [(f["series"], f["metric"]) for f in found if f["kind"] == "drift"]
    assert drifts == [(ON, "kvm.exits")]
    text = page.read_text()
    assert text.count("data:image/png;base64,") == 2 and "change kvm.pf_fixed" in text


def test_a_flat_history_reports_nothing(tmp_path, capsys, test_project, monkeypatch):
    monkeypatch.chdir(test_project)
    _nights(tmp_path / "h", step_at=99)
    assert main(["history", "show", "--history", str(tmp_path / "h")]) == 0
    out = capsys.readouterr().out
    assert "drift kvm.exits" in out and "change " not in out  # the drifting series only


def test_the_same_run_twice_is_refused(tmp_path, capsys, test_project, monkeypatch):
    monkeypatch.chdir(test_project)
    shutil.copytree(RUN, tmp_path / "results" / RUN.name)
    args = ["history", "add", RUN.name, "--results", str(tmp_path / "results"), "--history", str(tmp_path / "h")]
    assert main(args) == 0
    assert main(args) == 2
    assert "already in the history" in capsys.readouterr().err
