#!/usr/bin/env python3
"""Cell overhead and matrix throughput, measured with `orchestrator run`.

    .venv/bin/python bench/matrix.py [--rounds 1] [--config configs/nested-ept-off.yaml]

Runs the config three ways, in the same session so the host's noise hits
all of them:
  boot-j1      --start boot --jobs 1       every cell boots its own L1 and L2
                                        (4 file-mmap cells: enough for the overhead)
  snapshot-j1  --start snapshot --jobs 1   the whole matrix; L1+L2 booted once per
                                        kernel x tdp, restored for every cell
  snapshot-j2  --start snapshot --jobs 2   the whole matrix (the default run here)
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
BOOT_SAMPLE = ["--only", "workload=file-mmap", "--repeat", "2"]  # 4 cells: enough for its overhead
WAYS = {
    "boot-j1": ["--start", "boot", "--jobs", "1", *BOOT_SAMPLE],
    "snapshot-j1": ["--start", "snapshot", "--jobs", "1"],
    "snapshot-j2": ["--start", "snapshot", "--jobs", "2"],
}


def foreign_qemus() -> int:
    """QEMU processes on the host that this benchmark did not start: noise."""
    return sum(1 for p in Path("/proc").iterdir() if p.name.isdigit() and _is_qemu(p))


def _is_qemu(p: Path) -> bool:
    try:
        return (p / "comm").read_text().startswith("qemu-system")
    except OSError:
        return False


def one_run(config: str, extra: list[str], results: Path) -> tuple[float, list[dict]]:
    before = set(results.iterdir()) if results.exists() else set()
    argv = [sys.executable, "-m", "orchestrator", "run", config, "--results", str(results), *extra]
    start = time.monotonic()
    proc.run(argv, cwd=ROOT, timeout=3600, check=False)
    wall = time.monotonic() - start
    (run,) = set(results.iterdir()) - before
    records = [json.loads(p.read_text()) for p in sorted((run / "cells").glob("*.json"))]
    return wall, records


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/nested-ept-off.yaml")
    ap.add_argument("--keep", metavar="DIR", help="keep the runs' results here")
    ap.add_argument("--ways", default=",".join(WAYS), help="comma-separated, of: " + ", ".join(WAYS))
    ap.add_argument("--rounds", type=int, default=1, help="runs of each way (throughput samples)")
    args = ap.parse_args()
    ways = {w: WAYS[w] for w in (x.strip() for x in args.ways.split(",")) if w}
    overhead: dict[str, list[float]] = {w: [] for w in WAYS}
    warm_overhead: dict[str, list[float]] = {w: [] for w in WAYS}
    throughput: dict[str, list[float]] = {w: [] for w in WAYS}
    failed = 0
    wall_of: dict[str, list[float]] = {w: [] for w in WAYS}
    same_cells: dict[str, list[float]] = {w: [] for w in WAYS}
    with tempfile.TemporaryDirectory(prefix="bench-matrix-") as tmp:
        results = Path(args.keep) if args.keep else Path(tmp)
        for _ in range(args.rounds):
            for way, extra in ways.items():
                noise = foreign_qemus()
                wall, records = one_run(args.config, extra, results)
                wall_of[way].append(wall)
                failed += sum(r["status"] != "ok" for r in records)
                throughput[way].append(len(records) / wall * 60)
                for r in records:
                    t = r["timings"]
                    if "overhead_s" in t:
                        overhead[way].append(t["overhead_s"])
                        if "l1_boot_s" not in t:  # restored, not the cell that booted its template
                            warm_overhead[way].append(t["overhead_s"])
                        if r["cell"]["workload"] == "file-mmap":
                            same_cells[way].append(t["overhead_s"])
                print(f"# {way}: {len(records)} cells in {wall:.1f} s"
                      f" ({noise} other QEMU processes on the host at the start)", flush=True)
    common.report("per-cell overhead: cell wall time minus workload time (every cell)", overhead)
    common.report("per-cell overhead of restored cells (not the one that booted the template)",
                  {w: v for w, v in warm_overhead.items() if v})
    common.report("per-cell overhead, file-mmap cells only (like for like with boot)", same_cells)
    common.report("matrix throughput", throughput, unit="cells/min")
    common.report("wall time of each run", wall_of)
    med = {w: statistics.median(v) for w, v in throughput.items() if v}
    print("== ratios")
    if overhead.get("boot-j1") and same_cells.get("snapshot-j1"):
        boot, warm = statistics.median(overhead["boot-j1"]), statistics.median(same_cells["snapshot-j1"])
        print(f"overhead snapshot / boot (--jobs 1, file-mmap) {warm:6.2f} s / {boot:6.2f} s = {warm / boot:.2f}")
    for a, b in (("snapshot-j2", "snapshot-j1"), ("snapshot-j1", "boot-j1")):
        if a in med and b in med:
            print(f"throughput {a} / {b}: {med[a] / med[b]:.2f}x")
    if failed:
        print(f"!! {failed} cells failed; their figures are left out")


if __name__ == "__main__":
    main()
