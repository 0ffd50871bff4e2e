"""What collectors share: the context of one cell, and background recorders
started in L1 over SSH without any shell string built from config values."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # for the annotation only: the machine layer pulls in fabric, which a config check does not need
    from orchestrator.machine.machine import Machine

REMOTE_DIR = "/run/orchestrator/collect"

# Fixed bash scripts; every variable part arrives as a positional argument.
# Each collector step is one SSH command, and waits block in `read -t` or
# `tail` rather than polling: on L1's one emulated vCPU every fork+exec of a
# `sleep` costs ~35 ms, and every SSH command ~90 ms.
#
# Functions every script gets (see `bash`):
#   end_pid PID SIG GRACE  signal PID and wait for its exit; KILL after GRACE s
#   follow FILE            count FILE's lines into $n and follow it from the
#                          next one (`tail -n +K` counts from the start, so a
#                          line written before tail opens it still counts; a
#                          coprocess, as L1 has no /dev/fd for <(...))
#   await_line WAIT        until that line comes (status 0) or WAIT s pass
_LIB = """end_pid() { kill -"$2" "$1" 2>/dev/null
  timeout "$3" tail --pid="$1" -s 0.02 -f /dev/null || kill -KILL "$1" 2>/dev/null; }
follow() { n=$(wc -l <"$1" 2>/dev/null) || n=0
  coproc T { exec tail -n +$((n+1)) -F "$1" 2>/dev/null; }; }
await_line() { read -r -t "$1" _ <&"${T[0]}"; local r=$?; kill "$T_PID" 2>/dev/null; return $r; }
"""
# (`a && b &` would keep a subshell, and the SSH channel, open: one command per line)
_BACKGROUND = 'out=$1; shift; mkdir -p "${out%/*}" || exit 90; setsid "$@" >"$out" 2>&1 </dev/null & echo $!'
# perf with its events disabled (-D -1) and a control fifo pair; prints its
# pid, then returns once perf acknowledged a ping: it is set up and waiting.
# Both fifos are held open read-write here, so no open blocks on perf.
_PERF_START = """d=$1 out=$2 wait=$3; shift 3
mkdir -p "$d" && rm -f "$d/ctl" "$d/ack" && mkfifo -m 0600 "$d/ctl" "$d/ack" || exit 90
exec 3<>"$d/ack" 4<>"$d/ctl"
setsid "$@" -D -1 --control "fifo:$d/ctl,$d/ack" >"$out" 2>&1 </dev/null 3>&- 4>&- &
pid=$!
echo "$pid"
echo ping >&4
i=0
until read -r -t 0.5 _ <&3; do
  kill -0 "$pid" 2>/dev/null || { echo "perf exited before it was ready" >&2; exit 91; }
  i=$((i+1)); [ "$i" -lt $((wait*2)) ] || { kill -KILL "$pid"; echo "perf not ready within ${wait}s" >&2; exit 92; }
