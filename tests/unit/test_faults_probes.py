"""Failpoints (orchestrator/experiment/faults.py) and the probes that name
the level that failed (machine.diagnose, cell.who_failed), against fakes.
The real faults in real machines: tests/qemu/test_faults.py."""

from __future__ import annotations

import subprocess
import threading
import time
from types import SimpleNamespace

import pytest

from orchestrator.errors import UserError
from orchestrator.experiment import faults
from orchestrator.experiment.cell import WorkloadFailed, failure_of, who_failed
from orchestrator.machine import live as machine_mod
from orchestrator.machine.console import Event
from orchestrator.machine.diagnose import diagnose
from orchestrator.machine.guest import MachineError

CELL = "r002.tdp-off.file-mmap.baseline"


# -- ORCHESTRATOR_FAULTS --------------------------------------------------------

def test_parse():
    assert faults.parse(f"l2-panic@{CELL}, l1-hang@r003.tdp-off.file-mmap.baseline@collect-stop,") == {
        CELL: ("l2-panic", "workload"), "r003.tdp-off.file-mmap.baseline": ("l1-hang", "collect-stop")}
    assert faults.parse("") == {}


@pytest.mark.parametrize("text, message", [
    (f"l3-panic@{CELL}", "unknown fault 'l3-panic'"),
    ("l1-panic", "expected FAULT@CELL-ID"),
    ("l1-panic@", "expected FAULT@CELL-ID"),
    (f"l1-panic@{CELL},l2-panic@{CELL}", "two faults for cell"),
    (f"l1-hang@{CELL}@lunch", "unknown phase 'lunch'"),
    (f"l1-hang@{CELL}@restore@x", "expected FAULT@CELL-ID"),
])
def test_parse_refuses(text, message):
    with pytest.raises(UserError, match=message):
        faults.parse(text)


def test_every_fault_of_the_suite_is_known():
    assert set(faults.FAULTS) == {"l1-panic", "l2-panic", "l1-hang", "l2-hang", "l1-sshd-kill",
                                  "l1-qemu-kill", "l2-qemu-kill", "workload-stall"}


def test_planned_reads_the_environment(monkeypatch):
    monkeypatch.delenv(faults.ENV, raising=False)
    assert faults.planned(CELL) is None
    monkeypatch.setenv(faults.ENV, f"l1-hang@{CELL}")
    assert faults.planned(CELL) == "l1-hang"
    assert faults.planned(CELL, "restore") is None
    assert faults.planned("r001.tdp-off.file-mmap.baseline") is None
    monkeypatch.setenv(faults.ENV, f"l1-hang@{CELL}@restore")
    assert faults.planned(CELL) is None
    assert faults.planned(CELL, "restore") == "l1-hang"


class FakeConn:
    def __init__(self):
        self.commands: list[str] = []

    def run(self, command, **kw):
        self.commands.append(command)
        return SimpleNamespace(exited=0, stdout="", stderr="")


class FakeQmp:
    def __init__(self):
        self.commands: list[str] = []

    def cmd(self, name, **kw):
        self.commands.append(name)
        return {}


def _guests():
    def guest(level):
        return SimpleNamespace(level=level, conn=FakeConn(), qmp_client=FakeQmp(),
                               console=SimpleNamespace(note=lambda text: None))
    return guest("L1"), guest("L2")


def test_without_the_variable_nothing_happens(monkeypatch):
    monkeypatch.delenv(faults.ENV, raising=False)
    l1, l2 = _guests()
    before = threading.active_count()
    with faults.armed(CELL, l1, l2, ["file-mmap"]):
        assert threading.active_count() == before
    assert not l1.conn.commands and not l2.qmp_client.commands


