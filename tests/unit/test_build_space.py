"""Before a build starts, the free disk space it needs is checked: without
it the build is refused with exit 3, naming the folder and both figures,
and nothing is started."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from orchestrator.build import space
from orchestrator.build.image import ImageBuilder
from orchestrator.build.kernel import KernelBuilder
from orchestrator.cli.main import main
from orchestrator.errors import EXIT_INFRA, InfraError
from orchestrator.paths import Project
from tests.unit.test_cache_integrity import images  # noqa: F401 - fixture


def _full(monkeypatch, free: int) -> None:
    """A file system with `free` bytes left."""
    monkeypatch.setattr(space.shutil, "disk_usage", lambda p: SimpleNamespace(total=free * 10, used=free * 9, free=free))


def test_kernel_build_refused_without_space(builder: KernelBuilder, monkeypatch):  # noqa: F811
    _full(monkeypatch, 100 << 20)
    with pytest.raises(InfraError) as exc:
        builder.build("plain")
    msg = str(exc.value)
    assert exc.value.exit_code == EXIT_INFRA
    assert str(builder.root) in msg and "100.0 MiB" in msg and space.human(space.kernel_need(False)) in msg
    work = builder.root / "work"
    assert not [p for p in work.iterdir() if p.is_dir()]  # no tree extracted
    assert not (builder.root / "logs").exists() and not list((builder.root / "builds").glob(".staging-*"))


def test_image_build_refused_without_space(images: ImageBuilder, monkeypatch):  # noqa: F811
    called = []
    monkeypatch.setattr(images, "_build", lambda *a: called.append(a))
    _full(monkeypatch, space.IMAGE_BUILD_BYTES - 1)
    with pytest.raises(InfraError, match="not enough disk space to build image l1"):
        images.build("l1")
    assert called == [] and not list(images.store.root.glob(".staging-*"))


def test_build_command_exits_3_without_space(project: Project, tmp_path: Path, monkeypatch, capsys):  # noqa: F811
    monkeypatch.chdir(project.root)
    monkeypatch.setenv("ORCHESTRATOR_CACHE", str(tmp_path / "c"))
    _full(monkeypatch, 1 << 20)
    assert main(["build", "kernel", "plain"]) == EXIT_INFRA
    err = capsys.readouterr().err
    assert "not enough disk space" in err and "1.0 MiB" in err
    assert not (tmp_path / "c" / "kernel" / "logs").exists()


def test_a_kept_work_tree_needs_less(builder: KernelBuilder, monkeypatch):  # noqa: F811
    builder.build("plain")
    _full(monkeypatch, space.KERNEL_INCREMENTAL_BYTES + 1)  # not enough for a new tree
    assert not builder.build("a").cached  # the variant reuses the tree: it builds
    assert space.kernel_need(False) > space.KERNEL_INCREMENTAL_BYTES + 1
