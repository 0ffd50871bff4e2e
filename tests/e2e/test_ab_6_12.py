"""`orchestrator ab` against Debian's 6.12 source, as a new user runs it: a
patch file of their own, outside the project, named relative to the folder
they are in; A is `--source linux-source-6.12`. The patch stops shadow
paging's gpte prefetch, so B must take more pf_fixed than A on a file
mapping with tdp off: the verdict is about the patch, not a no-op."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from tests.e2e.abrun import AbRun, run_ab

HERE = Path(__file__).resolve().parent
PATCH = HERE.parent / "data/ab/6.12-no-shadow-prefetch.patch"
SUBJECT = "KVM: x86/mmu: do not prefetch gptes on a shadow page fault"


@pytest.fixture(scope="module")
def ab_612(tmp_path_factory) -> AbRun:
    home = tmp_path_factory.mktemp("user")  # not the project: the patch is the user's own file
    shutil.copyfile(PATCH, home / "my-fix.patch")
    return run_ab(["--source", "linux-source-6.12", "my-fix.patch", "--config", str(HERE / "ab-tiny.yaml")],
                  home, cwd=home)


def test_a_is_debian_6_12_and_b_carries_the_users_patch(ab_612: AbRun):
    print(f"\norchestrator ab on 6.12: {ab_612.wall_s:.0f} s from the command to the printed verdict",
          file=sys.stderr)
    assert ab_612.rc == 0, ab_612.printed
    kernels = json.loads((ab_612.folder / "manifest.json").read_text())["artifacts"]["kernels"]
    for side in ("a", "b"):
        assert kernels[side]["metadata"]["inputs"]["source"]["package"] == "linux-source-6.12"
    assert kernels["a"]["patches"] == []
    (patch,) = kernels["b"]["patches"]
    assert patch["subject"] == SUBJECT and patch["author"] == "Ada Reviewer <ada@example.org>"
    assert SUBJECT in ab_612.printed and "kvm.pf_fixed" in ab_612.printed
    for r in ab_612.records():
        log = ab_612.folder / "logs" / r["notes"]["machines"] / "l1-console.log"
        assert "Linux version 6.12." in log.read_text(errors="replace")


def test_a_log_that_is_not_a_terminal_gets_a_line_per_cell(ab_612: AbRun):
    cells = re.findall(r"cell (\d)/6 r00\d\.tdp-off\.file-mmap\.[ab] ok kvm\.pf_fixed=\d+ kvm\.exits=\d+", ab_612.log)
    assert sorted(cells) == ["1", "2", "3", "4", "5", "6"], ab_612.log[-3000:]
    assert re.search(r"build: kernel .*b\.yaml", ab_612.log), ab_612.log[:3000]


def test_without_prefetch_b_takes_more_pf_fixed(ab_612: AbRun):
    medians = ab_612.medians("kvm.pf_fixed")
    print(f"\n6.12 kvm.pf_fixed median a={medians['a']:.0f} b={medians['b']:.0f}", file=sys.stderr)
    assert medians["b"] > 1.1 * medians["a"], medians
