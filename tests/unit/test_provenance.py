"""Provenance in every record: --resume and merge refuse to mix
accelerators, host CPUs, QEMU versions or artifact keys (exit 2, naming the
difference), and each new record carries what it was measured with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.cli.main import main
from orchestrator.config import load_experiment
from orchestrator.errors import EXIT_USER
from orchestrator.experiment import runner
from orchestrator.machine.host import AccelChoice
from orchestrator.plan import make_plan
from orchestrator.results.store import Store
from tests.unit.test_merge_and_nightly import _shards

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "nested-ept-off.yaml"


def _artifacts(kernel_key: str = "k" * 24) -> dict:
    return {"kernels": {v: {"recipe": v, "key": f"{kernel_key}-{v}", "patches": []} for v in ("baseline", "patched")},
            "l2_kernel": {"recipe": "upstream", "key": "l2k"}, "payload": "pay",
            "images": {"l1": {"recipe": "l1", "key": "i1"}, "l2": {"recipe": "l2", "key": "i2"}}}


@pytest.fixture
def faked(monkeypatch, tmp_path):
    """A host whose accelerator and builds the test chooses; nothing boots."""
    state = {"accel": "tcg", "key": "k" * 24}
    monkeypatch.setattr(runner, "prepare", lambda loaded, progress, coverage=False: (
        _artifacts(state["key"]), {"baseline": tmp_path / "bz", "patched": tmp_path / "bz"}, (tmp_path, tmp_path)))
    monkeypatch.setattr(runner.host, "choose_accel", lambda *a, **k: AccelChoice(state["accel"], "max", "faked"))
    monkeypatch.setattr(runner.host, "qemu_version", lambda: "7.2.0")
    return state


def _stored_run(tmp_path: Path, accel: str = "tcg") -> str:
    loaded = load_experiment(CONFIG)
    plan = make_plan(loaded.experiment)
    run = Store(tmp_path / "results").new_run(loaded.experiment.name)
    run.write_manifest(runner.manifest(loaded, plan, _artifacts(), AccelChoice(accel, "max", "stored"), None))
    return run.id


@pytest.mark.parametrize("change, named", [("accel", "accelerator: tcg / kvm"),
                                           ("key", "kernel baseline key: " + "k" * 24)])
def test_resume_under_another_accelerator_or_artifact_key_is_refused(tmp_path, faked, capsys, change, named):
    run_id = _stored_run(tmp_path)
    faked.update({"accel": "kvm"} if change == "accel" else {"key": "x" * 24})
    rc = main(["run", str(CONFIG), "--resume", run_id, "--results", str(tmp_path / "results")])
    assert rc == EXIT_USER
    err = capsys.readouterr().err
    assert "--resume" in err and named in err


def test_every_new_record_carries_its_provenance(tmp_path, faked, monkeypatch):
    run_id = _stored_run(tmp_path)
    monkeypatch.setattr(runner, "run_cell", lambda inp, cell, logs, phase, factory: {
        "cell": {"id": cell.id, "index": cell.index, **cell.coords}, "status": "ok", "failure": None,
        "metrics": {"kvm.pf_fixed": 1.0}, "timings": {"cell_s": 1.0}, "notes": {}})
    loaded = load_experiment(CONFIG)
    plan = make_plan(loaded.experiment, only={"rep": {"1"}})
    runner.run_experiment(loaded, plan, results=tmp_path / "results", resume=run_id, jobs=1, start="boot")
    records = list(Store(tmp_path / "results").open(run_id).records())
    assert records and all(r.provenance is not None for r in records)
    r = records[0]
    assert r.provenance.accel == "tcg" and r.provenance.qemu_version == "7.2.0"
    assert r.provenance.artifacts["kernel"] == f"{'k' * 24}-{r.cell.kernel}"
    assert json.loads((Store(tmp_path / "results").open(run_id).cells_dir / f"{r.cell.id}.json").read_text())["schema"] == 2


@pytest.mark.parametrize("field, value, named", [(("accel", "accel"), "kvm", "accelerator: tcg / kvm"),
                                                 (("host", "cpu"), "Other CPU", "host CPU"),
                                                 (("qemu_version",), "9.0.0", "QEMU version: 7.2.0 / 9.0.0")])
def test_merge_refuses_shards_measured_with_other_things(tmp_path, capsys, field, value, named):
    shards = _shards(tmp_path)
    path = shards[1] / "manifest.json"
    m = json.loads(path.read_text())
    target = m
    for key in field[:-1]:
        target = target[key]
    target[field[-1]] = value
    path.write_text(json.dumps(m))
    assert main(["merge", *map(str, shards), "--results", str(tmp_path / "merged")]) == EXIT_USER
    assert named in capsys.readouterr().err
    assert not (tmp_path / "merged").exists() or not any((tmp_path / "merged").iterdir())


def test_a_shard_manifest_is_checked_as_it_will_read_back():
    # the plan's shard is a tuple in Python and a list in JSON: the model
    # checks what is written, not the Python object
    from orchestrator.results import models
    loaded = load_experiment(CONFIG)
    plan = make_plan(loaded.experiment, shard=(1, 2))
    data = models.build_manifest(runner.manifest(loaded, plan, _artifacts(), AccelChoice("tcg", "max", "x"), None))
    assert models.Manifest.model_validate(models.as_written(data)).plan.shard == [1, 2]
