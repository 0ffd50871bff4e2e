"""Machine faults in real L1 and L2 guests, through `orchestrator run`.

One run of tests/qemu/faults.yaml (ten repetitions of a short file-mmap)
breaks a machine in eight of its cells with ORCHESTRATOR_FAULTS (see
orchestrator/experiment/faults.py): a kernel panic in L1 and in L2, a
frozen L1 and L2, L1's sshd killed, L1's QEMU killed on the host, L2's
QEMU killed in L1, and a workload that outlives its timeout. Each must be
recorded as a failed cell with the right class, level and evidence, the
other cells must stay ok, the run must exit 1 without leaving a QEMU, and
`--resume` must complete it. Two more short runs are stopped with SIGINT
and SIGTERM in the middle of a cell: exit 130, records whole, the cell in
flight recorded as interrupted, and `--resume` completes them too.

docs/faults.md ("Machine faults") lists what each fault shows.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from orchestrator.supervisor import descendants

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "faults.yaml"
REPO = HERE.parents[1]


def cell_id(rep: int) -> str:
    return f"r{rep:03d}.tdp-off.file-mmap.baseline"


# fault -> (repetition, class, level, what the evidence shows)
FAULTS = {
    "l1-panic": (2, "panic", "L1", "Kernel panic - not syncing"),
    "l2-panic": (3, "panic", "L2", "Kernel panic - not syncing"),
    "l1-hang": (4, "hang", "L1", "L1: QMP query-status: paused"),
    "l2-hang": (5, "hang", "L2", "L2: QMP query-status: paused"),
    "l1-sshd-kill": (6, "ssh", "L1", "L1: SSH probe: refused"),
    "l1-qemu-kill": (7, "exited", "L1", "L1: QEMU gone"),
    "l2-qemu-kill": (8, "exited", "L2", "L2: QEMU gone"),
    "workload-stall": (9, "workload-timeout", "L2", "L2: SSH probe: ok"),
}
OK_REPS = (1, 10)
SPEC = ",".join(f"{fault}@{cell_id(rep)}" for fault, (rep, *_) in FAULTS.items())


# -- our own QEMU processes ------------------------------------------------------

def _stat(pid: str) -> tuple[int, str, str] | None:
    """(parent pid, state, start time) of a process, None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), fields[0], fields[19]


def _is_qemu(pid: str) -> bool:
    try:
        return b"qemu-system" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@dataclass
class Orchestrator:
    """`orchestrator run ...` as a child process; a thread notes every QEMU
    it starts (PID and start time), so only those are checked afterwards."""

    argv: list[str]
    env: dict[str, str]
    log_path: Path
    qemus: set[tuple[str, str]] = field(default_factory=set)
    rc: int | None = None
    output: str = ""

    def start(self) -> Orchestrator:
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "orchestrator.cli.main", *self.argv], cwd=REPO,
                                     env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        self._watch = threading.Thread(target=self._track, daemon=True)
        self._watch.start()
        return self

    def _track(self) -> None:
        # below the supervisor: its worker's children (orchestrator/supervisor.py)
        me = self.proc.pid
        while self.proc.poll() is None:
            for pid in descendants(me):
                st = _stat(str(pid))
                if st and _is_qemu(str(pid)):
                    self.qemus.add((str(pid), st[2]))
            time.sleep(0.2)

    def wait(self, timeout: float = 900) -> int:
        try:
            self.rc = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:  # ours, by PID
                self.proc.kill()
                self.proc.wait()
            self._watch.join()
            self.log.close()
            self.output = self.log_path.read_text(errors="replace")
        return self.rc

    def qemus_left(self) -> list[str]:
        """Our QEMUs still there (a zombie waiting for init counts as gone)."""
        left = []
        for pid, started in self.qemus:
            st = _stat(pid)
            if st and st[2] == started and st[1] != "Z":
                left.append(pid)
        return left


def orchestrator(args: list[str], log: Path, faults: str | None = None) -> Orchestrator:
    env = {k: v for k, v in os.environ.items() if k != "ORCHESTRATOR_FAULTS"}
    if faults:
        env["ORCHESTRATOR_FAULTS"] = faults
    return Orchestrator(args, env, log).start()


def the_run(results: Path) -> Path:
    (folder,) = [p for p in results.iterdir() if p.is_dir()]
    return folder


def records(run: Path) -> dict[str, dict]:
    out = {}
    for path in sorted((run / "cells").iterdir()):
        assert path.name.endswith(".json") and not path.name.startswith("."), f"debris in cells/: {path.name}"
        out[path.name[:-5]] = json.loads(path.read_text())  # every record whole
    return out


def resume(run: Path, log: Path, extra: list[str] = ()) -> Orchestrator:
    return orchestrator(["run", str(CONFIG), "--results", str(run.parent), "--resume", run.name, *extra], log)


def check_resumed(o: Orchestrator, run: Path, before: dict[str, dict], want: list[str]) -> None:
    """`o` resumed `run`, whose records were `before`: now every cell is ok."""
    assert o.rc == 0, o.output[-3000:]
    after = records(run)
    assert sorted(after) == sorted(want)
    assert all(r["status"] == "ok" for r in after.values()), {k: r["failure"] for k, r in after.items()}
    for k, r in before.items():
        if r["status"] == "ok":
            assert after[k] == r  # finished cells were not run again
    assert o.qemus and not o.qemus_left()


