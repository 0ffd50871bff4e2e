"""What collectors share: the context of one cell, and background recorders
started in L1 over SSH without any shell string built from config values."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from orchestrator.machine.machine import Machine

REMOTE_DIR = "/run/orchestrator/collect"

# Fixed scripts; every variable part arrives as a positional argument.
_BACKGROUND = 'out=$1; shift; mkdir -p "${out%/*}" && setsid "$@" >"$out" 2>&1 </dev/null & echo $!'
# gives up early when the process ($4) that should write the line is gone
_WAIT_LINE = ('i=0; until grep -q -- "$2" "$1" 2>/dev/null || [ $i -ge "$3" ] || ! kill -0 "$4" 2>/dev/null; '
              'do sleep 0.05; i=$((i+1)); done; grep -q -- "$2" "$1"')
_FIFOS = 'mkdir -p "$1" && rm -f "$1/ctl" "$1/ack" && mkfifo -m 0600 "$1/ctl" "$1/ack"'
# Read-write open of ack: it never blocks, and the ack cannot be missed.
# perf writes "ack\n" and a NUL, so only the line's arrival is checked.
_CONTROL = 'exec 3<>"$2"; echo "$3" >"$1"; read -r _ <&3'
_STOP = 'kill -"$2" "$1" 2>/dev/null; i=0; while kill -0 "$1" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; kill -0 "$1" 2>/dev/null && kill -KILL "$1"; true'


@dataclass
class Context:
    l1: Machine
    l2_pid: int  # L2's QEMU, as L1 sees it
    logs: Path  # this cell's log folder on the host
    state: dict[str, Any] = field(default_factory=dict)  # collectors' notes between start and stop


@dataclass
class Collected:
    metrics: dict[str, float] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)  # raw outputs saved under the cell's logs


class Collector(Protocol):
    """`prepare` does the slow part (starting a recorder, paused or with its
    events disabled) and may run once before L1 is saved for a warm start,
    so that every restored cell finds it ready; `start` and `stop` bracket
    the workload and must be cheap."""

    name: str

    def prepare(self, ctx: Context) -> None: ...

    def start(self, ctx: Context) -> None: ...

    def stop(self, ctx: Context) -> Collected: ...


def start_background(ctx: Context, argv: list[str], remote_out: str) -> int:
    out = ctx.l1.run(["sh", "-c", _BACKGROUND, "orch-bg", remote_out, *argv], check=True).stdout.strip()
    return int(out.splitlines()[-1])


def wait_for_line(ctx: Context, path: str, pattern: str, what: str, *, pid: int, timeout: float = 60) -> None:
    """Until `path` in L1 has a line matching the grep pattern, while `pid` lives."""
    r = ctx.l1.run(["sh", "-c", _WAIT_LINE, "orch-wait", path, pattern, str(int(timeout * 20)), str(pid)],
                   timeout=timeout + 30)
    if r.exit_code != 0:
        tail = ctx.l1.run(["tail", "-c", "600", path]).stdout.strip()
        raise RuntimeError(f"{what}: no {pattern!r} in {path} within {timeout:.0f}s: {tail}")


def perf_control(ctx: Context, fifo_dir: str, command: str) -> None:
    """perf's --control fifo: `enable` or `disable`, and wait for its ack."""
    r = ctx.l1.run(["timeout", "20", "sh", "-c", _CONTROL, "orch-ctl", f"{fifo_dir}/ctl", f"{fifo_dir}/ack", command], timeout=40)
    if r.exit_code != 0:
        raise RuntimeError(f"perf did not acknowledge {command!r} on {fifo_dir}/ctl (exit {r.exit_code})")


def perf_fifos(ctx: Context, fifo_dir: str) -> list[str]:
    """Make the control fifos; the argv words that hand them to perf, which
    starts with its events disabled (-D -1) until `enable`."""
    ctx.l1.run(["sh", "-c", _FIFOS, "orch-fifo", fifo_dir], check=True)
    return ["-D", "-1", "--control", f"fifo:{fifo_dir}/ctl,{fifo_dir}/ack"]


def stop_background(ctx: Context, pid: int, signal: str = "INT") -> None:
    """Stop a recorder and wait for it to write its output. A non-interactive
    shell starts background jobs with SIGINT ignored: perf catches SIGINT
    anyway; Python programs need TERM."""
    ctx.l1.run(["sh", "-c", _STOP, "orch-stop", str(pid), signal], timeout=60)


def fetch(ctx: Context, remote: str, name: str) -> str:
    """A remote file's text, also saved in the cell's logs as `name`."""
    text = ctx.l1.run(["cat", remote]).stdout
    (ctx.logs / name).write_text(text)
    return text


def numbers(pairs: dict[str, str]) -> dict[str, int]:
    out = {}
    for key, value in pairs.items():
        try:
            out[key] = int(value.strip())
        except ValueError:
            continue
    return out
