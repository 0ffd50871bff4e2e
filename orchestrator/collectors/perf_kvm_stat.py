"""perf kvm stat report: L2's exits by reason while the workload runs.

The recorder (perf record with perf kvm stat record's events and options,
see RECORD) starts in `prepare` with its events disabled and a control
fifo; `start` enables it, `stop` disables and ends it and makes the report
in L1, in the same SSH command (copying the recording out costs more: it
reaches 16 MB).

It is prepared for each cell, never saved with a warm start's L1: a perf
record that lived through a restore spins in its poll (restart_syscall, at
100% of L1's one vCPU) and slowed L2's workloads fourfold.
"""

from __future__ import annotations

import re

from orchestrator.collectors.base import (
    REMOTE_DIR, Collected, Context, perf_control, save_log, start_perf, stop_perf,
)

NAME = "perf-kvm-stat"
FIFOS = f"{REMOTE_DIR}/perf-kvm"
DATA = f"{REMOTE_DIR}/perf-kvm.data"
# What `perf kvm stat record` runs on x86 (tools/perf/builtin-kvm.c and
# arch/x86/util/kvm-stat.c), plus -B -N: it refuses --no-buildid, and the
# build-id pass over the recording at its exit costs ~0.3 s of L1's one
# vCPU in every cell. The recording has no code samples to resolve.
# --no-bpf-event: the recording needs no BPF program events, and Debian 12's
# perf (6.1) on a 6.12 L1 sometimes fails to synthesize them and exits.
RECORD = ["perf", "record", "-R", "-m", "1024", "-c", "1", "-B", "-N", "--no-bpf-event",
          "-e", "kvm:kvm_entry,kvm:kvm_exit,kvm:kvm_mmio,kvm:kvm_pio,kvm:kvm_msr"]
REPORT = ["perf", "kvm", "-i", DATA, "stat", "report", "--event=vmexit"]
MARK = "--- orchestrator: perf kvm stat report ---"
_LOG_THEN_REPORT = 'cat "$1"; echo "$2"; shift 2; exec "$@" 2>&1'
# a reason may be two words ("PF excp" on AMD): everything before the count
_ROW = re.compile(r"^\s*(\S.*?)\s+(\d+)\s+([\d.]+)%")


def parse(text: str) -> dict[str, float]:
    """The report's table: reason, samples, samples%, ..."""
    out = {}
    for line in text.splitlines():
        m = _ROW.match(line)
        if m and m.group(1) not in ("Total", "VM-EXIT"):
            out["_".join(m.group(1).split())] = float(m.group(2))
    return out


class PerfKvmStat:
    name = NAME
    save_prepared = False  # see above: prepared per cell

    def prepare(self, ctx: Context) -> None:
        ctx.state[NAME] = start_perf(ctx, FIFOS, [*RECORD, "-p", str(ctx.l2_pid), "-o", DATA], f"{DATA}.out")

    def start(self, ctx: Context) -> None:
        perf_control(ctx, FIFOS, "enable")

    def stop(self, ctx: Context) -> Collected:
        # the recorder's own log, a marker, then the report (perf writes it to stderr)
        r = stop_perf(ctx, FIFOS, ctx.state.pop(NAME), ["sh", "-c", _LOG_THEN_REPORT, "orch-report", f"{DATA}.out",
                                                       MARK, *REPORT])
        log, _, text = r.stdout.partition(f"{MARK}\n")
        save_log(ctx, "perf-kvm-record.log", log + r.stderr)
        save_log(ctx, "perf-kvm-stat.txt", text)
        exits = parse(text)
        if not exits:
            raise RuntimeError(f"perf kvm stat report shows no exits: {(log + text).strip()[-300:]}")
        return Collected({f"perf.exits.{k}": v for k, v in exits.items()}, ["perf-kvm-stat.txt"])
