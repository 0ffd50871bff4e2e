"""perf stat on KVM's tracepoints for L2's QEMU while the workload runs.

Started in `prepare` with its events disabled (-D -1) and a control fifo;
`start`/`stop` enable and disable them, so a warm start pays perf's start-up
once per saved L1. The events are a chosen few: every extra tracepoint costs
perf a format parse at exit (all of kvm:* takes ~3 s under TCG). Those
that L1's kernel lacks (tracepoints are renamed between versions) are left
out, and the cell's notes name them.
"""

from __future__ import annotations

from orchestrator.collectors.base import (
    REMOTE_DIR, Collected, Context, available_events, perf_control, save_log, start_perf, stop_perf,
)

NAME = "perf-stat"
MISSING = f"{NAME}.missing"  # in the collectors' state: the events L1's kernel lacks
FIFOS = f"{REMOTE_DIR}/perf-stat"
REMOTE = f"{REMOTE_DIR}/perf-stat.csv"
EVENTS = (
    "kvm:kvm_exit", "kvm:kvm_entry", "kvm:kvm_page_fault", "kvm:kvm_pio", "kvm:kvm_msr",
    "kvm:kvm_inj_exception", "kvm:kvm_emulate_insn",
    # the shadow MMU: sptes installed (prefetched ones too), faults that asked, pages made
    "kvmmmu:kvm_mmu_set_spte", "kvmmmu:kvm_mmu_spte_requested", "kvmmmu:kvm_mmu_get_page",
    "kvmmmu:kvm_mmu_prepare_zap_page", "kvmmmu:fast_page_fault",
)


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

    def prepare(self, ctx: Context) -> None:
        events, ctx.state[MISSING] = available_events(ctx, EVENTS)
        if not events:
            raise RuntimeError(f"L1's kernel has none of the tracepoints perf stat counts: {', '.join(EVENTS)}")
        ctx.state[NAME] = start_perf(
            ctx, FIFOS, ["perf", "stat", "-e", ",".join(events), "-p", str(ctx.l2_pid), "-x", ",", "-o", REMOTE],
            f"{REMOTE}.out")

    def start(self, ctx: Context) -> None:
        perf_control(ctx, FIFOS, "enable")

    def stop(self, ctx: Context) -> Collected:
        # perf stat writes its counts as it exits
        text = save_log(ctx, "perf-stat.csv", stop_perf(ctx, FIFOS, ctx.state.pop(NAME), ["cat", REMOTE]).stdout)
        counts = parse(text)
        if not counts:
            raise RuntimeError("perf stat counted no KVM tracepoint (is tracefs mounted in L1?)")
        missing = ctx.state.get(MISSING)
        return Collected({f"perf.{k}": v for k, v in counts.items()}, ["perf-stat.csv"],
                         {"perf_stat_missing_events": missing} if missing else {})
