"""Shard merging on synthetic shards, and the nightly workflow's shape."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from orchestrator.cli.main import main
from orchestrator.config import load_experiment
from orchestrator.errors import EXIT_USER
from orchestrator.plan import make_plan
from orchestrator.results.store import Run

REPO = Path(__file__).resolve().parents[2]
SYNTH = REPO / "tests" / "data" / "results" / "20261125T000000Z-synthetic-000001"


def _shards(tmp_path: Path, n: int = 2) -> list[Path]:
    """Split the synthetic run into n shard runs, as `run --shard i/n` would."""
    cells = sorted((SYNTH / "cells").glob("*.json"))
    out = []
    for i in range(1, n + 1):
        folder = tmp_path / "shards" / str(i) / f"20261125T00000{i}Z-synthetic-00000{i}"
        (folder / "cells").mkdir(parents=True)
        mine = [c for pos, c in enumerate(cells) if pos % n == i - 1]
        for c in mine:
            shutil.copy(c, folder / "cells" / c.name)
            (folder / "logs" / c.stem).mkdir(parents=True)
            (folder / "logs" / c.stem / "l1-console.log").write_text("console\n")
        manifest = json.loads((SYNTH / "manifest.json").read_text())
        manifest["plan"] = {"cells": [c.stem for c in mine], "total": len(cells), "shard": [i, n]}
        (folder / "manifest.json").write_text(json.dumps(manifest))
        out.append(folder)
    return out


def test_merge_gives_every_cell_once(tmp_path):
    shards = _shards(tmp_path, 3)
    assert main(["merge", *map(str, shards), "--results", str(tmp_path / "merged")]) == 0
    (merged,) = (tmp_path / "merged").iterdir()
    run = Run(merged)
    ids = sorted(r.cell.id for r in run.records())
    assert ids == sorted(p.stem for p in (SYNTH / "cells").glob("*.json"))
    assert (merged / "logs" / ids[0] / "l1-console.log").is_file()
    assert len(run.manifest_data()["merged_from"]) == 3
    # and diff reads the merged run like any other
    assert main(["diff", "baseline", "patched", "--results", str(tmp_path / "merged"), "--format", "json",
                 "--output", str(tmp_path / "d.json")]) == 0


@pytest.mark.parametrize("field, value", [("tool_version", "9.9"), ("resolved_config", {"other": 1})])
def test_mismatched_shards_are_refused(tmp_path, field, value):
    shards = _shards(tmp_path)
    manifest = json.loads((shards[1] / "manifest.json").read_text())
    manifest[field] = value
    (shards[1] / "manifest.json").write_text(json.dumps(manifest))
    assert main(["merge", *map(str, shards), "--results", str(tmp_path / "merged")]) == EXIT_USER


def test_same_shard_twice_is_refused(tmp_path):
    shards = _shards(tmp_path)
    assert main(["merge", str(shards[0]), str(shards[0]), "--results", str(tmp_path / "m")]) == EXIT_USER


def test_nightly_config_has_both_kernels_both_modes_and_an_aa_pair():
    exp = load_experiment(REPO / "ci" / "nightly.yaml").experiment
    assert set(exp.matrix.tdp) == {"on", "off"}
    recipes = [k.recipe for k in exp.kernels.values()]
    assert recipes.count("baseline") == 2 and "patched" in recipes
    plan = make_plan(exp)
    shards = [make_plan(exp, shard=(i, 4)) for i in range(1, 5)]
    assert sorted(c.index for s in shards for c in s.cells) == [c.index for c in plan.cells]


def test_workflow_is_valid_and_shards_match_the_matrix():
    path = REPO / ".github" / "workflows" / "nightly.yml"
    r = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    wf = yaml.safe_load(path.read_text())
    triggers = wf[True] if True in wf else wf["on"]  # YAML 1.1 reads `on` as true
    assert "schedule" in triggers and "workflow_dispatch" in triggers
    shard = wf["jobs"]["shard"]
    assert len(shard["strategy"]["matrix"]["shard"]) == int(wf["env"]["SHARDS"])
    steps = " ".join(str(s.get("run", "")) for s in shard["steps"])
    assert "orchestrator run ci/nightly.yaml" in steps and "--shard" in steps
    merge_steps = " ".join(str(s.get("run", "")) for s in wf["jobs"]["merge"]["steps"])
    assert "orchestrator merge" in merge_steps and "--fail-on expectation" in merge_steps
    assert "GITHUB_STEP_SUMMARY" in merge_steps
    assert any("cache" in str(s.get("uses", "")) for s in shard["steps"])
    legacy = " ".join(str(s.get("run", "")) for s in wf["jobs"]["legacy-mmu"]["steps"])
    assert "orchestrator run configs/nested-legacy-mmu.yaml" in legacy and "--fail-on expectation" in legacy
    perf = " ".join(str(s.get("run", "")) for s in wf["jobs"]["selftest-perf"]["steps"])
    assert "orchestrator run configs/selftest-perf.yaml" in perf and "GITHUB_STEP_SUMMARY" in perf
    assert "configs/selftest-perf.yaml" in (REPO / "ci" / "nightly-local.sh").read_text()