@pytest.mark.parametrize("fault, where, expect", [
    ("l1-panic", "L1", ["unknown_nmi_panic", "inject-nmi"]),
    ("l2-panic", "L2", ["unknown_nmi_panic", "inject-nmi"]),
    ("l1-hang", "L1", ["stop"]),
    ("l2-hang", "L2", ["stop"]),
    ("l1-sshd-kill", "L1", ["/run/sshd.pid"]),
    ("l2-qemu-kill", "L1", ["kill -9 4242"]),
    ("workload-stall", "L2", ["kill -STOP", "'file-mmap --mib 16'"]),
])
def test_fault_fires_while_the_workload_runs(monkeypatch, fault, where, expect):
    monkeypatch.setenv(faults.ENV, f"{fault}@{CELL}")
    monkeypatch.setattr(faults, "DELAY_S", 0.05)
    l1, l2 = _guests()
    l2.pid = 4242
    with faults.armed(CELL, l1, l2, ["file-mmap", "--mib", "16"]):
        time.sleep(0.5)  # the workload
    guest = l1 if where == "L1" else l2
    sent = " ".join(guest.conn.commands + guest.qmp_client.commands)
    for text in expect:
        assert text in sent
    other = l2 if where == "L1" else l1
    assert not other.conn.commands and not other.qmp_client.commands


def test_l1_qemu_kill_kills_the_process(monkeypatch):
    monkeypatch.setenv(faults.ENV, f"l1-qemu-kill@{CELL}")
    monkeypatch.setattr(faults, "DELAY_S", 0.05)
    l1, l2 = _guests()
    l1.process = subprocess.Popen(["sleep", "60"])
    try:
        with faults.armed(CELL, l1, l2, ["x"]):
            time.sleep(0.5)
        assert l1.process.wait(timeout=5) == -9
    finally:
        if l1.process.poll() is None:
            l1.process.kill()
            l1.process.wait()


def test_no_fault_once_the_workload_ended(monkeypatch):
    monkeypatch.setenv(faults.ENV, f"l1-hang@{CELL}")
    monkeypatch.setattr(faults, "DELAY_S", 1.0)
    l1, l2 = _guests()
    with faults.armed(CELL, l1, l2, ["x"]):
        pass
    assert not l1.qmp_client.commands


def test_an_unknown_fault_fails_loudly(monkeypatch):
    monkeypatch.setenv(faults.ENV, f"disk-full@{CELL}")
    l1, l2 = _guests()
    with pytest.raises(UserError, match=faults.ENV):
        with faults.armed(CELL, l1, l2, ["x"]):
            pass


# -- diagnose: who failed --------------------------------------------------------

class FakeConsole:
    def __init__(self, fatal: str | None = None, eof: bool = False):
        self._fatal = Event(fatal, f"{fatal} text", 0.0) if fatal else None
        self.eof = eof

    def fatal(self):
        return self._fatal

    def tail(self, n: int = 30):
        return "last console line"


class FakeGuest:
    def __init__(self, level, *, fatal=None, alive=True, qmp="running", ssh="ok", pid=None, eof=False):
        self.level = level
        self.console = FakeConsole(fatal, eof)
        self._alive, self._qmp, self._ssh = alive, qmp, ssh
        self.spec = SimpleNamespace(argv=lambda: ["qemu-system-x86_64"])
        self.probed: list[str] = []
        if pid is not None:
            self.pid = pid

    def alive(self):
        return self._alive

    def exit_detail(self):
        return " (exit code -9)"

    def wait_console_end(self, timeout=5.0):
        self.probed.append("console-end")

    def probe_qmp(self, timeout=10):
        self.probed.append("qmp")
        if self._qmp == "lost-dying":  # QEMU killed: its sockets close a moment before it is gone
            self._alive = False
            return "lost"
        return self._qmp

    def probe_ssh(self, timeout=10, gateway=None):
        self.probed.append(f"ssh via {gateway.name if gateway else None}")
        return self._ssh, (SimpleNamespace(name=f"{self.level}-probe", close=lambda: None, run=self._run)
                           if self._ssh == "ok" else None)

    def _run(self, command, **kw):  # kill -0 PID through the L1 probe connection
        return SimpleNamespace(exited=0 if getattr(self, "l2_pid_alive", False) else 1)


def _verdict(l1, l2):
    found, seen = diagnose(l1, l2)
    return (found.cause, found.level) if found else None, seen


