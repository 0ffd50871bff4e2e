"""The kernel's own kvm_stat, in logging mode (-l, CSV) for L2's QEMU while
the workload runs; the per-interval values summed give the workload's totals."""

from __future__ import annotations

import csv
import io

from orchestrator.collectors.base import REMOTE_DIR, Collected, Context, fetch, start_background, stop_background

NAME = "kvm-stat"
REMOTE = f"{REMOTE_DIR}/kvm_stat.csv"


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
            ctx, ["kvm_stat", "-p", str(ctx.l2_pid), "-d", "-l", "-c", "-s", "1"], REMOTE)

    def stop(self, ctx: Context) -> Collected:
        stop_background(ctx, ctx.state.pop(NAME))
        text = fetch(ctx, REMOTE, "kvm_stat.csv")
        return Collected({f"kvm_stat.{k}": v for k, v in parse(text).items()}, ["kvm_stat.csv"])
