"""The collectors' fixed bash scripts, run for real on this host against
stand-ins (tests/fakes/fake_perf.py; a shell loop for kvm_stat's rows).
The live collection in L1 is the e2e tier's."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from orchestrator import proc
from orchestrator.collectors import base, kvm_stat
from orchestrator.machine.guest import CommandResult

FAKE_PERF = Path(__file__).resolve().parents[1] / "fakes" / "fake_perf.py"


class LocalL1:
    """Machine.run's contract (argv in, CommandResult out, stdout and stderr
    apart), on this host."""

    def __init__(self, tmp: Path, env: dict[str, str] | None = None):
        self.err = tmp / "stderr"
        self.env = env

    def run(self, argv, *, timeout: float = 300, check: bool = False) -> CommandResult:
        t = time.monotonic()
        r = proc.run(["bash", "-c", 'exec 2>"$0"; exec "$@"', str(self.err), *argv], timeout=timeout, check=False,
                     env=self.env)
        return CommandResult(tuple(argv), r.returncode, r.output, self.err.read_text(), time.monotonic() - t)


@pytest.fixture
def pids():
    started: list[int] = []
    yield started
    for pid in started:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def ctx_for(tmp_path: Path, **env: str) -> base.Context:
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    return base.Context(LocalL1(tmp_path, {**os.environ, **env} if env else None), 0, logs)  # type: ignore[arg-type]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"


def test_perf_start_control_stop_round_trip(tmp_path, pids):
    ctx = ctx_for(tmp_path)
    fifos, out = str(tmp_path / "fifos"), str(tmp_path / "perf.out")
    pid = base.start_perf(ctx, fifos, [sys.executable, str(FAKE_PERF), "-o", out], f"{out}.log", wait=20)
    pids.append(pid)
    assert alive(pid)
    assert "Events disabled" in Path(f"{out}.log").read_text()  # answered only once set up
    base.perf_control(ctx, fifos, "enable")
    r = base.stop_perf(ctx, fifos, pid, ["cat", out])
    # the ping that proved it ready, then the cell's commands, in order; it has exited
    assert r.exit_code == 0
    assert r.stdout.split() == ["ping", "enable", "disable"]
    assert not alive(pid)


def test_perf_that_dies_at_start_is_an_error_with_its_output(tmp_path, pids):
    ctx = ctx_for(tmp_path, FAKE_PERF="exit")
    fifos, out = str(tmp_path / "fifos"), str(tmp_path / "perf.out")
    t = time.monotonic()
    with pytest.raises(RuntimeError, match="exited before it was ready.*cannot attach"):
        base.start_perf(ctx, fifos, [sys.executable, str(FAKE_PERF), "-o", out], f"{out}.log", wait=20)
    assert time.monotonic() - t < 10  # noticed, not waited out


def test_perf_that_never_answers_times_out(tmp_path, pids):
    ctx = ctx_for(tmp_path, FAKE_PERF="mute")
    fifos, out = str(tmp_path / "fifos"), str(tmp_path / "perf.out")
    with pytest.raises(RuntimeError, match="not ready within 2s"):
        base.start_perf(ctx, fifos, [sys.executable, str(FAKE_PERF), "-o", out], f"{out}.log", wait=2)
    time.sleep(0.3)
    left = proc.run(["pgrep", "-f", out], check=False).output.split()
    pids.extend(int(p) for p in left)
    assert not left  # not left behind in L1


def test_stop_perf_reports_an_unacknowledged_disable(tmp_path, pids):
    ctx = ctx_for(tmp_path)
    fifos, out = str(tmp_path / "fifos"), str(tmp_path / "perf.out")
    pid = base.start_perf(ctx, fifos, [sys.executable, str(FAKE_PERF), "-o", out], f"{out}.log", wait=20)
    pids.append(pid)
    os.kill(pid, signal.SIGSTOP)  # alive but deaf; the script's 20 s waits made 1 s
    script = base._PERF_STOP.replace("read -r -t 20", "read -r -t 1").replace('end_pid "$pid" INT 20', 'end_pid "$pid" INT 1')
    assert "read -r -t 1 " in script and 'INT 1\n' in script
    r = base.bash(ctx, script, "t", fifos, str(pid), "true")
    assert r.exit_code == 95
    os.kill(pid, signal.SIGCONT)


def writer(path: Path, delay: float, lines: int) -> list[str]:
    """argv of a background writer appending `lines` lines after `delay` s."""
    return ["bash", "-c", 'sleep "$2"; for i in $(seq "$3"); do echo "row $i" >>"$1"; sleep 0.1; done', "w",
            str(path), str(delay), str(lines)]


def test_next_line_waits_for_a_line_after_its_first_command(tmp_path, pids):
    ctx = ctx_for(tmp_path)
    f = tmp_path / "log.csv"
    f.write_text("header\n")
    # the line arrives only after `first` ran (it starts the writer)
    r = base.next_line(ctx, str(f), 10, ["setsid", *writer(f, 0.3, 1)])
    assert r.exit_code == 0
    assert r.stdout.split()[-1] == "2"  # header + the new row


def test_next_line_counts_a_file_that_does_not_exist_yet(tmp_path):
    ctx = ctx_for(tmp_path)
    f = tmp_path / "late.csv"
    w = proc.start(writer(f, 0.3, 1))
    try:
        r = base.next_line(ctx, str(f), 10)
    finally:
        proc.stop_group(w)
    assert (r.exit_code, r.stdout.split()[-1]) == (0, "1")


def test_next_line_gives_up(tmp_path):
    ctx = ctx_for(tmp_path)
    f = tmp_path / "quiet.csv"
    f.write_text("header\n")
    t = time.monotonic()
    r = base.next_line(ctx, str(f), 1)
    assert r.exit_code == 93
    assert time.monotonic() - t < 5
    assert proc.run(["pgrep", "-f", f"tail -n \\+2 -F {f}"], check=False).returncode == 1  # its tail is gone


def test_kvm_stat_stop_waits_for_the_row_holding_the_end(tmp_path, pids):
    ctx = ctx_for(tmp_path)
    f = tmp_path / "kvm_stat.csv"
    f.write_text("timestamp,exits\n1,5\n")
    w = proc.run(["bash", "-c", 'setsid "$@" >/dev/null 2>&1 </dev/null & echo $!', "bg",
                  *writer(f, 0.5, 100)], check=False)
    pid = int(w.output.split()[-1])
    pids.append(pid)
    r = base.bash(ctx, kvm_stat._STOP, "t", str(pid), str(f), "5", timeout=30)
    assert r.exit_code == 0
    rows = r.stdout.splitlines()
    assert rows[:2] == ["timestamp,exits", "1,5"] and rows[2] == "row 1"  # waited for it, then ended the writer
    time.sleep(0.3)
    assert not alive(pid)


def test_next_line_does_not_wait_when_its_first_command_fails(tmp_path):
    ctx = ctx_for(tmp_path)
    f = tmp_path / "stopped.csv"
    f.write_text("header\n")
    r = base.next_line(ctx, str(f), 10, ["kill", "-CONT", "999999999"])  # no such writer
    assert r.exit_code == 94  # not 93 after waiting out the 10 s


def _tracefs(root: Path, events: list[str]) -> Path:
    for e in events:
        (root / "events" / e.replace(":", "/")).mkdir(parents=True)
    return root


def test_available_events_against_a_tracefs(tmp_path):
    """Tracepoint names differ between kernel versions: only those L1's
    kernel has are asked for, in the order given, the rest are returned."""
    ctx = ctx_for(tmp_path)
    tracefs = _tracefs(tmp_path / "tracing", ["kvm:kvm_exit", "kvmmmu:kvm_mmu_set_spte"])
    wanted = ("kvm:kvm_exit", "kvmmmu:kvm_mmu_get_page", "kvmmmu:kvm_mmu_set_spte", "kvm:not_in_this_version")
    have, missing = base.available_events(ctx, wanted, (str(tmp_path / "absent"), str(tracefs)))
    assert have == ["kvm:kvm_exit", "kvmmmu:kvm_mmu_set_spte"]
    assert missing == ["kvmmmu:kvm_mmu_get_page", "kvm:not_in_this_version"]
    # no tracefs to ask at all: every event is kept, perf decides
    assert base.available_events(ctx, wanted, (str(tmp_path / "a"), str(tmp_path / "b"))) == (list(wanted), [])
