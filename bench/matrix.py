#!/usr/bin/env python3
"""Cell overhead and matrix throughput, measured with `orchestrator run`.

    .venv/bin/python bench/matrix.py [--reps 4] [--rounds 1] [--config configs/nested-ept-off.yaml]

Runs the config's file-mmap cells (both kernels, --repeat REPS) three ways,
in the same session so the host's noise hits all of them:
  boot      --start boot --jobs 1       every cell boots its own L1 and L2
  snapshot  --start snapshot --jobs 1   L1+L2 booted once per kernel, restored per cell
  jobs 2    --start snapshot --jobs 2
and prints the per-cell overhead (cell wall time minus workload time), the
matrix throughput (cells per minute of wall time, builds cached), and the
ratios the performance issue asks for. Kernel build and boot times: see
bench/kernel_build.py and bench/boot.py. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import common

from orchestrator import proc

ROOT = Path(__file__).resolve().parents[1]
WAYS = {
    "boot, --jobs 1": ["--start", "boot", "--jobs", "1"],
    "snapshot, --jobs 1": ["--start", "snapshot", "--jobs", "1"],
    "snapshot, --jobs 2": ["--start", "snapshot", "--jobs", "2"],
}


def one_run(config: str, reps: int, extra: list[str], results: Path) -> tuple[float, list[dict]]:
    before = set(results.iterdir()) if results.exists() else set()
    argv = [sys.executable, "-m", "orchestrator", "run", config, "--only", "workload=file-mmap",
            "--repeat", str(reps), "--results", str(results), *extra]
    start = time.monotonic()
    proc.run(argv, cwd=ROOT, timeout=3600, check=False)
    wall = time.monotonic() - start
    (run,) = set(results.iterdir()) - before
    records = [json.loads(p.read_text()) for p in sorted((run / "cells").glob("*.json"))]
    return wall, records


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/nested-ept-off.yaml")
    ap.add_argument("--reps", type=int, default=4, help="repetitions per kernel (cells = 2 x reps)")
    ap.add_argument("--rounds", type=int, default=1, help="runs of each way (throughput samples)")
    args = ap.parse_args()
    overhead: dict[str, list[float]] = {w: [] for w in WAYS}
    warm_overhead: dict[str, list[float]] = {w: [] for w in WAYS}
    throughput: dict[str, list[float]] = {w: [] for w in WAYS}
    failed = 0
    with tempfile.TemporaryDirectory(prefix="bench-matrix-") as tmp:
        for _ in range(args.rounds):
            for way, extra in WAYS.items():
                wall, records = one_run(args.config, args.reps, extra, Path(tmp))
                failed += sum(r["status"] != "ok" for r in records)
                throughput[way].append(len(records) / wall * 60)
                for r in records:
                    t = r["timings"]
                    if "overhead_s" in t:
                        overhead[way].append(t["overhead_s"])
                        if "l1_boot_s" not in t:  # restored, not the cell that booted its template
                            warm_overhead[way].append(t["overhead_s"])
                print(f"# {way}: {len(records)} cells in {wall:.1f} s", flush=True)
    common.report("per-cell overhead: cell wall time minus workload time (every cell)", overhead)
    common.report("per-cell overhead of restored cells (not the one that booted the template)",
                  {w: v for w, v in warm_overhead.items() if v})
    common.report("matrix throughput", throughput, unit="cells/min")
    med = {w: statistics.median(v) for w, v in throughput.items() if v}
    boot, warm = statistics.median(overhead["boot, --jobs 1"]), statistics.median(overhead["snapshot, --jobs 1"])
    print("== ratios")
    print(f"overhead snapshot / boot (--jobs 1)        {warm:6.2f} s / {boot:6.2f} s = {warm / boot:.2f}")
    print(f"throughput --jobs 2 / --jobs 1 (snapshot)  {med['snapshot, --jobs 2'] / med['snapshot, --jobs 1']:.2f}x")
    print(f"throughput snapshot / boot (--jobs 1)      {med['snapshot, --jobs 1'] / med['boot, --jobs 1']:.2f}x")
    if failed:
        print(f"!! {failed} cells failed; their figures are left out")


if __name__ == "__main__":
    main()
