"""Warm start with knobs: a template keyed by one knob of each kind that
changes a boot counts the fixed faults a fresh boot with the same knobs
counts, and both record every knob in force (a live one too, written
after the restore)."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator.cli.main import main

HERE = Path(__file__).resolve().parent
KNOBS = {"tdp", "kvm.tdp_mmu", "thp.enabled", "ksm.pages_to_scan", "l2.memory_mib", "l2.prealloc", "l2.cmdline"}


def _one(results: Path, start: str) -> dict:
    rc = main(["run", str(HERE / "knobs.yaml"), "--results", str(results), "--start", start, "--only", "kernel=patched"])
    assert rc == 0
    (folder,) = [p for p in results.iterdir() if p.is_dir()]
    (path,) = (folder / "cells").glob("*.json")
    return json.loads(path.read_text())


def test_restored_cell_counts_what_a_fresh_boot_counts(tmp_path: Path):
    warm, cold = _one(tmp_path / "warm", "snapshot"), _one(tmp_path / "cold", "boot")
    assert warm["cell"]["id"] == cold["cell"]["id"] == "r001.tdp-on.anon-touch.kvm.tdp_mmu-N.patched"
    assert warm["notes"]["start"] == "snapshot" and "restore_s" not in cold["timings"]
    for r in (warm, cold):
        assert r["status"] == "ok", r["failure"]
        assert set(r["notes"]["knobs_in_force"]) == KNOBS, r["notes"]
        assert r["notes"]["knobs_in_force"]["kvm.tdp_mmu"].endswith("tdp_mmu=N")
        assert r["notes"]["knobs_in_force"]["ksm.pages_to_scan"] == "/sys/kernel/mm/ksm/pages_to_scan=200"
    a, b = warm["metrics"]["kvm.pf_fixed"], cold["metrics"]["kvm.pf_fixed"]
    assert abs(a - b) <= 0.02 * b, (a, b)


def test_repetitions_spread_over_template_boots(tmp_path: Path):
    """3 repetitions over --templates 2: repetitions 1 and 3 restore one
    saved L1, repetition 2 another. The boot ids come from L1's own
    /proc/sys/kernel/random/boot_id, so they show real boots and restores."""
    rc = main(["run", str(HERE / "knobs.yaml"), "--results", str(tmp_path), "--only", "kernel=patched",
               "--repeat", "3", "--templates", "2"])
    assert rc == 0
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    records = {r["cell"]["rep"]: r for r in (json.loads(p.read_text()) for p in (folder / "cells").glob("*.json"))}
    assert sorted(records) == ["1", "2", "3"]  # coordinates are recorded as text
    rec = [records[str(i)] for i in (1, 2, 3)]
    assert all(r["status"] == "ok" for r in rec), [r["failure"] for r in rec]
    ids = [r["boot"]["id"] for r in rec]
    assert all(len(i) == 36 for i in ids), ids  # a UUID, as the kernel writes it
    assert ids[0] == ids[2] != ids[1]
    assert [r["boot"]["template"] for r in rec] == [1, 2, 1]
    assert rec[0]["notes"]["machines"] == rec[2]["notes"]["machines"] != rec[1]["notes"]["machines"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["boots"] == {"templates": 2, "planned": 3, "per_group": 2}
