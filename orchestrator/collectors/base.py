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
# perf opens its events a moment after it starts: the workload must not
# begin before, or its first faults go uncounted
_WAIT_PERF = 'i=0; until ls -l /proc/"$1"/fd 2>/dev/null | grep -q perf_event || [ $i -ge 200 ]; do sleep 0.05; i=$((i+1)); done; ls -l /proc/"$1"/fd | grep -q perf_event'
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
    name: str

    def start(self, ctx: Context) -> None: ...

    def stop(self, ctx: Context) -> Collected: ...


def start_background(ctx: Context, argv: list[str], remote_out: str) -> int:
    out = ctx.l1.run(["sh", "-c", _BACKGROUND, "orch-bg", remote_out, *argv], check=True).stdout.strip()
    return int(out.splitlines()[-1])


def wait_perf_events(ctx: Context, pid: int) -> None:
    if ctx.l1.run(["sh", "-c", _WAIT_PERF, "orch-wait", str(pid)], timeout=30).exit_code != 0:
        raise RuntimeError(f"perf (pid {pid} in L1) opened no perf event within 10 s")


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
