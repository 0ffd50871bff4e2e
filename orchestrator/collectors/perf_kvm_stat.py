"""perf kvm stat record/report: L2's exits by reason while the workload runs."""

from __future__ import annotations

import re

from orchestrator.collectors.base import REMOTE_DIR, Collected, Context, fetch, start_background, stop_background, wait_perf_events

NAME = "perf-kvm-stat"
DATA = f"{REMOTE_DIR}/perf-kvm.data"
_ROW = re.compile(r"^\s*(\S+)\s+(\d+)\s+([\d.]+)%")


def parse(text: str) -> dict[str, float]:
    """The report's table: reason, samples, samples%, ..."""
    out = {}
    for line in text.splitlines():
        m = _ROW.match(line)
        if m and m.group(1) not in ("Total", "VM-EXIT"):
            out[m.group(1)] = float(m.group(2))
    return out


class PerfKvmStat:
    name = NAME

    def start(self, ctx: Context) -> None:
        ctx.state[NAME] = start_background(
            ctx, ["perf", "kvm", "stat", "record", "-p", str(ctx.l2_pid), "-o", DATA], f"{DATA}.out")
        wait_perf_events(ctx, ctx.state[NAME])

    def stop(self, ctx: Context) -> Collected:
        stop_background(ctx, ctx.state.pop(NAME))
        report = ctx.l1.run(["perf", "kvm", "-i", DATA, "stat", "report", "--event=vmexit"], timeout=300)
        text = report.stdout + report.stderr
        (ctx.logs / "perf-kvm-stat.txt").write_text(text)
        fetch(ctx, f"{DATA}.out", "perf-kvm-record.log")
        exits = parse(text)
        if not exits:
            raise RuntimeError("perf kvm stat report shows no exits")
        return Collected({f"perf.exits.{k}": v for k, v in exits.items()}, ["perf-kvm-stat.txt"])
