"""Bad input to `orchestrator diff` and `orchestrator merge`: damaged or
foreign result folders, symlinks, references that look like paths. Each is
refused with exit 2 and one line naming the file (and the key), never a
traceback, never a read or write outside the results folder, and a failed
merge leaves no output."""

from __future__ import annotations

import copy
import errno
import json
import os
import shutil
from pathlib import Path

import pytest

from orchestrator.cli.main import main
from orchestrator.errors import EXIT_INFRA, EXIT_USER
from orchestrator.results.store import Run
from tests.unit.test_merge_and_nightly import _shards

DATA = Path(__file__).resolve().parent.parent / "data"
SYNTH_ID = "20261125T000000Z-synthetic-000001"
SYNTH = DATA / "results" / SYNTH_ID
RECORD = "r001.tdp-off.file-mmap.baseline.json"


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """A private copy of the synthetic run, free to damage."""
    root = tmp_path / "results"
    shutil.copytree(SYNTH, root / SYNTH_ID)
    return root


def _diff(results: Path, *extra: str) -> list[str]:
    return ["diff", "baseline", "patched", "--results", str(results), "--format", "json", "--output", os.devnull, *extra]


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def _set(doc: dict, keypath: tuple, value) -> dict:
    doc = copy.deepcopy(doc)
    node = doc
    for k in keypath[:-1]:
        node = node[k]
    if value is DELETE:
        del node[keypath[-1]]
    else:
        node[keypath[-1]] = value
    return doc


DELETE = object()

# (what is damaged, how, what the error must name)
RECORD_DAMAGE = [
    ("not-json", "{ not json", RECORD),
    ("binary", b"\xff\xfe\x00garbage", RECORD),
    ("list", "[1, 2]", "a JSON object is expected"),
    ("empty", "", RECORD),
    ("schema-9", {"schema": 9}, "schema: expected one of 1, 2"),
    ("no-cell", ("cell",), "cell: required key is missing"),
    ("cell-string", (("cell",), "x"), "cell: expected an object"),
    ("no-kernel", ("cell", "kernel"), "cell.kernel"),
    ("kernel-number", (("cell", "kernel"), 3), "cell.kernel"),
    ("rep-word", (("cell", "rep"), "one"), "cell.rep"),
    ("rep-bool", (("cell", "rep"), True), "cell.rep"),
    ("id-other", (("cell", "id"), "r001.tdp-on.file-mmap.baseline"), "does not match the file name"),
    ("id-escape", (("cell", "id"), "../../../etc/passwd"), "cell.id"),
    ("coord-object", (("cell", "tdp"), {"a": 1}), "cell.tdp"),
    ("no-status", ("status",), "status"),
    ("metrics-list", (("metrics",), [1, 2]), "metrics"),
]


def _damage_record(path: Path, how) -> None:
    good = json.loads(path.read_text())
    if isinstance(how, bytes):
        path.write_bytes(how)
    elif isinstance(how, str):
        path.write_text(how)
    elif isinstance(how, dict):
        path.write_text(json.dumps({**good, **how}))
    elif len(how) == 1 or not isinstance(how[0], tuple):
        path.write_text(json.dumps(_set(good, tuple(how), DELETE)))
    else:
        path.write_text(json.dumps(_set(good, how[0], how[1])))


@pytest.mark.parametrize("name, how, names", RECORD_DAMAGE, ids=[c[0] for c in RECORD_DAMAGE])
def test_damaged_record_is_refused_by_diff(results, capsys, name, how, names):
    path = results / SYNTH_ID / "cells" / RECORD
    _damage_record(path, how)
    assert main(_diff(results)) == EXIT_USER
    line = _one_error_line(capsys)
    assert RECORD in line and names in line


