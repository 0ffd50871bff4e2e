"""perf kvm stat record/report: L2's exits by reason while the workload runs.

The recorder starts in `prepare` with its events disabled and a control
fifo (perf kvm stat record hands both options to perf record), then is
stopped (SIGSTOP); `start` continues and enables it, `stop` disables and
ends it; the report is made in L1 (copying the recording out costs as much:
it reaches 16 MB). It is prepared for each cell, never saved with a warm
start's L1: a perf record that lived through a restore (L1's clock jumps
forward) slowed L2's workloads fourfold.
"""

from __future__ import annotations

import re

from orchestrator.collectors.base import (
    REMOTE_DIR, Collected, Context, fetch, perf_control, perf_fifos, start_background, stop_background, wait_for_line,
)

NAME = "perf-kvm-stat"
FIFOS = f"{REMOTE_DIR}/perf-kvm"
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
    save_prepared = False  # see above: prepared per cell

    def prepare(self, ctx: Context) -> None:
        control = perf_fifos(ctx, FIFOS)
        ctx.state[NAME] = start_background(
            ctx, ["perf", "kvm", "stat", "record", "-p", str(ctx.l2_pid), "-o", DATA, *control], f"{DATA}.out")
        wait_for_line(ctx, f"{DATA}.out", "Events disabled", "perf kvm stat record", pid=ctx.state[NAME])
        # Stopped until the cell: left running across a restore (L1's clock
        # jumps) perf record spun and slowed L1 and L2 threefold.
        ctx.l1.run(["kill", "-STOP", str(ctx.state[NAME])], check=True)

    def start(self, ctx: Context) -> None:
        ctx.l1.run(["kill", "-CONT", str(ctx.state[NAME])], check=True)
        perf_control(ctx, FIFOS, "enable")

    def stop(self, ctx: Context) -> Collected:
        perf_control(ctx, FIFOS, "disable")
        stop_background(ctx, ctx.state.pop(NAME))
        fetch(ctx, f"{DATA}.out", "perf-kvm-record.log")
        text = report(ctx)
        (ctx.logs / "perf-kvm-stat.txt").write_text(text)
        exits = parse(text)
        if not exits:
            raise RuntimeError("perf kvm stat report shows no exits")
        return Collected({f"perf.exits.{k}": v for k, v in exits.items()}, ["perf-kvm-stat.txt"])


def report(ctx: Context) -> str:
    r = ctx.l1.run(["perf", "kvm", "-i", DATA, "stat", "report", "--event=vmexit"], timeout=300)
    return r.stdout + r.stderr