# -- one run, eight faults ----------------------------------------------------------

@dataclass
class FaultRun:
    run: Path
    rc: int
    records: dict[str, dict]
    qemus: int
    qemus_left: list[str]
    output: str


@pytest.fixture(scope="module")
def fault_run(built, tmp_path_factory) -> FaultRun:
    results = tmp_path_factory.mktemp("fault-results")
    o = orchestrator(["run", str(CONFIG), "--results", str(results), "--jobs", "2", "--label", "faults"],
                     results.parent / "fault-run.log", faults=SPEC)
    rc = o.wait()
    run = the_run(results)
    return FaultRun(run, rc, records(run), len(o.qemus), o.qemus_left(), o.output)


@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_is_recorded_as_failed(fault_run: FaultRun, fault: str):
    rep, cls, level, shows = FAULTS[fault]
    r = fault_run.records.get(cell_id(rep))
    assert r is not None, f"no record for {cell_id(rep)}"
    assert r["status"] == "failed"
    f = r["failure"]
    assert (f["class"], f["level"]) == (cls, level), f
    assert f["message"].startswith(f"{level}: {cls}: ")
    assert shows in f["evidence"], f["evidence"]  # the probes' findings, then the console's last lines
    assert len(f["evidence"].splitlines()) > 1
    assert "cell_retries" not in r["notes"]  # a fault is never retried
    assert not r["metrics"]


def test_the_other_cells_are_ok(fault_run: FaultRun):
    assert len(fault_run.records) == 10
    for rep in OK_REPS:
        r = fault_run.records[cell_id(rep)]
        assert r["status"] == "ok", r["failure"]
        assert r["metrics"]["workload.seconds"] > 0 and r["metrics"]["kvm.exits"] > 0


def test_the_run_exits_1_and_leaves_no_qemu(fault_run: FaultRun):
    assert fault_run.rc == 1, fault_run.output[-3000:]
    assert fault_run.qemus >= 2  # the tracker saw the L1s
    assert not fault_run.qemus_left
    assert not (fault_run.run / ".keys").exists()


def test_resume_completes_the_fault_run(fault_run: FaultRun, tmp_path):
    o = resume(fault_run.run, tmp_path / "resume.log")
    o.wait()
    check_resumed(o, fault_run.run, fault_run.records, [cell_id(rep) for rep in range(1, 11)])


# -- SIGINT and SIGTERM in the middle of a run ------------------------------------------

SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM}
SHORT = [f"--only=rep={rep}" for rep in (1, 2, 3)]


@dataclass
class Interrupted:
    run: Path
    rc: int
    records: dict[str, dict]  # as the signal left them
    qemus_left: list[str]
    output: str
    took: float  # from the signal to the process's end
    resumed: Orchestrator | None = None


@pytest.fixture(scope="module")
def interrupted_runs(built, tmp_path_factory) -> dict[str, Interrupted]:
    """Both runs side by side (one L1 each): each is signalled once its
    second cell has restored L2 and is on its way to the workload; then
    both are resumed, side by side too."""
    started = {}
    for name in SIGNALS:
        results = tmp_path_factory.mktemp(f"{name}-results")
        started[name] = (results, orchestrator(["run", str(CONFIG), "--results", str(results), "--jobs", "1", *SHORT],
                                               results.parent / f"{name}.log"))
    out, signalled = {}, {}
    for name, (results, o) in started.items():
        deadline = time.monotonic() + 600
        while o.proc.poll() is None and time.monotonic() < deadline:
            runs = [p for p in results.iterdir() if p.is_dir()]
            if runs and (runs[0] / "logs" / cell_id(2) / "l2-console.log").exists():
                break
            time.sleep(0.2)
        time.sleep(1.0)
        assert o.proc.poll() is None, o.log_path.read_text()[-3000:]
        o.proc.send_signal(SIGNALS[name])  # our child, by PID
        signalled[name] = time.monotonic()
    for name, (results, o) in started.items():
        rc = o.wait(timeout=300)
        took = time.monotonic() - signalled[name]
        run = the_run(results)
        out[name] = Interrupted(run, rc, records(run), o.qemus_left(), o.output, took)
    for name, i in out.items():
        i.resumed = resume(i.run, i.run.parent.parent / f"{name}-resume.log", SHORT)
    for i in out.values():
        i.resumed.wait()
    return out


@pytest.mark.parametrize("name", list(SIGNALS))
def test_signal_interrupts_the_run(interrupted_runs, name):
    i = interrupted_runs[name]
    assert i.rc == 130, i.output[-3000:]
    assert i.took < 5.0, f"ended {i.took:.1f}s after the signal"
    assert i.records[cell_id(1)]["status"] == "ok"
    r = i.records[cell_id(2)]  # in flight
    assert r["status"] == "failed" and r["failure"]["class"] == "interrupted", r["failure"]
    assert cell_id(3) not in i.records  # never started
    assert not i.qemus_left
    assert not (i.run / ".keys").exists()


@pytest.mark.parametrize("name", list(SIGNALS))
def test_resume_completes_an_interrupted_run(interrupted_runs, name):
    i = interrupted_runs[name]
    check_resumed(i.resumed, i.run, i.records, [cell_id(rep) for rep in (1, 2, 3)])