MANIFEST_DAMAGE = [
    ("missing", None, "no runs in"),
    ("not-json", "{", "manifest.json: not a readable JSON file"),
    ("list", "[]", "manifest.json: not an orchestrator run manifest"),
    ("schema-0", {"schema": 0}, "manifest.json: schema"),
    ("no-config", ("config",), "manifest.json: config"),
    ("resolved-list", (("resolved_config",), []), "manifest.json: resolved_config"),
    ("expectations-obj", (("resolved_config", "expectations"), {}), "resolved_config.expectations"),
    ("expectation-str", (("resolved_config", "expectations", 0), "x"), "resolved_config.expectations[0]"),
    ("change-bad", (("resolved_config", "expectations", 0, "change"), "up"), "expectations[0].change"),
    ("no-metric", ("resolved_config", "expectations", 1, "metric"), "expectations[1].metric"),
    ("when-list", (("resolved_config", "expectations", 0, "when"), [1]), "expectations[0].when"),
    ("min-effect-str", (("resolved_config", "expectations", 0, "min_effect_pct"), "5"), "min_effect_pct"),
    ("started-number", (("started",), 5), "manifest.json: started"),
    ("label-list", (("label",), ["x"]), "manifest.json: label"),
]


@pytest.mark.parametrize("name, how, names", MANIFEST_DAMAGE, ids=[c[0] for c in MANIFEST_DAMAGE])
def test_damaged_manifest_is_refused_by_diff(results, capsys, name, how, names):
    path = results / SYNTH_ID / "manifest.json"
    good = json.loads(path.read_text())
    if how is None:
        path.unlink()
    elif isinstance(how, str):
        path.write_text(how)
    elif isinstance(how, dict):
        path.write_text(json.dumps({**good, **how}))
    elif not isinstance(how[0], tuple):
        path.write_text(json.dumps(_set(good, tuple(how), DELETE)))
    else:
        path.write_text(json.dumps(_set(good, how[0], how[1])))
    assert main(_diff(results)) == EXIT_USER
    assert names in _one_error_line(capsys)


