"""Damaged cache entries are detected on lookup, moved aside with a warning
naming them, and rebuilt; an intact hit stays cheap (no hashing)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

import pytest

from orchestrator.build import cache, integrity
from orchestrator.build.image import ROOTFS, ImageBuilder
from orchestrator.build.kernel import KernelBuilder
from orchestrator.paths import Project


def _aside(entry: Path) -> list[Path]:
    return sorted(entry.parent.glob(f"{entry.name}.corrupt-*"))


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _same_size_garbage(p: Path) -> None:
    p.write_bytes(b"\0" * p.stat().st_size)


DAMAGE = {
    "truncated-bzImage": lambda e: _truncate(e / "bzImage"),
    "zeroed-bzImage": lambda e: _same_size_garbage(e / "bzImage"),
    "missing-config": lambda e: (e / "config").unlink(),
    "garbage-metadata": lambda e: (e / "metadata.json").write_text("{ garbage"),
    "metadata-not-object": lambda e: (e / "metadata.json").write_text("[]"),
    "garbage-integrity": lambda e: (e / integrity.FILE).write_text("nope"),
    "bzImage-now-a-symlink": lambda e: ((e / "bzImage").unlink(), (e / "bzImage").symlink_to("/etc/hostname")),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_damaged_kernel_entry_is_moved_aside_and_rebuilt(builder: KernelBuilder, caplog, damage):
    first = builder.build("plain")
    good = first.bzimage.read_bytes()
    DAMAGE[damage](first.path)
    with caplog.at_level(logging.WARNING, logger="orchestrator.build.cache"):
        assert builder.lookup("plain") is None
    (aside,) = _aside(first.path)
    assert str(first.path) in caplog.text and str(aside) in caplog.text and "damaged" in caplog.text
    assert (aside / "build.log").is_file()  # kept for a post-mortem, not deleted
    again = builder.build("plain")
    assert not again.cached and again.path == first.path
    assert again.bzimage.read_bytes() == good
    assert builder.build("plain").cached


def test_intact_hit_does_not_hash(builder: KernelBuilder, monkeypatch):
    builder.build("plain")
    calls = []
    real = cache.sha256_file
    monkeypatch.setattr(cache, "sha256_file", lambda p, *a: calls.append(p) or real(p, *a))
    key = builder.inputs("plain").key
    t = time.perf_counter()
    for _ in range(100):
        assert builder.store.lookup(key)
    per_hit = (time.perf_counter() - t) / 100
    assert calls == []
    assert per_hit < 0.005, f"{per_hit * 1000:.2f} ms per lookup"


def test_restored_entry_is_hashed_once_then_trusted(builder: KernelBuilder, monkeypatch, tmp_path):
    entry = builder.build("plain").path
    # what a CI cache restore does: same bytes, new inodes and mtimes
    shutil.copytree(entry, tmp_path / "copy")
    shutil.rmtree(entry)
    shutil.copytree(tmp_path / "copy", entry, copy_function=shutil.copy)
    calls = []
    real = cache.sha256_file
    monkeypatch.setattr(cache, "sha256_file", lambda p, *a: calls.append(p.name) or real(p, *a))
    assert builder.lookup("plain")
    assert "bzImage" in calls
    calls.clear()
    assert builder.lookup("plain") and calls == []


def test_entry_of_an_older_tool_is_adopted(builder: KernelBuilder):
    entry = builder.build("plain").path
    (entry / integrity.FILE).unlink()
    assert builder.build("plain").cached
    files = json.loads((entry / integrity.FILE).read_text())["files"]
    assert {"bzImage", "config", "metadata.json"} <= set(files)
    _truncate(entry / "bzImage")
    assert builder.lookup("plain") is None and _aside(entry)


def test_entries_record_size_and_sha256_of_every_file(builder: KernelBuilder):
    entry = builder.build("plain").path
    files = json.loads((entry / integrity.FILE).read_text())["files"]
    every = {str(p.relative_to(entry)) for p in entry.rglob("*") if p.is_file()}
    assert set(files) == every - {integrity.FILE} and "fragments/f.config" in files  # subfolders too
    assert files["bzImage"]["sha256"] == cache.sha256_file(entry / "bzImage")
    assert files["bzImage"]["bytes"] == (entry / "bzImage").stat().st_size


@pytest.fixture
def images(project: Project, tmp_path: Path, monkeypatch) -> ImageBuilder:  # noqa: F811
    """An ImageBuilder whose mmdebstrap step writes a small fake rootfs."""
    ib = ImageBuilder(project, cache=tmp_path / "cache")
    monkeypatch.setattr(ib, "inputs", lambda name: (None, {"fake": name}))

    def fake_build(name, recipe, inputs, key, stage, start):
        (stage / ROOTFS).write_bytes(os.urandom(64 << 10))
        (stage / "build.log").write_text("ok\n")
        return {"kind": "image", "name": name, "key": key}

    monkeypatch.setattr(ib, "_build", fake_build)
    return ib


@pytest.mark.parametrize("damage", ["truncate", "remove", "zero"])
def test_damaged_image_is_moved_aside_and_rebuilt(images: ImageBuilder, caplog, damage):
    first = images.build("l1")
    assert images.build("l1").cached
    rootfs = first.rootfs
    {"truncate": _truncate, "remove": Path.unlink, "zero": _same_size_garbage}[damage](rootfs)
    with caplog.at_level(logging.WARNING):
        again = images.build("l1")
    assert not again.cached and again.rootfs.stat().st_size == 64 << 10
    assert _aside(first.path) and str(first.path) in caplog.text
    assert images.build("l1").cached
