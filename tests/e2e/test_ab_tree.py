"""`orchestrator ab --tree DIR --range BASE..TIP --dirty` against a git
kernel tree, as a developer runs it on their own checkout. The tree is
made here from Debian's 6.1 tarball: one commit of the source as shipped
(BASE), then the project's "remove pte prefetch" patch committed with
`git am` (TIP = HEAD), then a comment-only change left uncommitted. A is
the tree at BASE; B adds the commit and the dirty change. Without
prefetch, B must take more pf_fixed than A on a file mapping, shadow
paging."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from orchestrator import proc
from tests.e2e.abrun import AbRun, run_ab

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
COMMIT_PATCH = ROOT / "kernels/patches/0001-KVM-MMU-remove-pte-prefetch.patch"
DIRTY_PATCH = HERE.parent / "data/ab/0003-KVM-MMU-say-which-paging-modes-mmu.c-serves.patch"
TARBALL = Path("/usr/src/linux-source-6.1.tar.xz")
GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "Tree Maker", "GIT_AUTHOR_EMAIL": "tree@example.org",
           "GIT_COMMITTER_NAME": "Tree Maker", "GIT_COMMITTER_EMAIL": "tree@example.org"}


def git(tree: Path, *args: str) -> str:
    return proc.run(["git", "-C", str(tree), *args], env=GIT_ENV, timeout=900).output


def make_tree(where: Path) -> Path:
    """Debian's 6.1 as one commit tagged `debian`, then one patch by `git am`."""
    proc.run(["tar", "-xf", str(TARBALL), "-C", str(where)], timeout=900)
    (tree,) = where.iterdir()
    git(tree, "init", "-q")
    # -f: Debian's tarball carries a .gitignore that ignores its whole top
    # level (its own packaging repository does not track the kernel)
    git(tree, "add", "-A", "-f")
    git(tree, "commit", "-q", "-m", "Debian linux-source-6.1 as shipped")
    git(tree, "tag", "debian")
    git(tree, "am", "-q", str(COMMIT_PATCH))
    proc.run(["patch", "-p1", "-i", str(DIRTY_PATCH)], cwd=tree, timeout=60)
    return tree


@pytest.fixture(scope="module")
def ab_tree(tmp_path_factory) -> tuple[AbRun, str]:
    work = tmp_path_factory.mktemp("tree")
    tree = make_tree(work)
    run = run_ab(["--tree", str(tree), "--range", "debian..HEAD", "--dirty",
                  "--config", str(HERE / "ab-tiny.yaml")], work)
    return run, git(tree, "rev-parse", "debian^{commit}").strip()


def test_a_is_the_tree_at_base_and_b_its_commits_and_changes(ab_tree):
    ab_tree, base = ab_tree
    print(f"\norchestrator ab --tree: {ab_tree.wall_s:.0f} s from the command to the printed verdict",
          file=sys.stderr)
    assert ab_tree.rc == 0, ab_tree.printed
    kernels = json.loads((ab_tree.folder / "manifest.json").read_text())["artifacts"]["kernels"]
    sources = {side: kernels[side]["metadata"]["inputs"]["source"] for side in ("a", "b")}
    # both pinned to BASE's commit, not to a ref that may move
    assert sources["a"] == sources["b"] == {"kind": "git", "commit": base}
    subjects = [p["subject"] for p in kernels["b"]["patches"]]
    assert subjects == ["KVM: MMU: remove pte prefetch", "uncommitted changes (git diff HEAD)"]
    assert "KVM: MMU: remove pte prefetch" in ab_tree.printed


def test_without_prefetch_b_takes_more_pf_fixed(ab_tree):
    medians = ab_tree[0].medians("kvm.pf_fixed")
    print(f"\ntree kvm.pf_fixed median a={medians['a']:.0f} b={medians['b']:.0f}", file=sys.stderr)
    assert medians["b"] > 1.1 * medians["a"], medians