def _paths(node, prefix=()):
    """Every key path of a JSON document."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield prefix + (i,)
            yield from _paths(v, prefix + (i,))


HOSTILE = [DELETE, None, "x", -1, 1.5, True, [], {}, [None], {"": None}]


@pytest.mark.parametrize("target", ["manifest.json", f"cells/{RECORD}"])
def test_no_field_of_a_run_can_crash_diff(results, capsys, target):
    """Every field set to every hostile type: diff answers or refuses, it
    never raises (an exception here is a traceback for the user)."""
    path = results / SYNTH_ID / target
    good = json.loads(path.read_text())
    for keypath in list(_paths(good)):
        for value in HOSTILE:
            path.write_text(json.dumps(_set(good, keypath, value)))
            rc = main(_diff(results, "--all-metrics"))
            assert rc in (0, EXIT_USER), (keypath, value)
            assert "Traceback" not in capsys.readouterr().err


def test_results_path_is_a_file(tmp_path, capsys):
    f = tmp_path / "results"
    f.write_text("not a folder")
    assert main(_diff(f)) == EXIT_USER
    assert "not a folder" in _one_error_line(capsys)
    assert main(["merge", *map(str, _shards(tmp_path)), "--results", str(f)]) == EXIT_USER
    assert str(f) in _one_error_line(capsys)


def test_a_folder_that_is_not_a_run(tmp_path, capsys):
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("hello")
    assert main(_diff(tmp_path, "--run", str(tmp_path / "stuff"))) == EXIT_USER
    assert "no manifest.json" in _one_error_line(capsys)
    assert main(_diff(tmp_path / "stuff")) == EXIT_USER
    assert "no runs in" in _one_error_line(capsys)


@pytest.mark.parametrize("ref", ["../x", "..", "a/b", "/etc", f"../{SYNTH_ID}", f"{SYNTH_ID}/.."])
def test_run_references_are_never_paths(results, capsys, ref, tmp_path):
    # a run that would be found if the reference were followed as a path
    shutil.copytree(SYNTH, tmp_path / "x")
    assert main(["diff", ref, "patched", "--results", str(results)]) == EXIT_USER
    assert repr(ref) in _one_error_line(capsys)
    if "/" not in ref:  # --run takes a folder's path only when it has a separator
        assert main(_diff(results, "--run", ref)) == EXIT_USER
        assert repr(ref) in _one_error_line(capsys)


def test_symlinked_record_pointing_outside_is_refused(results, capsys, tmp_path):
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"schema": 1}))
    path = results / SYNTH_ID / "cells" / RECORD
    path.unlink()
    path.symlink_to(secret)
    assert main(_diff(results)) == EXIT_USER
    assert RECORD in _one_error_line(capsys)


def test_symlinked_cells_and_manifest_are_refused(results, capsys, tmp_path):
    run = results / SYNTH_ID
    shutil.move(run / "cells", tmp_path / "elsewhere")
    (run / "cells").symlink_to(tmp_path / "elsewhere")
    assert main(_diff(results)) == EXIT_USER
    assert "cells: a symlink" in _one_error_line(capsys)
    (run / "cells").unlink()
    shutil.move(tmp_path / "elsewhere", run / "cells")
    shutil.move(run / "manifest.json", tmp_path / "m.json")
    (run / "manifest.json").symlink_to(tmp_path / "m.json")
    assert main(_diff(results)) == EXIT_USER
    assert "manifest.json: a symlink" in _one_error_line(capsys)


def test_symlinked_run_folder_is_ignored_or_refused(tmp_path, capsys):
    results = tmp_path / "results"
    results.mkdir()
    (results / SYNTH_ID).symlink_to(SYNTH)  # a whole run that lives elsewhere
    assert main(_diff(results)) == EXIT_USER
    assert "no runs in" in _one_error_line(capsys)
    assert main(_diff(results, "--run", SYNTH_ID)) == EXIT_USER
    assert "symlinked run folder" in _one_error_line(capsys)


def test_fifo_record_does_not_hang(results, capsys):
    path = results / SYNTH_ID / "cells" / RECORD
    path.unlink()
    os.mkfifo(path)
    assert main(_diff(results)) == EXIT_USER
    assert "not a regular file" in _one_error_line(capsys)


def test_report_into_a_missing_folder(results, capsys, tmp_path):
    out = tmp_path / "no" / "such" / "r.md"
    for fmt in ("table", "md"):
        assert main(["diff", "baseline", "patched", "--results", str(results), "--format", fmt, "--output", str(out)]) == EXIT_USER
        assert str(out) in _one_error_line(capsys)


# --- merge -------------------------------------------------------------------


def _merge(shards: list[Path], out: Path, *extra: str) -> list[str]:
    return ["merge", *map(str, shards), "--results", str(out), *extra]


def _left_in(out: Path) -> list[str]:
    """What a merge left in its results folder (nothing, after a failure)."""
    return sorted(p.name for p in out.iterdir()) if out.exists() else []


@pytest.mark.parametrize("name, how, names", RECORD_DAMAGE, ids=[c[0] for c in RECORD_DAMAGE])
def test_damaged_record_is_refused_by_merge(tmp_path, capsys, name, how, names):
    shards = _shards(tmp_path)
    (path,) = [s / "cells" / RECORD for s in shards if (s / "cells" / RECORD).exists()]
    _damage_record(path, how)
    out = tmp_path / "merged"
    assert main(_merge(shards, out)) == EXIT_USER
    line = _one_error_line(capsys)
    assert RECORD in line and names in line
    assert _left_in(out) == []


@pytest.mark.parametrize("field, value, names", [
    ("experiment", "other-experiment", "experiment differs"),
    ("tool_version", "0.0.1", "tool_version differs"),
    ("schema", 9, "schema: expected one of 1, 2"),
    ("plan", {"cells": ["../../x"], "shard": [2, 2]}, "plan.cells[0]"),
    ("plan", {"cells": [], "shard": "2/2"}, "plan.shard"),
    ("artifacts", {"kernels": {"baseline": "key"}}, "artifacts.kernels.baseline"),
])
def test_foreign_shard_is_refused_and_nothing_is_written(tmp_path, capsys, field, value, names):
    shards = _shards(tmp_path)
    m = json.loads((shards[1] / "manifest.json").read_text())
    m[field] = value
    (shards[1] / "manifest.json").write_text(json.dumps(m))
    out = tmp_path / "merged"
    assert main(_merge(shards, out)) == EXIT_USER
    line = _one_error_line(capsys)
    assert "manifest.json" in line and names in line
    assert _left_in(out) == []


def test_shard_without_or_with_broken_manifest(tmp_path, capsys):
    shards = _shards(tmp_path)
    (shards[1] / "manifest.json").write_text("{")
    assert main(_merge(shards, tmp_path / "m")) == EXIT_USER
    assert f"{shards[1]}/manifest.json: not a readable JSON file" in _one_error_line(capsys)
    (shards[1] / "manifest.json").unlink()
    assert main(_merge(shards, tmp_path / "m")) == EXIT_USER
    assert f"{shards[1]}: not a run folder (no manifest.json)" in _one_error_line(capsys)
    f = tmp_path / "file"
    f.write_text("x")
    assert main(_merge([shards[0], f], tmp_path / "m")) == EXIT_USER
    assert f"{f}: not a run folder (a file)" in _one_error_line(capsys)
    assert _left_in(tmp_path / "m") == []


def test_conflicting_cell_leaves_no_half_merged_run(tmp_path, capsys):
    shards = _shards(tmp_path)
    # shard 2 also claims one of shard 1's cells, with other numbers
    mine = sorted((shards[0] / "cells").glob("*.json"))[-1]
    rec = json.loads(mine.read_text())
    rec["notes"] = {"other": True}
    (shards[1] / "cells" / mine.name).write_text(json.dumps(rec))
    out = tmp_path / "merged"
    assert main(_merge(shards, out)) == EXIT_USER
    assert f"cell {mine.stem} is in two shards" in _one_error_line(capsys)
    assert _left_in(out) == []


def test_disk_full_during_merge_leaves_nothing(tmp_path, capsys, monkeypatch):
    shards = _shards(tmp_path)
    calls = {"n": 0}
    real_fsync = os.fsync

    def fsync(fd):
        calls["n"] += 1
        if calls["n"] == 5:  # a few records in
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    out = tmp_path / "merged"
    assert main(_merge(shards, out)) == EXIT_INFRA
    line = _one_error_line(capsys)
    assert "the disk is full" in line and ".json" in line
    assert _left_in(out) == []


@pytest.mark.parametrize("label", ["../x", "a/b", "x;rm -rf /", "$(id)", "`id`", "a b", "..", "-rf", "x\ny"])
def test_hostile_label_is_refused(tmp_path, capsys, label):
    shards = _shards(tmp_path)
    out = tmp_path / "merged"
    assert main(_merge(shards, out, f"--label={label}")) == EXIT_USER
    assert "label" in _one_error_line(capsys)
    assert _left_in(out) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shards"]  # nothing made beside either


def test_hostile_experiment_name_in_shards_cannot_escape(tmp_path, capsys):
    shards = _shards(tmp_path)
    for s in shards:
        m = json.loads((s / "manifest.json").read_text())
        m["experiment"] = "../../../escaped"
        (s / "manifest.json").write_text(json.dumps(m))
    out = tmp_path / "deep" / "merged"
    assert main(_merge(shards, out)) == EXIT_USER
    assert "experiment" in _one_error_line(capsys)
    assert not list(tmp_path.rglob("*escaped*"))
    assert _left_in(out) == []


def test_symlinked_shard_folder_is_refused(tmp_path, capsys):
    shards = _shards(tmp_path)
    link = tmp_path / "link"
    link.symlink_to(shards[1])
    assert main(_merge([shards[0], link], tmp_path / "m")) == EXIT_USER
    assert "symlinked run folder" in _one_error_line(capsys)


def test_symlinks_in_logs_are_not_followed(tmp_path, capsys):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key").write_text("TOP SECRET")
    shards = _shards(tmp_path)
    cells = [p.name for p in (shards[0] / "logs").iterdir()]
    # a file, a folder inside a cell's logs, a whole cell's logs, and logs/ itself
    (shards[0] / "logs" / cells[0] / "stolen.log").symlink_to(secret / "key")
    (shards[0] / "logs" / cells[0] / "stolen-dir").symlink_to(secret)
    shutil.rmtree(shards[0] / "logs" / cells[1])
    (shards[0] / "logs" / cells[1]).symlink_to(secret)
    shutil.rmtree(shards[1] / "logs")
    (shards[1] / "logs").symlink_to(secret)
    out = tmp_path / "merged"
    assert main(_merge(shards, out)) == 0
    (merged,) = out.iterdir()
    assert (merged / "logs" / cells[0] / "l1-console.log").is_file()
    for p in merged.rglob("*"):
        assert not p.is_symlink(), p
        assert not p.is_file() or "TOP SECRET" not in p.read_text(), p
    assert len(list(Run(merged).records())) == 25