@pytest.mark.parametrize("l1, l2, want", [
    (dict(fatal="panic", alive=False), dict(eof=True, alive=False), ("panic", "L1")),
    (dict(alive=False), dict(eof=True, alive=False), ("exited", "L1")),
    (dict(qmp="paused"), {}, ("hang", "L1")),
    (dict(qmp="no-answer"), {}, ("hang", "L1")),
    (dict(qmp="lost"), {}, ("qmp", "L1")),
    (dict(qmp="lost-dying"), {}, ("exited", "L1")),
    (dict(ssh="silent"), {}, ("hang", "L1")),
    (dict(ssh="refused"), dict(alive=False, eof=True), ("ssh", "L1")),  # sshd killed: L2's tunnels went too
    ({}, dict(fatal="panic", alive=False, eof=True), ("panic", "L2")),
    ({}, dict(fatal="oops"), ("oops", "L2")),
    ({}, dict(alive=False, eof=True), ("exited", "L2")),
    ({}, dict(qmp="paused"), ("hang", "L2")),
    ({}, dict(qmp="lost-dying"), ("exited", "L2")),
    ({}, dict(qmp="no-answer"), ("hang", "L2")),  # e.g. L2's QEMU stopped with SIGSTOP
    ({}, dict(ssh="silent"), ("hang", "L2")),
    ({}, dict(ssh="refused"), ("ssh", "L2")),
    ({}, {}, None),
])
def test_diagnose_names_the_level(l1, l2, want):
    g1, g2 = FakeGuest("L1", **l1), FakeGuest("L2", pid=77, **l2)
    got, seen = _verdict(g1, g2)
    assert got == want, seen
    if want and want[1] == "L1":
        assert not g2.probed  # nothing is asked of L2 through a broken L1


def test_diagnose_probes_l2_through_a_fresh_l1_connection():
    g1, g2 = FakeGuest("L1"), FakeGuest("L2", pid=77)
    assert _verdict(g1, g2)[0] is None
    assert g2.probed == ["qmp", "ssh via L1-probe"]


def test_l2_console_closed_but_qemu_alive_is_not_an_exit():
    g1, g2 = FakeGuest("L1"), FakeGuest("L2", pid=77, alive=False, eof=True, qmp="lost")
    g1.l2_pid_alive = True
    got, seen = _verdict(g1, g2)
    assert got == ("qmp", "L2") and "still runs" in " ".join(seen)


def test_evidence_holds_the_probes_and_the_console():
    found, _ = diagnose(FakeGuest("L1"), FakeGuest("L2", pid=77, qmp="paused"))
    assert found is not None
    assert "L1: SSH probe: ok" in found.console_tail and "L2: QMP query-status: paused" in found.console_tail
    assert "last console line" in found.console_tail


def test_a_dead_l1_waits_for_its_console_to_end():
    g1 = FakeGuest("L1", alive=False)
    diagnose(g1, None)
    assert g1.probed == ["console-end"]


# -- who_failed: the classification run_cell records ------------------------------

def _timeout_error():
    return MachineError("L2", "command-timeout", "file-mmap did not finish within 20s", console_tail="tail")


def test_a_timeout_in_guests_that_answer_is_the_workloads():
    found = who_failed(_timeout_error(), FakeGuest("L1"), FakeGuest("L2", pid=77))
    assert (found.cause, found.level) == ("workload-timeout", "L2")
    assert failure_of(found)["class"] == "workload-timeout"
    assert "did not finish within 20s" in failure_of(found)["message"]


def test_a_timeout_in_a_frozen_l2_is_a_hang():
    found = who_failed(_timeout_error(), FakeGuest("L1"), FakeGuest("L2", pid=77, qmp="paused"))
    assert (found.cause, found.level) == ("hang", "L2")


def test_a_workload_failure_in_healthy_guests_stays_one():
    assert who_failed(WorkloadFailed("file-mmap exited 1"), FakeGuest("L1"), FakeGuest("L2", pid=77)) is None


def test_a_workload_cut_by_a_dead_l2_is_its_exit():
    found = who_failed(WorkloadFailed("file-mmap exited -1"), FakeGuest("L1"),
                       FakeGuest("L2", pid=77, alive=False, eof=True))
    assert (found.cause, found.level) == ("exited", "L2")


def test_no_probes_while_interrupted(monkeypatch):
    monkeypatch.setattr(machine_mod.INTERRUPTED, "is_set", lambda: True)
    g1 = FakeGuest("L1", qmp="paused")
    assert who_failed(_timeout_error(), g1, FakeGuest("L2", pid=77)) is None
    assert not g1.probed
