"""L2: a QEMU process inside L1, started over SSH with KVM.

Its console and QMP listen on L1's loopback and reach the host through SSH
tunnels (nested/tunnel.py, bound to 127.0.0.1), so the host reads
L2's console with the same pexpect watchdogs and talks QMP with the same
qemu.qmp client as for L1. SSH to L2 goes through L1 (fabric's gateway).
L2's QEMU is stopped via QMP and verified gone.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import fabric

from orchestrator.build.payload import L2_KERNEL, L2_ROOTFS
from orchestrator.config.schema import L2Machine
from orchestrator.machine import ssh
from orchestrator.machine.guest import Guest, MachineError, connect_socket
from orchestrator.machine.machine import Machine
from orchestrator.machine.profile import TCG_L2_CMDLINE
from orchestrator.machine.qemu import Drive, Endpoint, QemuSpec, kernel_cmdline
from orchestrator.nested.tunnel import Tunnel

PAYLOAD_DEV = "/dev/vdb"
PAYLOAD_DIR = "/mnt/payload"
STATE_DIR = "/run/orchestrator/l2"
# Ports on L1's loopback: L1 is private to one cell, so they can be fixed.
L1_CONSOLE_PORT = 4555
L1_QMP_PORT = 4444
L1_SSH_PORT = 10022
HUGEPAGES_MOUNT = "/dev/hugepages"  # where the l2.backing knob mounts hugetlbfs in L1


def memory_args(cfg: L2Machine) -> tuple[str, ...]:
    """An explicit memory backend, only where a setting needs one: without,
    L2's QEMU line stays what it always was."""
    if not cfg.prealloc and cfg.backing is None:
        return ()
    backend, opts = "memory-backend-ram", [f"size={cfg.memory_mib}M"]
    if cfg.backing == "hugetlb":
        backend = "memory-backend-file"
        opts.append(f"mem-path={HUGEPAGES_MOUNT}")
    if cfg.prealloc:
        opts.append("prealloc=on")
    return ("-object", f"{backend},id=l2mem,{','.join(opts)}", "-machine", "memory-backend=l2mem")


def l2_spec(cfg: L2Machine, *, name: str = "l2", workarounds: tuple[str, ...] = TCG_L2_CMDLINE) -> QemuSpec:
    """`workarounds`: the host profile's words for L2's command line."""
    return QemuSpec(
        name=name,
        accel="kvm",
        cpu="host",
        smp=cfg.cpus,
        memory_mib=cfg.memory_mib,
        kernel=f"{PAYLOAD_DIR}/{L2_KERNEL}",
        append=kernel_cmdline(name, (*workarounds, *cfg.cmdline), quiet=True),
        console=Endpoint(host="127.0.0.1", port=L1_CONSOLE_PORT),
        qmp=Endpoint(host="127.0.0.1", port=L1_QMP_PORT),
        ssh_port=L1_SSH_PORT,
        drives=(Drive(f"{PAYLOAD_DIR}/{L2_ROOTFS}", snapshot=True),),
        fw_cfg=(("authorized_keys", f"{STATE_DIR}/authorized_keys"),
                ("ssh_host_ed25519_key", f"{STATE_DIR}/ssh_host_ed25519_key")),
        extra=(*memory_args(cfg), "-daemonize", "-pidfile", f"{STATE_DIR}/qemu.pid"),
    )


