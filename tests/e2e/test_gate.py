"""The gate end to end: a kernel with a test-only patch that breaks KVM's
MMU (tests/data/gate/) fails KVM's own set_memory_region_test, the report
names it a new failure with the test's output, and `run` exits 7."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator.cli.main import main
from orchestrator.errors import EXIT_GATE

HERE = Path(__file__).resolve().parent


def test_a_broken_mmu_is_a_new_failure_and_run_fails(tmp_path: Path, capsys):
    rc = main(["run", str(HERE / "gate-broken.yaml"), "--results", str(tmp_path), "--only", "kernel=patched"])
    out = capsys.readouterr().out
    assert rc == EXIT_GATE, out
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    records = {json.loads(p.read_text())["gate"]["kernel"]: json.loads(p.read_text())
               for p in (folder / "gate").glob("*.json")}
    assert records["patched"]["status"] == "pass", records["patched"]["output"]
    broken = records["broken"]
    assert broken["status"] in ("fail", "timeout", "crash") and broken["gate"]["test"] == "set_memory_region_test"
    assert "new failures (fail on broken, not on patched): 1" in out
    assert "set_memory_region_test" in out and broken["output"].strip().splitlines()[-1] in out
    # the measured cell ran after the gate, and the gate is in the manifest
    (cell,) = list((folder / "cells").glob("*.json"))
    assert json.loads(cell.read_text())["status"] == "ok"
    assert "set_memory_region_test" in json.loads((folder / "manifest.json").read_text())["gate"]["tests"]
    # diff --fail-on gate: its own exit code
    assert main(["diff", "patched", "broken", "--results", str(tmp_path), "--fail-on", "gate"]) == EXIT_GATE
