"""Patches from anywhere, checked when the recipe is loaded; a patch that
does not apply is the user's error, named down to the hunk, and leaves
nothing in the cache (fake kernel tree: tests/data/fake-kernel)."""

from __future__ import annotations

import json

import pytest

from orchestrator.build.kernel import KernelBuilder, PatchError
from orchestrator.cli.main import main
from orchestrator.config import load_kernel_recipe
from orchestrator.errors import ConfigError
from tests.fakes.fake_kernel import PATCH_A, PATCH_B, recipe




def _no_entry_left(builder: KernelBuilder) -> None:
    builds = builder.root / "builds"
    assert not list(builds.glob("*/metadata.json")) and not list(builds.glob(".staging-*"))


def test_absolute_and_recipe_relative_paths(builder, project, tmp_path):
    outside = tmp_path / "my series" / "a's fix.patch"  # a blank in the folder, a quote in the name
    outside.parent.mkdir()
    outside.write_text(PATCH_A)
    (project.kernels / "base").mkdir()
    (project.root / "series").mkdir()
    (project.root / "series/0002-b.patch").write_text(PATCH_B)
    # the base file names its second patch relative to itself, kernels/base/
    (project.kernels / "base/with-b.yaml").write_text(
        "source: {tarball: fake.tar.gz}\nfragments: [f.config]\npatches:\n"
        f"  - {json.dumps(str(outside))}\n  - ../../series/0002-b.patch\n")
    (project.kernels / "mine.yaml").write_text("extends: base/with-b.yaml\n")
    loaded = load_kernel_recipe(project, "mine").patches
    assert loaded == (str(outside), str(project.root / "series/0002-b.patch"))
    kernel = builder.build("mine")
    assert b"/* B */" in kernel.bzimage.read_bytes()
    assert [p["path"] for p in kernel.metadata["inputs"]["patches"]] == list(loaded)
    # the key is the patches' names and contents, not their folders
    (project.kernels / "patches/a's fix.patch").write_text(PATCH_A)
    (project.kernels / "same.yaml").write_text(
        "source: {tarball: fake.tar.gz}\nfragments: [f.config]\npatches:\n"
        "  - \"a's fix.patch\"\n  - patches/0002-b.patch\n")
    assert builder.build("same").key == kernel.key


@pytest.mark.parametrize("listed, message", [
    ("[0001-a.patch, 0009-missing.patch]", "file not found: kernels/patches/0009-missing.patch"),
    ("[0001-a.patch, ./nowhere/x.patch]", "file not found: ./nowhere/x.patch"),
    ("[0001-a.patch, /nonexistent/x.patch]", "file not found: /nonexistent/x.patch"),
    ("[0001-a.patch, ../kernels]", "not a file: ../kernels"),
    ("[0001-a.patch, ~nosuchuser-orch/x.patch]", "~nosuchuser-orch/x.patch: no such user '~nosuchuser-orch'"),
    ("[0001-a.patch, patches/0001-a.patch]", "the same file is listed twice: patches/0001-a.patch"),
])
def test_bad_patch_is_refused_at_load_with_file_line_key(project, listed, message, capsys, monkeypatch, tmp_path):
    (project.kernels / "bad.yaml").write_text(
        f"description: x\nsource: {{tarball: fake.tar.gz}}\npatches: {listed}\n")
    with pytest.raises(ConfigError) as exc:
        load_kernel_recipe(project, "bad")
    assert exc.value.line == 3 and exc.value.key == "patches[1]" and message in exc.value.message
    assert exc.value.file.endswith("bad.yaml") and exc.value.exit_code == 2
    # the CLI says the same and exits 2 before anything is built
    monkeypatch.chdir(project.root)
    monkeypatch.setenv("ORCHESTRATOR_CACHE", str(tmp_path / "cache"))
    assert main(["build", "kernel", "bad"]) == 2
    assert f"bad.yaml:3: patches[1]: {message}" in capsys.readouterr().err


def test_patch_that_does_not_apply_names_patch_file_and_hunk(builder, project):
    builder.build("a")
    recipe(project.root, "bonly", ["0002-b.patch"])
    with pytest.raises(PatchError) as exc:
        builder.build("bonly")
    text = str(exc.value)
    assert "0002-b.patch does not apply" in text and "kvm.c: hunk #1 FAILED at line 1" in text
    assert exc.value.exit_code == 2
    assert len(list((builder.root / "builds").glob("*/metadata.json"))) == 1  # only 'a'
    assert not list((builder.root / "builds").glob(".staging-*"))
    # the dry run left the tree as it was: clean, reused, no .rej or .orig
    tree = builder.root / "work" / builder.inputs("a").tree_key / "src"
    assert not list(tree.rglob("*.rej")) and not list(tree.rglob("*.orig"))
    ab = builder.build("ab")
    assert ab.metadata["reused_work_tree"] and b"/* B */" in ab.bzimage.read_bytes()


def test_patch_for_a_file_the_tree_lacks(builder, project):
    (project.kernels / "patches/0004-elsewhere.patch").write_text(
        "--- a/drivers/nothere.c\n+++ b/drivers/nothere.c\n@@ -1 +1 @@\n-x\n+y\n")
    recipe(project.root, "lacks", ["0001-a.patch", "0004-elsewhere.patch"])
    with pytest.raises(PatchError) as exc:
        builder.build("lacks")
    assert "0004-elsewhere.patch" in str(exc.value) and "drivers/nothere.c: no such file in the tree" in str(exc.value)
    _no_entry_left(builder)
    assert builder.build("a").metadata["reused_work_tree"]  # 0001-a stayed applied, recorded so


def test_already_applied_patch(builder, project):
    (project.kernels / "patches/0001-a-again.patch").write_text(PATCH_A)
    recipe(project.root, "twice", ["0001-a.patch", "0001-a-again.patch"])
    with pytest.raises(PatchError) as exc:
        builder.build("twice")
    assert "kvm.c: the change is already there" in str(exc.value)
    _no_entry_left(builder)
