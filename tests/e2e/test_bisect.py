"""`orchestrator bisect` end to end: a series on Debian's 6.1 where one
patch, "KVM: MMU: remove pte prefetch", carries the effect (file-mmap's
fixed faults with shadow paging go up) and the others are documentation
or a comment. The bisect must name that patch, probing about log2(n)
steps between the ends. CI bisects a series of two; the nightly one of
seven, the effect fourth."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import pytest

from orchestrator.cli.main import main

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DATA = HERE.parent / "data"
EFFECT = ROOT / "kernels/patches/0001-KVM-MMU-remove-pte-prefetch.patch"
COMMENT = DATA / "ab/0003-KVM-MMU-say-which-paging-modes-mmu.c-serves.patch"


def bisect(work: Path, patches: list[Path]) -> tuple[int, dict, str, float]:
    results = work / "results"
    out = work / "stdout.txt"
    start = time.monotonic()
    capture = pytest.MonkeyPatch()
    with open(out, "w") as f:
        capture.setattr(sys, "stdout", f)
        try:
            rc = main(["bisect", "--base", "upstream", *map(str, patches), "--config", str(HERE / "series-tiny.yaml"),
                       "--metric", "kvm.pf_fixed", "--where", "tdp=off", "--where", "workload=file-mmap",
                       "--results", str(results)])
        finally:
            capture.undo()
    (folder,) = [p for p in results.iterdir() if p.name.startswith("bisect-")]
    return rc, json.loads((folder / "bisect.json").read_text()), out.read_text(), time.monotonic() - start


def _middle_probes(log: dict) -> list[str]:
    last = f"p{len(log['steps']) - 1}"
    return [s for s, p in log["probes"].items() if s not in ("p0", last) and p.get("verdict")]


def test_bisect_names_the_patch_of_a_two_patch_series(tmp_path):
    rc, log, printed, wall = bisect(tmp_path, [DATA / "bisect/docs-mmu.patch", EFFECT])
    print(f"\nbisect of 2: {wall:.0f} s, probes {sorted(log['probes'])}", file=sys.stderr)
    assert rc == 0, printed
    assert log["direction"] == "increase"
    assert log["answer"]["first_bad"] == "p2" and log["answer"]["may_be"] == ["p2"]
    assert _middle_probes(log) == ["p1"] and log["probes"]["p1"]["verdict"] == "good"
    assert "first bad: p2 KVM: MMU: remove pte prefetch" in printed and "evidence: p1 -> p2" in printed


@pytest.mark.nightly
def test_bisect_finds_the_effect_in_a_series_of_seven_in_log2_probes(tmp_path):
    series = [DATA / "bisect/docs-mmu.patch", DATA / "bisect/docs-locking.patch", COMMENT, EFFECT,
              DATA / "bisect/docs-nested.patch", DATA / "bisect/docs-review.patch", DATA / "bisect/docs-index.patch"]
    rc, log, printed, wall = bisect(tmp_path, series)
    middle = _middle_probes(log)
    print(f"\nbisect of 7: {wall:.0f} s, middle probes {middle}", file=sys.stderr)
    assert rc == 0, printed
    assert log["answer"]["first_bad"] == "p4" and log["answer"]["may_be"] == ["p4"]
    assert len(middle) <= math.ceil(math.log2(len(series)))
    assert "first bad: p4 KVM: MMU: remove pte prefetch" in printed