class NestedMachine(Guest):
    def __init__(self, l1: Machine, cfg: L2Machine, folder: Path, keys: ssh.Keys, *,
                 workarounds: tuple[str, ...] = TCG_L2_CMDLINE, **kw: Any):
        kw.setdefault("ready_timeout", cfg.boot_timeout_s)
        super().__init__("L2", l2_spec(cfg, workarounds=workarounds), folder, keys, **kw)
        self.l1 = l1
        self.pid: int | None = None
        self._tunnels = contextlib.ExitStack()

    def alive(self) -> bool:
        # The console's TCP stream ends when L2's QEMU exits: no SSH round trip.
        return self.pid is not None and not self.console.eof

    def _ssh_endpoint(self) -> tuple[str, int, fabric.Connection | None]:
        return "127.0.0.1", L1_SSH_PORT, self.l1.conn

    def check_outer(self) -> None:
        # L2's console, QMP and SSH ride on L1's SSH: an L1 that panicked,
        # froze or exited looks from here like an L2 gone silent or exited
        self.l1.check()

    def _pid_alive_in_l1(self) -> bool:
        if self.pid is None:
            return False
        return self.l1.run(["kill", "-0", str(self.pid)], timeout=30).exit_code == 0

    def launch(self) -> None:
        self._expect_state("created")
        self.folder.mkdir(parents=True, exist_ok=True)
        l1 = self.l1
        self._launched_at = time.monotonic()
        argv = self.spec.argv()
        (self.folder / "l2-qemu-argv.txt").write_text("\n".join(argv) + "\n")
        try:
            l1.run(["mkdir", "-p", "-m", "0700", STATE_DIR, PAYLOAD_DIR], check=True)
            if l1.run(["mountpoint", "-q", PAYLOAD_DIR]).exit_code != 0:
                l1.run(["mount", "-o", "ro", PAYLOAD_DEV, PAYLOAD_DIR], check=True)
            l1.put(self.keys.client_pub, f"{STATE_DIR}/authorized_keys")
            l1.put(self.keys.host, f"{STATE_DIR}/ssh_host_ed25519_key")
            started = l1.run(argv, timeout=120)
            (self.folder / "l2-qemu-stderr.log").write_text(started.stdout + started.stderr)
            if started.exit_code != 0:
                raise MachineError("L2", "launch", f"L2's QEMU did not start (exit {started.exit_code}): "
                                   f"{started.stderr.strip()[-800:]}", argv=argv)
            self.pid = int(l1.run(["cat", f"{STATE_DIR}/qemu.pid"], check=True).stdout.strip())
            self._open_channels()
        except BaseException as exc:
            self.shutdown()
            if isinstance(exc, (KeyboardInterrupt, MachineError)):
                raise
            raise MachineError("L2", "launch", f"L2 did not start: {exc!r}", argv=argv,
                               console_tail=self.console.tail()) from exc

    def _open_channels(self) -> None:
        """Console and QMP through tunnels over L1's SSH, then `cont`."""
        assert self.l1.conn is not None
        self.l1.conn.open()
        transport = self.l1.conn.transport
        console_tunnel = self._tunnels.enter_context(Tunnel(transport, L1_CONSOLE_PORT))
        qmp_tunnel = self._tunnels.enter_context(Tunnel(transport, L1_QMP_PORT))
        local_console, local_qmp = console_tunnel.port, qmp_tunnel.port
        console = connect_socket(("127.0.0.1", local_console), time.monotonic() + 30)
        console.settimeout(None)
        self._attach(console, ("127.0.0.1", local_qmp))

    @classmethod
    def adopt(cls, l1: Machine, cfg: L2Machine, folder: Path, keys: ssh.Keys, pid: int, **kw: Any) -> NestedMachine:
        """An L2 that is already up in L1 (restored from a snapshot): attach
        console, QMP and SSH. `detach()` lets go of it without stopping it."""
        l2 = cls(l1, cfg, folder, keys, **kw)
        folder.mkdir(parents=True, exist_ok=True)
        l2._launched_at = time.monotonic()
        l2.pid = pid
        try:
            l2._open_channels()
            l2._connect_ssh(deadline=time.monotonic() + l2.ssh_timeout)
        except BaseException as exc:
            l2.detach()
            if isinstance(exc, (KeyboardInterrupt, MachineError)):
                raise
            raise MachineError("L2", "ssh", f"L2 restored but unreachable: {exc!r}",
                               console_tail=l2.console.tail()) from exc
        l2.state = "ready"
        return l2

    def detach(self) -> None:
        """Close our channels; L2 keeps running (until L1 is restored or stopped).
        Closing them before L1 is saved leaves L2's QEMU listening again."""
        self._close_channels()
        self._tunnels.close()
        self._tunnels = contextlib.ExitStack()
        self.state = "stopped"

    def wait_chardevs_free(self, timeout: float = 15) -> None:
        """Until no connection to L2's console or QMP port is open in L1.
        Saved while one still was, L2's QEMU would come back serving a
        client that no longer exists and never answer the next one."""
        ports = {f"{L1_CONSOLE_PORT:04X}", f"{L1_QMP_PORT:04X}"}
        deadline = time.monotonic() + timeout
        while True:
            table = self.l1.run(["cat", "/proc/net/tcp"], check=True).stdout.splitlines()[1:]
            busy = [line for line in table if (f := line.split()) and f[3] == "01" and f[1].rsplit(":", 1)[-1] in ports]
            if not busy:
                return
            if time.monotonic() > deadline:
                raise MachineError("L2", "snapshot", f"L2's console/QMP still connected after {timeout:.0f}s: {busy}")
            time.sleep(0.2)

    def shutdown(self) -> None:
        """QMP powerdown, then quit, then kill in L1; verify the process is gone."""
        start = time.monotonic()
        powerdown_timeout = self.powerdown_timeout
        try:
            if self.qmp_client is not None and self.alive():
                for command, wait in (("system_powerdown", powerdown_timeout), ("quit", 10)):
                    with contextlib.suppress(Exception):
                        self.qmp_client.cmd(command)
                    deadline = time.monotonic() + wait
                    while self.alive() and time.monotonic() < deadline:
                        time.sleep(0.2)
                    if not self.alive():
                        break
            if self.pid is not None and self.l1.state == "ready" and self.l1.alive():
                if self._pid_alive_in_l1():
                    self.l1.run(["kill", "-9", str(self.pid)], timeout=30)
                    time.sleep(0.5)
                if self._pid_alive_in_l1():
                    raise MachineError("L2", "teardown", f"L2's QEMU (pid {self.pid} in L1) survived kill -9")
        finally:
            self._close_channels()
            self._tunnels.close()
            self.state = "stopped"
            self.timings["teardown_s"] = time.monotonic() - start
