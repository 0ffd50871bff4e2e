"""The machine layer against a fake QEMU (tests/fakes/fake_qemu.py): launch,
console and QMP attach, the watchdogs, failures and teardown."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.machine import ssh
from orchestrator.machine.boot import private_dir
from orchestrator.machine.guest import MachineError
from orchestrator.machine.machine import Machine
from orchestrator.machine.qemu import Drive, Endpoint, QemuSpec

FAKE = Path(__file__).resolve().parent.parent / "fakes" / "fake_qemu.py"


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> ssh.Keys:
    return ssh.generate_keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def make(tmp_path, keys, monkeypatch):
    machines: list[Machine] = []
    stack = []

    def _make(scenario: str, watch: bool = False, **kw) -> Machine:
        """`watch`: with L1's second QMP monitor, for the freeze watch."""
        monkeypatch.setenv("FAKE_QEMU_SCENARIO", scenario)
        ctx = private_dir("orch-test-")
        sockets = ctx.__enter__()
        stack.append(ctx)
        spec = QemuSpec(
            name="l1", accel="tcg", cpu="max", smp=1, memory_mib=256, kernel="/nonexistent/bzImage",
            append=("console=ttyS0",), console=Endpoint(path=str(sockets / "console.sock")),
            qmp=Endpoint(path=str(sockets / "qmp.sock")), ssh_port=1, binary=str(FAKE),
            watch=Endpoint(path=str(sockets / "watch.sock")) if watch else None,
            spare=Endpoint(path=str(sockets / "spare.sock")) if watch else None,
        )
        kw.setdefault("powerdown_timeout", 3)
        m = Machine(spec, tmp_path / scenario, keys, **kw)
        machines.append(m)
        return m

    yield _make
    for m in machines:
        m.shutdown()
        assert not m.alive()
    for ctx in stack:
        ctx.__exit__(None, None, None)


def test_argv_is_built_from_the_spec(tmp_path):
    spec = QemuSpec(
        name="l1", accel="tcg", cpu="max", smp=2, memory_mib=2048, kernel="/k/bzImage",
        append=("console=ttyS0", "kvm_amd.npt=0"), console=Endpoint(path="/s/c,x"),
        qmp=Endpoint(host="127.0.0.1", port=4444), ssh_port=2222,
        drives=(Drive("/img/root.ext4", snapshot=True), Drive("/img/p.ext4", readonly=True)),
        fw_cfg=(("authorized_keys", "/k/pub"),),
    )
    argv = spec.argv()
    assert argv[argv.index("-append") + 1] == "console=ttyS0 kvm_amd.npt=0"
    assert "socket,id=console,path=/s/c,,x,server=on,wait=off" in argv  # commas escaped
    assert "socket,id=qmp,host=127.0.0.1,port=4444,server=on,wait=off" in argv
    assert "user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:2222-:22" in argv
    assert "file=/img/root.ext4,format=raw,if=virtio,cache=unsafe,snapshot=on" in argv
    assert "file=/img/p.ext4,format=raw,if=virtio,cache=unsafe,readonly=on" in argv
    assert "name=opt/orchestrator/authorized_keys,file=/k/pub" in argv
    assert "-S" in argv and "-no-reboot" in argv


def test_a_paused_machine_is_quit_without_waiting_for_the_power_button(make, tmp_path, monkeypatch):
    log = tmp_path / "qmp.log"
    monkeypatch.setenv("FAKE_QEMU_QMP_LOG", str(log))
    m = make("silent")  # would ignore the power button, as a paused guest does
    m.launch()
    m.qmp("stop")
    m.state = "paused"  # as save_snapshot leaves it
    m.shutdown()
    assert not m.alive()
    assert log.read_text().split() == ["qmp_capabilities", "cont", "stop", "quit"]


def test_launch_attaches_console_and_qmp(make):
    m = make("ready")
    m.launch()
    assert m.state == "running"
    assert m.console.wait(("ready",), timeout=10) is not None
    assert m.qmp("query-status")["status"] == "running"
    m.shutdown()
    assert m.state == "stopped" and not m.alive()
    assert "ORCHESTRATOR-READY" in (m.folder / "l1-console.log").read_text()


def test_panic_ends_the_boot_at_once(make):
    m = make("panic", ready_timeout=60)
    m.launch()
    with pytest.raises(MachineError) as exc:
        m.wait_ready()
    assert exc.value.cause == "panic" and exc.value.level == "L1"
    assert "Kernel panic - not syncing" in exc.value.console_tail
    assert exc.value.argv[0] == str(FAKE)


@pytest.mark.parametrize("scenario, cause", [("oops", "oops"), ("bootfail", "boot-failed"), ("exit", "exited")])
def test_watchdogs_name_the_cause(make, scenario, cause):
    m = make(scenario, ready_timeout=30)
    m.launch()
    with pytest.raises(MachineError) as exc:
        m.wait_ready()
    assert exc.value.cause == cause


def test_silent_console(make):
    m = make("silent", ready_timeout=30, silence_timeout=1.5)
    m.launch()
    with pytest.raises(MachineError) as exc:
        m.wait_ready()
    assert exc.value.cause == "silence"


def test_not_ready_in_time(make):
    m = make("silent", ready_timeout=1.5, silence_timeout=60)
    m.launch()
    with pytest.raises(MachineError) as exc:
        m.wait_ready()
    assert exc.value.cause == "timeout"


def test_ssh_unreachable(make):
    m = make("ready", ssh_timeout=2)
    m.launch()
    with pytest.raises(MachineError) as exc:
        m.wait_ready()
    assert exc.value.cause == "ssh"


def test_qmp_lost(make):
    m = make("qmpdrop")
    m.launch()
    import time

    time.sleep(0.5)
    with pytest.raises(MachineError) as exc:
        m.ping_qmp()
    assert exc.value.cause == "qmp"


def test_launch_failure_carries_command_and_stderr(make):
    m = make("nostart")
    with pytest.raises(MachineError) as exc:
        m.launch()
    assert exc.value.cause == "launch"
    assert "Could not set up host forwarding rule" in str(exc.value)
    assert exc.value.argv and m.state == "stopped"


def test_wrong_state_names_both(make):
    m = make("ready")
    with pytest.raises(MachineError) as exc:
        m.run(["true"])
    assert "ready" in str(exc.value) and "created" in str(exc.value)


def test_context_manager_always_cleans_up(make):
    m = make("ready")
    with pytest.raises(RuntimeError):
        with m:
            raise RuntimeError("test failure inside")
    assert m.state == "stopped" and not m.alive()
    assert not Path(m.spec.qmp.path).exists()
