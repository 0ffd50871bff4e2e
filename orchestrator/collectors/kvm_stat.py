"""The kernel's own kvm_stat, in logging mode (-l, CSV) for L2's QEMU; the
per-interval values summed over the workload give its totals.

kvm_stat takes seconds to start under TCG, so `prepare` starts it, waits
for its header and stops it (SIGSTOP); a warm start saves it that way.
`start` continues it and waits for its first row, which covers the time it
was stopped (and, after a restore, the restore itself): that row and those
before it are left out; the workload begins after it. `stop` waits for the
row that holds the workload's end, then ends kvm_stat.
"""

from __future__ import annotations

import csv

from orchestrator.collectors.base import (
    REMOTE_DIR, Collected, Context, bash, end_process, next_line, save_log, start_background,
)

NAME = "kvm-stat"
REMOTE = f"{REMOTE_DIR}/kvm_stat.csv"
# SIGTERM loses the interval in progress, so stopping waits one out: short
# intervals, but each costs kvm_stat a debugfs walk on the one emulated vCPU.
INTERVAL_S = 0.5


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


# the row holding the workload's end, then the end of kvm_stat and its log
_STOP = """pid=$1 f=$2 wait=$3
follow "$f"
await_line "$wait"; r=$?
end_pid "$pid" TERM 10
cat "$f"
exit $r"""


class KvmStat:
    name = NAME

    def prepare(self, ctx: Context) -> None:
        pid = start_background(
            # unbuffered: every interval reaches the file before SIGTERM ends it
            ctx, ["env", "PYTHONUNBUFFERED=1", "kvm_stat", "-p", str(ctx.l2_pid), "-d", "-l", "-c", "-s", str(INTERVAL_S)], REMOTE)
        r = next_line(ctx, REMOTE, 90)  # its header
        if r.exit_code != 0:
            end_process(ctx, pid, "KILL")
            raise RuntimeError(f"kvm_stat wrote no header within 90 s (exit {r.exit_code}): {ctx.l1.run(['tail', '-c', '600', REMOTE]).stdout}")
        ctx.l1.run(["kill", "-STOP", str(pid)], check=True)
        ctx.state[NAME] = pid

    def start(self, ctx: Context) -> None:
        r = next_line(ctx, REMOTE, 20, ["kill", "-CONT", str(ctx.state[NAME])])
        if r.exit_code != 0:
            raise RuntimeError(f"kvm_stat logged nothing within 20 s of SIGCONT (exit {r.exit_code})")
        ctx.state[f"{NAME}.skip"] = int(r.stdout.split()[-1])

    def stop(self, ctx: Context) -> Collected:
        r = bash(ctx, _STOP, "orch-kvm-stat", str(ctx.state.pop(NAME)), REMOTE, str(INTERVAL_S * 10), timeout=60)
        text = save_log(ctx, "kvm_stat.csv", r.stdout)
        if r.exit_code != 0:
            raise RuntimeError(f"kvm_stat logged no row after the workload (exit {r.exit_code})")
        return Collected({f"kvm_stat.{k}": v for k, v in parse(text, ctx.state.pop(f"{NAME}.skip", 0)).items()},
                         ["kvm_stat.csv"])
