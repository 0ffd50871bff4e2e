"""Image recipes and their cache keys (the builds themselves: qemu tier)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orchestrator.build.image import ImageBuilder, package_versions
from orchestrator.config import load_image_recipe
from orchestrator.errors import UserError
from orchestrator.paths import Project

REPO = Path(__file__).resolve().parents[2]


def test_repo_recipes_have_what_the_guests_need():
    project = Project(REPO)
    l1 = load_image_recipe(project, "l1")
    assert {"qemu-system-x86", "openssh-server", "linux-perf", "python3"} <= set(l1.packages)
    assert l1.kvm_stat == "upstream"
    l2 = load_image_recipe(project, "l2")
    assert {"openssh-server", "stress-ng"} <= set(l2.packages) and l2.workloads


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "proj"
    root.mkdir()
    for sub in ("images", "kernels", "configs"):
        shutil.copytree(REPO / sub, root / sub, ignore=shutil.ignore_patterns("out"))
    return Project(root)


def test_key_is_stable_and_follows_every_input(project: Project, tmp_path: Path):
    b = ImageBuilder(project, cache=tmp_path / "cache")
    base = b.key("l2")
    assert b.key("l2") == base
    seen = {base}

    def changed() -> str:
        k = b.key("l2")
        assert k not in seen
        seen.add(k)
        return k

    init = project.images / "init" / "orchestrator-init"
    init.write_text(init.read_text() + "\n# changed\n")
    changed()
    src = project.images / "workloads" / "anon-touch.c"
    src.write_text(src.read_text() + "\n/* changed */\n")
    changed()
    recipe = project.images / "l2.yaml"
    recipe.write_text(recipe.read_text().replace("  - busybox\n", "  - busybox\n  - procps\n"))
    changed()
    recipe.write_text(recipe.read_text().replace("variant: minbase", "variant: essential"))
    changed()


def test_description_does_not_change_the_key(project: Project, tmp_path: Path):
    b = ImageBuilder(project, cache=tmp_path / "cache")
    before = b.key("l2")
    recipe = project.images / "l2.yaml"
    recipe.write_text(recipe.read_text().replace("description:", "description: reworded,"))
    assert b.key("l2") == before


def test_unknown_package_is_a_user_error():
    with pytest.raises(UserError, match="no-such-package-xyz"):
        package_versions(("busybox", "no-such-package-xyz"))


def test_bad_file_destination_is_refused(project: Project):
    (project.images / "bad.yaml").write_text("packages: [busybox]\nfiles:\n  - {src: l2.yaml, dest: relative/path}\n")
    with pytest.raises(UserError, match="files\\[0\\].dest"):
        load_image_recipe(project, "bad")
