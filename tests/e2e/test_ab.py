"""`orchestrator ab` end to end: a three-patch mbox series (the project's two
prefetch patches and a neutral comment patch) against 6.1 (`--base
upstream`), shadow paging, file-mmap, three repetitions. From patches to a
printed verdict in one command; the run folder must be enough to rerun it."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import pytest

from tests.e2e.abrun import run_ab

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SERIES = (ROOT / "kernels/patches/0001-KVM-MMU-remove-pte-prefetch.patch",
          ROOT / "kernels/patches/0002-KVM-MMU-prefetch-ptes-when-intercepted-guest-PF.patch",
          ROOT / "tests/data/ab/0003-KVM-MMU-say-which-paging-modes-mmu.c-serves.patch")
SUBJECTS = ["KVM: MMU: remove pte prefetch", "KVM: MMU: prefetch ptes when intercepted guest #PF",
            "KVM: MMU: say which paging modes mmu.c serves"]


@pytest.fixture(scope="module")
def ab_run(tmp_path_factory) -> tuple[int, str, Path, float]:
    work = tmp_path_factory.mktemp("ab")
    mbox = work / "series.mbox"
    mbox.write_bytes(b"".join(p.read_bytes() for p in SERIES))  # as git format-patch --stdout writes a series
    run = run_ab(["--base", "upstream", str(mbox), "--config", str(HERE / "ab-tiny.yaml")], work)
    return run.rc, run.printed, run.folder, run.wall_s


def test_ab_prints_a_verdict_and_keeps_what_it_made(ab_run):
    rc, printed, folder, wall = ab_run
    print(f"\norchestrator ab: {wall:.0f} s from the command to the printed verdict", file=sys.stderr)
    assert rc == 0, printed
    assert "b against a" in printed and "kvm.pf_fixed" in printed
    ab = folder / "ab"
    for name in ("ab.yaml", "kernels/a.yaml", "kernels/b.yaml"):
        assert (ab / name).is_file(), name
    copied = sorted(p.name for p in (ab / "patches").iterdir())
    assert len(copied) == 3 and copied[0].startswith("0001-") and copied[2].startswith("0003-")
    assert "../patches/0003-" in (ab / "kernels/b.yaml").read_text()


def test_manifest_names_the_series(ab_run):
    _, printed, folder, _ = ab_run
    manifest = json.loads((folder / "manifest.json").read_text())
    kernels = manifest["artifacts"]["kernels"]
    assert kernels["a"]["patches"] == []
    assert [p["subject"] for p in kernels["b"]["patches"]] == SUBJECTS
    assert kernels["b"]["patches"][2]["author"] == "Ada Reviewer <ada@example.org>"
    for subject in SUBJECTS:
        assert subject in printed  # the verdict names what B carries


def test_pf_fixed_medians(ab_run):
    _, _, folder, _ = ab_run
    per: dict[str, list[float]] = {"a": [], "b": []}
    for path in (folder / "cells").glob("*.json"):
        r = json.loads(path.read_text())
        assert r["status"] == "ok", r.get("failure")
        per[r["cell"]["kernel"]].append(r["metrics"]["kvm.pf_fixed"])
    assert len(per["a"]) == len(per["b"]) == 3
    print(f"\nkvm.pf_fixed median a={statistics.median(per['a']):.0f} b={statistics.median(per['b']):.0f}",
          file=sys.stderr)
