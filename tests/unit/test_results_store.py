from __future__ import annotations

import json
import os

import pytest

from orchestrator.errors import InfraError, UserError
from orchestrator.results.store import Store, write_json_atomic


def _record(cell_id: str, status: str = "ok") -> dict:
    return {"cell": {"id": cell_id, "index": 0, "kernel": "k", "rep": "1"}, "status": status, "metrics": {}}


def test_new_run_manifest_and_records(tmp_path):
    store = Store(tmp_path / "results")
    run = store.new_run("exp")
    run.write_manifest({"config": "c.yaml", "label": "nightly", "started": "2026-11-25T09:00:00+00:00"})
    run.record("a", _record("a"))
    run.record("b", _record("b", "failed"))
    assert run.done() == {"a"}
    assert {r.cell.id for r in run.records()} == {"a", "b"}
    assert store.open(run.id).folder == run.folder
    assert store.latest().id == run.id
    assert [r.id for r in store.by_label("nightly")] == [run.id]
    assert not list(run.cells_dir.glob(".*tmp*"))  # nothing half-written left


def test_atomic_write_never_leaves_a_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "r.json"
    write_json_atomic(path, {"v": 1})

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(InfraError, match="r.json"):
        write_json_atomic(path, {"v": 2})
    assert json.loads(path.read_text()) == {"v": 1}


@pytest.mark.parametrize("content", ["not json", "[]", '{"cell": 1}'])
def test_foreign_records_are_refused(tmp_path, content):
    run = Store(tmp_path).new_run("exp")
    run.cells_dir.mkdir()
    (run.cells_dir / "x.json").write_text(content)
    with pytest.raises(UserError):
        list(run.records())


def test_symlinked_record_is_refused(tmp_path):
    run = Store(tmp_path).new_run("exp")
    run.record("a", _record("a"))
    (run.cells_dir / "evil.json").symlink_to("/etc/hostname")
    with pytest.raises(UserError, match="symlink"):
        list(run.records())


def test_open_rejects_bad_ids(tmp_path):
    store = Store(tmp_path)
    with pytest.raises(UserError):
        store.open("../../etc")
    with pytest.raises(UserError):
        store.latest()
