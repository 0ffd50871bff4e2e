"""The kernel's own kvm_stat, in logging mode (-l, CSV) for L2's QEMU while
the workload runs; the per-interval values summed give the workload's totals."""

from __future__ import annotations

import csv
import io
import time

from orchestrator.collectors.base import REMOTE_DIR, Collected, Context, fetch, start_background, stop_background

NAME = "kvm-stat"
REMOTE = f"{REMOTE_DIR}/kvm_stat.csv"
# Short intervals: SIGTERM loses the one in progress, so stopping waits one out.
INTERVAL_S = 0.25
_WAIT_HEADER = 'i=0; until grep -q "^timestamp" "$1" 2>/dev/null || [ $i -ge 1200 ]; do sleep 0.05; i=$((i+1)); done'


def parse(text: str) -> dict[str, float]:
    rows = [r for r in csv.reader(io.StringIO(text)) if r]
    header = next((r for r in rows if r and r[0].strip().lower() == "timestamp"), None)
    if header is None:
        raise RuntimeError("kvm_stat produced no CSV header")
    sums: dict[str, float] = {}
    start = rows.index(header) + 1
    for row in rows[start:]:
        if row == header:
            continue
        for name, value in zip(header[1:], row[1:]):
            try:
                sums[name.strip()] = sums.get(name.strip(), 0.0) + float(value)
            except ValueError:
                continue
    return sums


class KvmStat:
    name = NAME

    def start(self, ctx: Context) -> None:
        ctx.state[NAME] = start_background(
            # unbuffered: every interval reaches the file before SIGTERM ends it
            ctx, ["env", "PYTHONUNBUFFERED=1", "kvm_stat", "-p", str(ctx.l2_pid), "-d", "-l", "-c", "-s", str(INTERVAL_S)], REMOTE)

        # kvm_stat takes seconds to start under TCG: begin the workload only
        # once it logs, or the first interval is lost
        ctx.l1.run(["sh", "-c", _WAIT_HEADER, "orch-wait", REMOTE], timeout=90)

    def stop(self, ctx: Context) -> Collected:
        time.sleep(INTERVAL_S + 0.15)  # let the interval holding the workload's end be logged
        stop_background(ctx, ctx.state.pop(NAME), signal="TERM")
        text = fetch(ctx, REMOTE, "kvm_stat.csv")
        return Collected({f"kvm_stat.{k}": v for k, v in parse(text).items()}, ["kvm_stat.csv"])
