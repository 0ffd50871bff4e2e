"""Which level failed, and how: probes of L1 and L2 from the outside,
once a command timed out or SSH broke."""

from __future__ import annotations

import contextlib
import time

import fabric

from orchestrator.machine import ssh
from orchestrator.machine.guest import EXIT_GRACE_S, PROBE_TIMEOUT_S, Guest, MachineError


def diagnose(l1: Guest, l2: Guest | None = None,
             timeout: float = PROBE_TIMEOUT_S) -> tuple[MachineError | None, list[str]]:
    """Which level failed, and how, once a command timed out or SSH broke.

    Outer level first, since L2's SSH, console and QMP all ride on L1's SSH:
    a panic or oops on the console ("panic", "oops"); QEMU gone ("exited";
    L2's exit shows as its console's end, checked against its pid in L1);
    QEMU paused or silent on QMP ("hang"), QMP gone ("qmp"); a fresh SSH
    connection and `true` within `timeout`: no answer ("hang": the port is
    open, the guest is frozen), refused ("ssh": sshd is gone). Returns the
    failure (None when every level answers) and what the probes saw, which
    goes with the failure as evidence."""
    seen: list[str] = []
    conns: list[fabric.Connection] = []
    gateway: fabric.Connection | None = None
    try:
        for guest in (l1, l2):
            if guest is None:
                break
            failure, conn = _probe_level(guest, gateway, timeout, seen)
            if failure is not None:
                return failure, seen
            if conn is not None:
                conns.append(conn)
            gateway = conn
        return None, seen
    finally:
        for conn in reversed(conns):
            with contextlib.suppress(Exception):
                conn.close()


def _probe_level(guest: Guest, gateway: fabric.Connection | None, timeout: float,
                 seen: list[str]) -> tuple[MachineError | None, fabric.Connection | None]:
    level = guest.level

    def found(cause: str, message: str) -> MachineError:
        evidence = f"[probes] {'; '.join(seen)}\n{guest.console.tail()}"
        return MachineError(level, cause, message, argv=guest.spec.argv(), console_tail=evidence)

    def ended() -> MachineError | None:
        """A fatal line on the console, or QEMU gone; None while it runs."""
        fatal = guest.console.fatal()
        if fatal is None and not guest.alive():
            guest.wait_console_end()
            fatal = guest.console.fatal()
        if fatal is not None:
            seen.append(f"{level}: {fatal.kind} on the console: {fatal.text}")
            return found(fatal.kind, fatal.text)
        if guest.alive():
            return None
        pid = getattr(guest, "pid", None)
        if pid is not None and gateway is not None and _pid_alive(gateway, pid, timeout):
            seen.append(f"{level}: console closed, but QEMU (pid {pid}) still runs")
            return None
        seen.append(f"{level}: QEMU gone")
        return found("exited", f"QEMU exited unexpectedly{guest.exit_detail()}")

    failure = ended()
    if failure is not None:
        return failure, None
    status = guest.probe_qmp(timeout)
    seen.append(f"{level}: QMP query-status: {status}")
    if status == "lost":
        # a dying QEMU closes its sockets a moment before it is gone
        deadline = time.monotonic() + EXIT_GRACE_S
        while guest.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        return ended() or found("qmp", "QMP connection lost"), None
    if status == "no-answer":
        return found("hang", f"QEMU does not answer QMP within {timeout:.0f}s"), None
    if status != "running":
        return found("hang", f"the guest does not run (QEMU status {status!r}): no console, no SSH"), None
    verdict, conn = guest.probe_ssh(timeout, gateway)
    seen.append(f"{level}: SSH probe: {verdict}")
    if verdict == "silent":
        return found("hang", f"QEMU runs, but SSH gets no answer within {timeout:.0f}s"), None
    if verdict == "refused":
        return found("ssh", "SSH is refused while QEMU runs (sshd gone?)"), None
    return None, conn


def _pid_alive(conn: fabric.Connection, pid: int, timeout: float) -> bool:
    try:
        with ssh.deadline(conn, timeout) as cut:
            r = conn.run(ssh.command(["kill", "-0", str(pid)]), timeout=timeout, hide=True, warn=True, in_stream=False)
    except Exception:
        return False
    return r.exited == 0 and not cut.is_set()
