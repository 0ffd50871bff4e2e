"""The prefetch patches against Debian's real 6.1 source.

baseline = 6.1 + 0001 (pte prefetch removed); patched = baseline + 0002
(the patch under review, forward-ported). The forward port is complete
when baseline + 0002 gives upstream 6.1's files back byte for byte.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from orchestrator.config import load_kernel_recipe
from orchestrator.paths import Project

REPO = Path(__file__).resolve().parents[2]
PATCHES = sorted((REPO / "kernels" / "patches").glob("*.patch"))
TARBALL = Path("/usr/src/linux-source-6.1.tar.xz")


def _touched(patch: Path) -> list[str]:
    return re.findall(r"^\+\+\+ b/(\S+)", patch.read_text(), flags=re.M)


@pytest.fixture(scope="module")
def upstream(tmp_path_factory) -> Path:
    assert TARBALL.is_file(), f"{TARBALL} is missing: run ./setup.sh (it installs linux-source-6.1)"
    out = tmp_path_factory.mktemp("upstream")
    files = sorted({f for p in PATCHES for f in _touched(p)})
    subprocess.run(
        ["tar", "-xf", str(TARBALL), "-C", str(out), "--strip-components=1",
         *[f"linux-source-6.1/{f}" for f in files]],
        check=True,
    )
    return out


def _apply(tree: Path, patch: Path) -> None:
    r = subprocess.run(["patch", "-p1", "--batch", "--forward", "--fuzz=0", "-i", str(patch)],
                       cwd=tree, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "offset" not in r.stdout and "fuzz" not in r.stdout, r.stdout


def test_series_is_the_sorted_folder():
    project = Project(REPO)
    assert [str(p) for p in PATCHES] == list(load_kernel_recipe(project, "patched").patches)  # loaded: absolute
    assert [str(p) for p in PATCHES[:1]] == list(load_kernel_recipe(project, "baseline").patches)
    assert load_kernel_recipe(project, "upstream").patches == ()


def test_baseline_has_no_pte_prefetch(upstream: Path, tmp_path: Path):
    tree = tmp_path / "t"
    shutil.copytree(upstream, tree)
    _apply(tree, PATCHES[0])
    mmu = (tree / "arch/x86/kvm/mmu/mmu.c").read_text()
    tmpl = (tree / "arch/x86/kvm/mmu/paging_tmpl.h").read_text()
    assert "direct_pte_prefetch" not in mmu
    assert "FNAME(pte_prefetch)" not in tmpl
    assert "direct_pte_prefetch" in (upstream / "arch/x86/kvm/mmu/mmu.c").read_text()


def test_forward_port_restores_upstream_byte_for_byte(upstream: Path, tmp_path: Path):
    tree = tmp_path / "t"
    shutil.copytree(upstream, tree)
    for patch in PATCHES:
        _apply(tree, patch)
    files = sorted({f for p in PATCHES for f in _touched(p)})
    assert "arch/x86/kvm/mmu/mmu.c" in files and "arch/x86/kvm/mmu/paging_tmpl.h" in files
    for f in files:
        assert (tree / f).read_bytes() == (upstream / f).read_bytes(), f


def test_patch_under_review_keeps_its_subject_and_description():
    text = PATCHES[-1].read_text()
    assert "Subject: [PATCH 2/2] KVM: MMU: prefetch ptes when intercepted guest #PF" in text
    assert "Support prefetch ptes when intercept guest #PF" in text
    assert "From: Xiao Guangrong" in text
    assert "reset_host_protection" in text  # the reviewer's point, answered
    assert "gfn_to_pfn_atomic" in text
