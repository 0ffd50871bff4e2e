"""The kernel's own kvm_stat, in logging mode (-l, CSV) for L2's QEMU; the
per-interval values summed over the workload give its totals.

kvm_stat takes seconds to start under TCG, so `prepare` starts it, waits
for its header and stops it (SIGSTOP); a warm start saves it that way.
`start` continues it and waits for its first row, which covers the time it
was stopped (and, after a restore, the restore itself): that row and those
before it are left out; the workload begins after it.
"""

from __future__ import annotations

import csv
import io

from orchestrator.collectors.base import REMOTE_DIR, Collected, Context, fetch, start_background, stop_background, wait_for_line

NAME = "kvm-stat"
REMOTE = f"{REMOTE_DIR}/kvm_stat.csv"
# SIGTERM loses the interval in progress, so stopping waits one out: short
# intervals, but each costs kvm_stat a debugfs walk on the one emulated vCPU.
INTERVAL_S = 0.5
# prints how many lines to leave out: those before CONT and the first after
_RESUME = ('n=$(wc -l <"$2"); kill -CONT "$1"; i=0; '
           'until [ "$(wc -l <"$2")" -gt "$n" ] || [ $i -ge 400 ]; do sleep 0.05; i=$((i+1)); done; '
           '[ "$(wc -l <"$2")" -gt "$n" ] && echo $((n+1))')


_NEXT_ROW = ('n=$(wc -l <"$1"); i=0; '
             'until [ "$(wc -l <"$1")" -gt "$n" ] || [ $i -ge 100 ]; do sleep 0.05; i=$((i+1)); done')


def parse(text: str, skip_lines: int = 0) -> dict[str, float]:
    lines = text.splitlines()
    header = next((r for r in csv.reader(lines) if r and r[0].strip().lower() == "timestamp"), None)
    if header is None:
        raise RuntimeError("kvm_stat produced no CSV header")
    sums: dict[str, float] = {}
    for row in csv.reader(lines[skip_lines:]):
        if not row or row == header:
            continue
        for name, value in zip(header[1:], row[1:]):
            try:
                sums[name.strip()] = sums.get(name.strip(), 0.0) + float(value)
            except ValueError:
                continue
    return sums


class KvmStat:
    name = NAME

    def prepare(self, ctx: Context) -> None:
        pid = start_background(
            # unbuffered: every interval reaches the file before SIGTERM ends it
            ctx, ["env", "PYTHONUNBUFFERED=1", "kvm_stat", "-p", str(ctx.l2_pid), "-d", "-l", "-c", "-s", str(INTERVAL_S)], REMOTE)
        wait_for_line(ctx, REMOTE, "^timestamp", "kvm_stat", timeout=90, pid=pid)
        ctx.l1.run(["kill", "-STOP", str(pid)], check=True)
        ctx.state[NAME] = pid

    def start(self, ctx: Context) -> None:
        r = ctx.l1.run(["sh", "-c", _RESUME, "orch-resume", str(ctx.state[NAME]), REMOTE], timeout=60)
        if r.exit_code != 0:
            raise RuntimeError(f"kvm_stat logged nothing within 20 s of SIGCONT (exit {r.exit_code})")
        ctx.state[f"{NAME}.skip"] = int(r.stdout.strip().splitlines()[-1])

    def stop(self, ctx: Context) -> Collected:
        # the interval holding the workload's end must be logged before TERM
        ctx.l1.run(["sh", "-c", _NEXT_ROW, "orch-row", REMOTE], timeout=60)
        stop_background(ctx, ctx.state.pop(NAME), signal="TERM")
        text = fetch(ctx, REMOTE, "kvm_stat.csv")
        return Collected({f"kvm_stat.{k}": v for k, v in parse(text, ctx.state.pop(f"{NAME}.skip", 0)).items()},
                         ["kvm_stat.csv"])
