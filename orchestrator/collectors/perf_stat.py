"""perf stat on the kvm: tracepoints of L2's QEMU while the workload runs."""

from __future__ import annotations

from orchestrator.collectors.base import REMOTE_DIR, Collected, Context, fetch, start_background, stop_background, wait_perf_events

NAME = "perf-stat"
REMOTE = f"{REMOTE_DIR}/perf-stat.csv"


def parse(text: str) -> dict[str, float]:
    """perf stat -x, lines: count,unit,event,..."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        parts = line.split(",")
        if len(parts) < 3:
            continue
        try:
            out[parts[2]] = float(parts[0])
        except ValueError:
            continue  # "<not counted>" / "<not supported>"
    return out


class PerfStat:
    name = NAME

    def start(self, ctx: Context) -> None:
        ctx.state[NAME] = start_background(
            ctx, ["perf", "stat", "-e", "kvm:*", "-p", str(ctx.l2_pid), "-x", ",", "-o", REMOTE], f"{REMOTE}.out")
        wait_perf_events(ctx, ctx.state[NAME])

    def stop(self, ctx: Context) -> Collected:
        stop_background(ctx, ctx.state.pop(NAME))
        counts = parse(fetch(ctx, REMOTE, "perf-stat.csv"))
        if not counts:
            raise RuntimeError("perf stat counted no kvm: tracepoint (is tracefs mounted in L1?)")
        return Collected({f"perf.{k}": v for k, v in counts.items()}, ["perf-stat.csv"])
