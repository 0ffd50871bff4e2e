"""A full results disk: writing a record or a manifest fails with an
InfraError (exit 3) naming the file, leaves no temporary file behind and
leaves the records written before intact."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from orchestrator import proc
from orchestrator.errors import EXIT_INFRA, InfraError
from orchestrator.results.store import Run, Store

RECORD = {"cell": {"id": "a", "index": 0, "kernel": "k", "rep": "1"}, "status": "ok", "metrics": {"x": 1}}


def _rec(cell_id: str, pad: int = 0) -> dict:
    return {**RECORD, "cell": {**RECORD["cell"], "id": cell_id}, "notes": {"pad": "x" * pad}}


def _debris(run: Run) -> list[Path]:
    return [p for p in run.folder.rglob("*") if p.name.startswith(".") or p.name.endswith(".tmp")]


def _enospc(*a, **k):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _full_file(real_fdopen):
    """os.fdopen whose files take no data, like a file on a full disk."""

    class Full:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            _enospc()

        def __getattr__(self, name):
            return getattr(self.f, name)

    return lambda fd, *a, **k: Full(real_fdopen(fd, *a, **k))


@pytest.mark.parametrize("where", ["write", "fsync", "replace", "mkstemp"])
def test_disk_full_on_a_record(tmp_path, monkeypatch, where):
    run = Store(tmp_path).new_run("exp")
    run.write_manifest({"config": "c.yaml"})
    run.record("a", _rec("a"))
    before = (run.cells_dir / "a.json").read_bytes()
    if where == "write":
        monkeypatch.setattr(os, "fdopen", _full_file(os.fdopen))
    elif where == "fsync":
        monkeypatch.setattr(os, "fsync", _enospc)
    elif where == "replace":
        monkeypatch.setattr(os, "replace", _enospc)
    else:
        import tempfile

        monkeypatch.setattr(tempfile, "mkstemp", _enospc)
    with pytest.raises(InfraError, match=r"cells/b\.json: cannot write: the disk is full") as info:
        run.record("b", _rec("b"))
    assert info.value.exit_code == EXIT_INFRA
    with pytest.raises(InfraError, match=r"manifest\.json: cannot write: the disk is full"):
        run.write_manifest({"config": "c.yaml", "label": "x"})
    monkeypatch.undo()
    assert _debris(run) == []
    assert not (run.cells_dir / "b.json").exists()
    assert (run.cells_dir / "a.json").read_bytes() == before
    assert run.manifest().config == "c.yaml" and "label" not in run.manifest_data()
    assert [r.cell.id for r in run.records()] == ["a"]


@pytest.fixture
def tiny_fs(tmp_path: Path):
    """A real 64 KiB tmpfs (root only; skipped where mounting is not allowed)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    try:
        r = proc.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(mnt)], timeout=30, check=False)
    except InfraError as exc:  # no mount binary
        pytest.skip(str(exc))
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.output.strip()}")
    try:
        yield mnt
    finally:
        proc.run(["umount", str(mnt)], timeout=30)


def test_disk_full_for_real(tiny_fs):
    run = Store(tiny_fs / "results").new_run("exp")
    run.write_manifest({"config": "c.yaml"})
    written = []
    with pytest.raises(InfraError, match="the disk is full") as info:
        for i in range(1000):
            run.record(f"c{i:03d}", _rec(f"c{i:03d}", pad=4000))
            written.append(f"c{i:03d}")
    assert written, "the tmpfs filled before the first record"
    assert f"cells/c{len(written):03d}.json" in str(info.value)
    assert _debris(run) == []
    assert [r.cell.id for r in run.records()] == written
    assert json.loads(run.manifest_path.read_text())["config"] == "c.yaml"
