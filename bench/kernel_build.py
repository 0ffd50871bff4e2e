#!/usr/bin/env python3
"""Kernel build times on this host, in a fresh cache (nothing shared with
your real cache, ccache included):

  1. cold build of `baseline`       (target <= 6 min on 2 cores)
  2. then `patched`                  (target <= 60 s: only the patch's files)
  3. `patched` again: a cache hit    (target <= 2 s)
  4. `upstream` (no patches)         (incremental, like patched)

    .venv/bin/python bench/kernel_build.py [--keep]

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import common

from orchestrator.build.kernel import KernelBuilder
from orchestrator.paths import Project


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", action="store_true", help="keep the temporary cache")
    args = ap.parse_args()
    project = Project(Path(__file__).resolve().parents[1])
    cache = Path(tempfile.mkdtemp(prefix="bench-kernel-"))
    figures: dict[str, list[float]] = {}
    try:
        builder = KernelBuilder(project, cache=cache)
        for label, name in (("cold baseline", "baseline"), ("patched after baseline", "patched"),
                            ("patched again (cache hit)", "patched"), ("upstream after patched", "upstream")):
            t = time.monotonic()
            k = builder.build(name)
            figures[label] = [time.monotonic() - t]
            phases = k.metadata["durations_s"]
            print(f"{label:32s} {figures[label][0]:8.1f} s  cached={k.cached}  phases={phases}", flush=True)
        common.report("kernel builds (one run each, fresh cache)", figures)
    finally:
        if args.keep:
            print(f"cache kept in {cache}")
        else:
            shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
