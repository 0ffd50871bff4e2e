"""What L1 and L2 have in common, in the shape of QEMU's own
`qemu.machine.QEMUMachine`: a guest's console (pexpect), QMP (qemu.qmp) and
SSH (fabric), its states, its watchdogs and its probes. `machine.Machine`
(L1, a process on this host) and `nested.l2.NestedMachine` (L2, a process
in L1) own the QEMU process.

Watchdogs turn a panic, an oops, a freeze, a silent console, a dead QEMU,
lost QMP or unreachable SSH into a MachineError naming the level and the
cause; every wait on the guest has a bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fabric
import invoke
import paramiko
from qemu.qmp import QMPError
from qemu.qmp.legacy import QEMUMonitorProtocol

from orchestrator.errors import InfraError
from orchestrator.machine import live, ssh
from orchestrator.machine.console import Console
from orchestrator.machine.qemu import QemuSpec

log = logging.getLogger(__name__)

QMP_TIMEOUT_S = 30.0
PROBE_TIMEOUT_S = 10.0  # a probe's SSH connect-and-`true` or QMP query-status
EXIT_GRACE_S = 3.0  # QMP lost: how long QEMU may take to be gone
# A command's SSH is cut this long after its own timeout: invoke's timer
# starts only once the command runs, and paramiko's waits before that
# (channel open, exec) have no bound of their own against a frozen guest.
CUT_SLACK_S = 15.0
SFTP_S = 120.0  # one small file (keys, a workload's program) to or from a guest
NO_EXIT_STATUS = -1  # paramiko's exit status of a channel closed before the command's end


class MachineError(InfraError):
    """A machine failed. `cause` is the failure class recorded with a cell:
    launch, panic, oops, boot-failed, silence, timeout, exited, ssh, qmp,
    command-timeout, state, snapshot; and from `diagnose()`, hang (the
    level is frozen) or workload-timeout (a command ran out of time in a
    guest that still answers)."""

    def __init__(self, level: str, cause: str, message: str, *, argv: Sequence[str] = (), console_tail: str = ""):
        self.level = level
        self.cause = cause
        self.argv = list(argv)
        self.console_tail = console_tail
        text = f"{level}: {cause}: {message}"
        if console_tail:
            text += f"\n--- {level} console (last lines) ---\n{console_tail}"
        super().__init__(text)


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    elapsed: float


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (QEMU binds it a moment later; a
    collision shows up as a launch failure)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connect_socket(address: str | tuple[str, int], deadline: float, alive=lambda: True) -> socket.socket:
    """Connect to a unix path or (host, port), retrying until `deadline`
    while the other end may still be coming up (and is still alive)."""
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    while True:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.connect(address)
            return sock
        except OSError:
            sock.close()
            if time.monotonic() > deadline or not alive():
                raise
            time.sleep(0.05)


class Guest:
    """What L1 and L2 share: console, QMP and SSH once connected, the
    watchdogs and the states. Subclasses own the QEMU process."""

    STATES = ("created", "running", "ready", "paused", "stopped")

    def __init__(self, level: str, spec: QemuSpec, folder: Path, keys: ssh.Keys, *,
                 ready_timeout: float = 180, silence_timeout: float = 120, ssh_timeout: float = 60,
                 powerdown_timeout: float = 15):
        self.level = level
        self.spec = spec
        self.folder = folder
        self.keys = keys
        self.ready_timeout = ready_timeout
        self.silence_timeout = silence_timeout
        self.ssh_timeout = ssh_timeout
        self.powerdown_timeout = powerdown_timeout
        self.state = "created"
        self.console = Console(level, folder / f"{level.lower()}-console.log")
        self.qmp_client: QEMUMonitorProtocol | None = None
        self.conn: fabric.Connection | None = None
        self.timings: dict[str, float] = {}
        self.frozen: str | None = None  # QEMU's run state once a freeze watch saw it stop
        self._launched_at = 0.0

    # -- states ------------------------------------------------------------

    def _expect_state(self, *allowed: str) -> None:
        if self.state not in allowed:
            raise MachineError(self.level, "state", f"operation needs state {' or '.join(allowed)}, machine is {self.state}")

    def fail(self, cause: str, message: str) -> MachineError:
        return MachineError(self.level, cause, message, argv=self.spec.argv(), console_tail=self.console.tail())

    # -- to be provided by the owner of the process --------------------------

    def alive(self) -> bool:
        raise NotImplementedError

    def exit_detail(self) -> str:
        return ""

    # -- watchdogs -----------------------------------------------------------

    def check_outer(self) -> None:
        """The levels this one runs inside first: their failure explains ours."""

    def check(self) -> None:
        """Raise if anything says the machine is gone or broken."""
        self.check_outer()
        fatal = self.console.fatal()
        if fatal:
            raise self.fail(fatal.kind, fatal.text)
        if self.frozen:
            raise self.fail("hang", f"the guest stopped running (QEMU status {self.frozen!r})")
        if self.state in ("running", "ready", "paused") and not self.alive():
            raise self.fail("exited", f"QEMU exited unexpectedly{self.exit_detail()}")
        # Silence is only suspicious while booting: a workload may print nothing.
        if self.state == "running" and self.console.silent_for() > self.silence_timeout:
            raise self.stalled("silence", f"no console output for {self.silence_timeout:.0f}s")

    def stalled(self, cause: str, message: str) -> MachineError:
        """A boot or SSH that stalled: a hang if QEMU says the guest does not
        run (paused, or QMP silent), else `cause`. Only a guest that runs
        and still says nothing is the emulator's stall worth a retry."""
        self.check_outer()
        status = self.probe_qmp(PROBE_TIMEOUT_S) if self.qmp_client is not None else "lost"
        if status not in ("running", "lost"):
            return self.fail("hang", f"{message}; QEMU status {status!r}: the guest does not run")
        return self.fail(cause, message)

    def ping_qmp(self) -> None:
        try:
            assert self.qmp_client is not None
            self.qmp_client.cmd("query-status")
        except (QMPError, OSError, EOFError, AssertionError) as exc:
            raise self.fail("qmp", f"QMP connection lost: {exc!r}") from None

    # -- probes: who failed, once a command timed out or SSH broke ------------

    def probe_qmp(self, timeout: float = PROBE_TIMEOUT_S) -> str:
        """QEMU's run state ("running", "paused", ...), "no-answer" if QMP is
        silent for `timeout`, or "lost" if the connection is gone."""
        client = self.qmp_client
        if client is None:
            return "lost"
        client.settimeout(timeout)
        try:
            return str(client.cmd("query-status").get("status", "unknown"))  # type: ignore[union-attr]
        except TimeoutError:
            return "no-answer"
        except (QMPError, OSError, EOFError, AttributeError):
            return "lost"
        finally:
            client.settimeout(QMP_TIMEOUT_S)

    def probe_ssh(self, timeout: float = PROBE_TIMEOUT_S,
                  gateway: fabric.Connection | None = None) -> tuple[str, fabric.Connection | None]:
        """A fresh SSH connection and `true`: ("ok", the open connection),
        ("silent", None) when nothing answers within `timeout` (a frozen guest
        or sshd: the port is open, no banner comes), ("refused", None) when
        the connection fails before that (no sshd, no listener)."""
        host, port, default_gateway = self._ssh_endpoint()
        conn = ssh.connect(host, port, self.keys, gateway=gateway or default_gateway, timeout=timeout,
                           channel_open_s=timeout)
        start = time.monotonic()
        try:
            conn.open()
            with ssh.deadline(conn, timeout) as cut:
                conn.run(ssh.command(["true"]), timeout=timeout, hide=True, warn=False, in_stream=False)
            if cut.is_set():
                raise TimeoutError("no answer")
            return "ok", conn
        except Exception:  # paramiko, invoke (CommandTimedOut, UnexpectedExit), OSError, EOFError
            with contextlib.suppress(Exception):
                conn.close()
            return ("silent" if time.monotonic() - start >= timeout * 0.9 else "refused"), None

    def wait_console_end(self, timeout: float = 5.0) -> None:
        """After QEMU exited: until the console thread read the last bytes
        (a panic's lines come just before the end)."""
        deadline = time.monotonic() + timeout
        while not self.console.eof and time.monotonic() < deadline:
            time.sleep(0.1)

    def qmp(self, command: str, **args: Any) -> Any:
        self._expect_state("running", "ready", "paused")
        assert self.qmp_client is not None
        try:
            return self.qmp_client.cmd(command, **args)
        except (OSError, EOFError) as exc:
            raise self.fail("qmp", f"QMP connection lost during {command}: {exc!r}") from None

    # -- boot ----------------------------------------------------------------

    def _attach(self, console_sock: socket.socket, qmp_address: Any, wait: float = 15) -> None:
        self.console.attach(console_sock)
        deadline = time.monotonic() + wait
        while True:
            # an SSH tunnel's listener may come up a moment after the other's
            client = QEMUMonitorProtocol(qmp_address, nickname=self.level)
            client.settimeout(QMP_TIMEOUT_S)
            try:
                # qemu.qmp's synchronous connect has no timeout of its own: a
                # QMP server busy with another client would hold it forever
                client._sync(client._qmp.connect(qmp_address), timeout=20)  # noqa: SLF001
                break
            except (QMPError, OSError, asyncio.TimeoutError) as exc:
                client.close()
                if time.monotonic() > deadline:
                    raise OSError(f"QMP at {qmp_address} refused: {exc!r}") from None
                time.sleep(0.2)
        self.qmp_client = client
        client.cmd("cont")
        self.state = "running"
        live.track(self)

    def wait_ready(self) -> None:
        """Until the init says ready and SSH answers; a watchdog ends it early."""
        self._expect_state("running")
        deadline = self._launched_at + self.ready_timeout
        while True:
            event = self.console.wait(("ready", "boot-failed", "panic", "oops"), timeout=0.5)
            self.check()
            if event and event.kind == "ready":
                break
            if time.monotonic() > deadline:
                raise self.stalled("timeout", f"not ready within {self.ready_timeout:.0f}s")
        self.timings["console_ready_s"] = time.monotonic() - self._launched_at
        self._connect_ssh(deadline=time.monotonic() + self.ssh_timeout)
        self.timings["ready_s"] = time.monotonic() - self._launched_at
        self.state = "ready"

    def _ssh_endpoint(self) -> tuple[str, int, fabric.Connection | None]:
        raise NotImplementedError

    def _connect_ssh(self, deadline: float) -> None:
        host, port, gateway = self._ssh_endpoint()
        last: Exception | None = None
        while time.monotonic() < deadline:
            self.check()
            conn = ssh.connect(host, port, self.keys, gateway=gateway)
            try:
                conn.open()
                self.conn = conn
                return
            except (paramiko.SSHException, OSError, EOFError) as exc:
                last = exc
                conn.close()
                time.sleep(0.5)
        raise self.stalled("ssh", f"SSH to {host}:{port} unreachable: {last!r}")

    # -- commands ------------------------------------------------------------

    def run(self, argv: Sequence[str], *, timeout: float = 300, check: bool = False) -> CommandResult:
        """Run argv in the guest over SSH; quoting keeps it one argv."""
        self._expect_state("ready")
        assert self.conn is not None
        start = time.monotonic()
        line = ssh.command(argv)
        with ssh.deadline(self.conn, timeout + CUT_SLACK_S) as cut:
            try:
                r = self.conn.run(line, timeout=timeout, hide=True, warn=True, in_stream=False)
            except invoke.CommandTimedOut:
                self.check()
                raise self.fail("command-timeout", f"{line} did not finish within {timeout:.0f}s") from None
            except Exception as exc:  # paramiko, invoke's IO threads, OSError, EOFError
                if not (cut.is_set() or isinstance(exc, (paramiko.SSHException, OSError, EOFError))):
                    raise
                self._ssh_failed(line, exc, cut.is_set(), timeout)
        if cut.is_set():  # the cut channel may still have returned, with no exit status
            self._ssh_failed(line, None, True, timeout)
        if r.exited == NO_EXIT_STATUS:
            # The channel closed under the command. At its timeout that is
            # invoke's own kill: its timer thread may still be closing the
            # channel when the command returns, and then invoke does not
            # raise CommandTimedOut (seen on a loaded host).
            self.check()
            if time.monotonic() - start >= timeout:
                raise self.fail("command-timeout", f"{line} did not finish within {timeout:.0f}s")
            raise self.fail("ssh", f"SSH closed under {line} before it ended")
        result = CommandResult(tuple(argv), r.exited, r.stdout, r.stderr, time.monotonic() - start)
        if check and result.exit_code != 0:
            raise self.fail("command", f"{ssh.command(argv)} exited {result.exit_code}: {result.stderr.strip()[-500:]}")
        return result

    def _ssh_failed(self, line: str, exc: Exception | None, cut: bool, timeout: float) -> None:
        self.check()  # a panic, a freeze or a dead QEMU explains a broken SSH best
        if cut:
            raise self.fail("command-timeout", f"{line}: no answer within {timeout + CUT_SLACK_S:.0f}s (SSH cut)")
        raise self.fail("ssh", f"SSH failed running {line}: {exc!r}")

    def get(self, remote: str, local: Path) -> None:
        self._sftp(lambda conn: conn.get(remote, str(local)), f"get {remote}")

    def put(self, local: Path, remote: str, mode: int = 0o600) -> None:
        def send(conn: fabric.Connection) -> None:
            conn.put(str(local), remote)
            conn.sftp().chmod(remote, mode)
        self._sftp(send, f"put {remote}")

    def _sftp(self, work: Any, what: str) -> None:
        self._expect_state("ready")
        assert self.conn is not None
        with ssh.deadline(self.conn, SFTP_S) as cut:
            try:
                work(self.conn)
            except Exception as exc:
                if not (cut.is_set() or isinstance(exc, (paramiko.SSHException, OSError, EOFError))):
                    raise
                self._ssh_failed(what, exc, cut.is_set(), SFTP_S - CUT_SLACK_S)
        if cut.is_set():
            self._ssh_failed(what, None, True, SFTP_S - CUT_SLACK_S)

    # -- teardown ------------------------------------------------------------

    def disconnect_ssh(self) -> None:
        """Close SSH (and whatever rides on it: L2's tunnels go first)."""
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None

    def _close_channels(self) -> None:
        live.untrack(self)
        self.disconnect_ssh()
        if self.qmp_client is not None:
            with contextlib.suppress(Exception):
                self.qmp_client.close()
            self.qmp_client = None
        self.console.close()