done"""
# a perf control command (enable, disable) and its ack; perf writes "ack\n"
# and a NUL, so only the line's arrival is checked.
_CONTROL = 'exec 3<>"$1/ack" 4<>"$1/ctl"; echo "$2" >&4; read -r -t 20 _ <&3'
# disable, SIGINT and the exit of perf ($2, control fifos in $1) in one go,
# then the rest of the arguments (reading its output); exit 95 if perf did
# not acknowledge the disable (its counts would run on past the workload)
_PERF_STOP = """d=$1 pid=$2; shift 2
exec 3<>"$d/ack" 4<>"$d/ctl"
echo disable >&4
r=0; read -r -t 20 _ <&3 || r=95
end_pid "$pid" INT 20
[ $# -eq 0 ] || "$@" || exit
exit $r"""
# Which of the tracepoints after $1 $2 (tracefs mounts, the first that has
# events/ counts) L1's kernel has, one a line; exit 96 if neither has it.
_EVENTS = """for t in "$1" "$2"; do [ -d "$t/events" ] && break; done
[ -d "$t/events" ] || exit 96
shift 2
for e; do [ -d "$t/events/${e%%:*}/${e#*:}" ] && echo "$e"; done
exit 0"""
TRACEFS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
# Follows file $1, runs the arguments after $2, if any (`kill -CONT` of its
# writer, say), then waits for a new line (at most $2 s); prints the count
# up to and including it.
_NEXT_LINE = """f=$1 wait=$2; shift 2
follow "$f"
[ $# -eq 0 ] || "$@" || { kill "$T_PID"; exit 94; }
await_line "$wait" || exit 93
echo $((n+1))"""


class StartFailed(RuntimeError):
    """A recorder did not start in L1, before any workload ran. perf does
    this now and then on a loaded host (it cannot parse a tracepoint format
    it read half of, or a pid it was handed is gone a moment later); the
    runner runs such a cell once more from fresh machines."""


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
    notes: dict[str, Any] = field(default_factory=dict)  # for the cell record's notes (what was left out)


class Collector(Protocol):
    """`prepare` does the slow part (starting a recorder, paused or with its
    events disabled) and may run once before L1 is saved for a warm start,
    so that every restored cell finds it ready; `start` and `stop` bracket
    the workload and must be cheap."""

    name: str

    def prepare(self, ctx: Context) -> None: ...

    def start(self, ctx: Context) -> None: ...

    def stop(self, ctx: Context) -> Collected: ...


def bash(ctx: Context, script: str, name: str, *args: str, timeout: float = 60) -> Any:
    """A fixed script (with the functions of _LIB) in L1, its words as
    positional arguments."""
    return ctx.l1.run(["bash", "-c", _LIB + script, name, *args], timeout=timeout)


def start_background(ctx: Context, argv: list[str], remote_out: str) -> int:
    out = bash(ctx, _BACKGROUND, "orch-bg", remote_out, *argv)
    if out.exit_code != 0:
        raise StartFailed(f"could not start {argv[0]} in L1: {out.stderr.strip()[-300:]}")
    return int(out.stdout.strip().splitlines()[-1])


def available_events(ctx: Context, events: tuple[str, ...], tracefs: tuple[str, str] = TRACEFS) -> tuple[list[str], list[str]]:
    """The tracepoints (`system:name`) of `events` that L1's kernel has, and
    those it lacks: names differ between kernel versions, and perf refuses
    to start on one that does not exist. Without a tracefs to ask, all are
    taken as there (perf will say)."""
    r = bash(ctx, _EVENTS, "orch-events", *tracefs, *events)
    if r.exit_code == 96:
        return list(events), []
    if r.exit_code != 0:
        raise RuntimeError(f"could not list L1's tracepoints (exit {r.exit_code}): {r.stderr.strip()[-300:]}")
    have = set(r.stdout.split())
    return [e for e in events if e in have], [e for e in events if e not in have]


def start_perf(ctx: Context, fifo_dir: str, argv: list[str], remote_out: str, wait: int = 60) -> int:
    """perf (stat or record) started with its events disabled and a control
    fifo; returns its pid once it answers. Enable and disable with
    `perf_control`."""
    r = bash(ctx, _PERF_START, "orch-perf", fifo_dir, remote_out, str(wait), *argv, timeout=wait + 30)
    if r.exit_code != 0:
        tail = ctx.l1.run(["tail", "-c", "600", remote_out]).stdout.strip()
        raise StartFailed(f"{' '.join(argv[:3])}: {r.stderr.strip()[-200:]} (exit {r.exit_code}): {tail}")
    return int(r.stdout.split()[0])


def perf_control(ctx: Context, fifo_dir: str, command: str) -> None:
    """perf's --control fifo: `enable` or `disable`, and wait for its ack."""
    r = bash(ctx, _CONTROL, "orch-ctl", fifo_dir, command, timeout=40)
    if r.exit_code != 0:
        raise RuntimeError(f"perf did not acknowledge {command!r} on {fifo_dir}/ctl (exit {r.exit_code})")


def stop_perf(ctx: Context, fifo_dir: str, pid: int, then: list[str], timeout: float = 300) -> Any:
    """Disable perf's events, end it, and run `then` (which reads what it
    wrote), all in one SSH command."""
    r = bash(ctx, _PERF_STOP, "orch-perf-stop", fifo_dir, str(pid), *then, timeout=timeout)
    if r.exit_code == 95:
        raise RuntimeError(f"perf did not acknowledge 'disable' on {fifo_dir}/ctl")
    return r


def end_process(ctx: Context, pid: int, signal: str, grace: int = 10) -> None:
    """Signal a process in L1 and wait for its exit (KILL after `grace` s)."""
    bash(ctx, 'end_pid "$1" "$2" "$3"', "orch-end", str(pid), signal, str(grace), timeout=grace + 30)


def next_line(ctx: Context, path: str, wait: float, first: list[str] | None = None) -> Any:
    """Run `first`, then wait for a new line in `path` in L1. Exit 0 and the
    line count up to it on stdout; 93: nothing came within `wait` s."""
    return bash(ctx, _NEXT_LINE, "orch-next", path, str(wait), *(first or []), timeout=wait + 30)


def save_log(ctx: Context, name: str, text: str) -> str:
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
