"""No unbounded wait on a frozen guest: SSH deadlines, L1's freeze watch
(a second QMP monitor of the fake QEMU), boots that stall because the guest
was paused, and the cell watchdog that ends a stuck cell as failed."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import pytest

from orchestrator import proc
from orchestrator.experiment.watchdog import CellWatchdog
from orchestrator.machine import live, ssh
from orchestrator.machine.guest import MachineError
from tests.unit.test_machine import keys, make  # noqa: F401 - fixtures: a Machine on the fake QEMU


class FakeTransport:
    def __init__(self):
        self.closed = threading.Event()

    def close(self):
        self.closed.set()


class FakeConn:
    """What ssh.close_transport needs of a fabric Connection."""

    def __init__(self):
        self.transport = FakeTransport()
        self.client = self

    def get_transport(self):
        return self.transport


def test_deadline_cuts_the_transport_of_a_block_that_outlives_it():
    conn = FakeConn()
    t = time.monotonic()
    with ssh.deadline(conn, 0.3) as cut:
        assert conn.transport.closed.wait(5)
    assert cut.is_set() and time.monotonic() - t < 2


def test_deadline_leaves_a_block_that_ends_in_time_alone():
    conn = FakeConn()
    with ssh.deadline(conn, 0.5) as cut:
        pass
    time.sleep(0.8)
    assert not cut.is_set() and not conn.transport.closed.is_set()


def test_connections_bound_their_channel_opens(keys):
    conn = ssh.connect("127.0.0.1", 1, keys, channel_open_s=7)
    assert isinstance(conn, ssh.Connection) and conn.channel_open_s == 7


def test_the_freeze_watch_ends_a_boot_on_a_paused_l1_at_once(make):
    m = make("silent", watch=True, ready_timeout=120, silence_timeout=120)
    m.launch()
    m.qmp("stop")  # not announced: a freeze, as QMP `stop` from outside would be
    t = time.monotonic()
    with pytest.raises(MachineError) as exc:
        m.wait_ready()
    assert exc.value.cause == "hang" and exc.value.level == "L1"
    assert "paused" in str(exc.value) and time.monotonic() - t < 10
    assert m.frozen == "paused"


def test_our_own_pauses_are_not_freezes(make):
    m = make("silent", watch=True)
    m.launch()
    m._expect_running(False)  # as save_snapshot and restore_snapshot announce theirs
    m.qmp("stop")
    time.sleep(4.5)  # past the watch's patience
    assert m.frozen is None
    m.qmp("cont")
    m._expect_running(True)
    time.sleep(2.5)
    assert m.frozen is None


def test_a_stalled_boot_of_a_paused_guest_is_a_hang_not_a_stall(make):
    """Without the watch, the silence watchdog asks QEMU before it blames the
    emulator: a paused guest is a hang, never retried as a TCG stall."""
    m = make("silent", watch=False, ready_timeout=30, silence_timeout=1.5)
    m.launch()
    m.qmp("stop")
    with pytest.raises(MachineError) as exc:
        m.wait_ready()
    assert exc.value.cause == "hang" and "'paused'" in str(exc.value)


def test_a_silent_running_guest_is_still_silence(make):
    m = make("silent", watch=False, ready_timeout=30, silence_timeout=1.5)
    m.launch()
    with pytest.raises(MachineError) as exc:
        m.wait_ready()
    assert exc.value.cause == "silence"


class FakeGuest:
    level = "L1"

    def __init__(self):
        self.conn = FakeConn()


def test_cell_watchdog_cuts_then_stops_the_cell_threads_machines():
    guest, sleeper = FakeGuest(), proc.start(["sleep", "60"])
    live.track(guest)
    live.add_process(sleeper)
    try:
        with CellWatchdog("r001.x", 0.3, escalate_s=0.5) as dog:
            assert guest.conn.transport.closed.wait(5)  # stage 1: SSH cut
            sleeper.wait(timeout=10)  # stage 2: QEMU stopped
        assert dog.expired and dog.escalated and dog.expired_in == "start"
    finally:
        live.untrack(guest)
        live.discard_process(sleeper)
        proc.stop_group(sleeper)


def test_cell_watchdog_touches_nothing_of_a_cell_that_ends_in_time():
    guest = FakeGuest()
    live.track(guest)
    try:
        with CellWatchdog("r001.x", 0.5) as dog:
            time.sleep(0.1)
        time.sleep(0.7)
        assert not dog.expired and not guest.conn.transport.closed.is_set()
    finally:
        live.untrack(guest)


def test_watchdog_failure_keeps_the_probes_level_or_blames_the_cell():
    dog = CellWatchdog("c", 10)
    dog.expired_in = "collect (after)"
    found = {"class": "hang", "level": "L1", "message": "L1: hang: paused", "evidence": "e"}
    assert dog.failure(found)["level"] == "L1" and "budget of 10s" in dog.failure(found)["message"]
    other = dog.failure({"class": "infrastructure", "level": "host", "message": "OSError", "evidence": "tb"})
    assert other["class"] == "hang" and other["level"] == "orchestrator" and "OSError" in other["evidence"]
    assert dog.failure(None)["class"] == "hang"


def test_a_stuck_cell_is_recorded_failed_by_its_watchdog(tmp_path):
    """A cell whose machines never answer (a wait that only a cut SSH ends)
    comes back as a failed record, class hang, within its budget."""
    from orchestrator.config import load_experiment
    from orchestrator.experiment.cell import CellInputs, run_cell
    from orchestrator.plan import make_plan

    loaded = load_experiment(Path(__file__).resolve().parents[2] / "configs" / "nested-ept-off.yaml")
    cell = make_plan(loaded.experiment).cells[0]
    inp = CellInputs(loaded.experiment, {}, tmp_path, tmp_path, None, None)
    guest = FakeGuest()

    @contextlib.contextmanager
    def stuck(*_args):
        live.track(guest)
        try:
            guest.conn.transport.closed.wait(60)  # as paramiko waits on a frozen guest
            raise EOFError("channel closed")
        finally:
            live.untrack(guest)
        yield  # pragma: no cover

    t = time.monotonic()
    record = run_cell(inp, cell, tmp_path, machines=stuck, budget=0.5)
    assert time.monotonic() - t < 10
    assert record["status"] == "failed"
    assert record["failure"]["class"] == "hang" and record["failure"]["level"] == "orchestrator"
    assert "EOFError" in record["failure"]["evidence"]
    assert record["notes"]["watchdog"] == {"budget_s": 0, "expired_in": "start", "machines_stopped": False}


def test_an_l1_freeze_is_injected_on_the_spare_monitor(make):
    """The fault injector never shares the cell thread's QMP client (or its
    event loop): L1 is stopped through a connection of its own."""
    from orchestrator.experiment import faults

    m = make("silent", watch=True)
    m.launch()
    done = threading.Thread(target=faults._hang, args=(m,))
    done.start()
    done.join(10)
    assert m.qmp("query-status")["status"] == "paused"


class _Answering(FakeConn):
    """A connection whose command returns with no exit status (-1) after
    `delay`: the channel closed under it."""

    def __init__(self, delay: float):
        super().__init__()
        self.delay = delay

    def run(self, *args, **kw):
        time.sleep(self.delay)
        from types import SimpleNamespace
        return SimpleNamespace(exited=-1, stdout="", stderr="")


@pytest.mark.parametrize("delay, cause", [(1.2, "command-timeout"), (0.0, "ssh")])
def test_a_command_without_exit_status_is_a_timeout_or_lost_ssh(tmp_path, keys, delay, cause):
    """invoke may return from its own timeout without raising (its timer
    thread still closing the channel): past the timeout that is a
    command-timeout, before it SSH lost under the command, never an exit
    code of the workload."""
    from orchestrator.machine.guest import Guest
    from orchestrator.machine.qemu import Endpoint, QemuSpec

    class Up(Guest):
        def alive(self) -> bool:
            return True

    spec = QemuSpec(name="l1", accel="tcg", cpu="max", smp=1, memory_mib=256, kernel="/k", append=(),
                    console=Endpoint(path="/c"), qmp=Endpoint(path="/q"), ssh_port=1)
    guest = Up("L1", spec, tmp_path, keys)
    guest.state, guest.conn = "ready", _Answering(delay)
    with pytest.raises(MachineError) as exc:
        guest.run(["file-mmap"], timeout=1)
    assert exc.value.cause == cause


def test_a_teardown_fault_leaves_the_cell_threads_qmp_working(make, monkeypatch):
    """Struck before the teardown goes on, from a thread of its own: the
    cell thread's QMP clients (and their event loop) keep working, as the
    next restore of a warm template needs them to (seen: 'Event loop is
    closed' in the next cell)."""
    from orchestrator.experiment import faults

    m = make("silent", watch=True)
    m.launch()
    cell = "r012.tdp-off.file-mmap.baseline"
    monkeypatch.setenv(faults.ENV, f"l1-hang@{cell}@teardown")
    faults.at_phase(cell, "detach")
    assert m.qmp("query-status")["status"] == "paused"
