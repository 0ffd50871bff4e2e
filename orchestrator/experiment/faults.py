"""Failpoints: break a real machine on purpose while a cell's workload runs.

For the fault-injection suite (tests/qemu/test_faults.py), read from the
environment at the moment a cell's workload starts:

    ORCHESTRATOR_FAULTS="l2-panic@r002.tdp-off.file-mmap.baseline,l1-hang@r003.tdp-off.file-mmap.baseline"

Each item is FAULT@CELL-ID (the ids of `orchestrator run CONFIG --dry-run`
... or of the records), or FAULT@CELL-ID@PHASE to strike in another phase
of the cell (PHASES: boot-l1, boot-l2, restore, collect-start, workload,
collect-stop, teardown). Without the variable nothing happens: `armed()`
and `at_phase()` are no-ops. With it, in the workload phase, the cell's
workload is started as usual and, DELAY_S later, from another thread while
the workload's SSH command is in flight; in any other phase, from another
thread PHASE_DELAY_S after the phase began (in a boot phase, once the
level's QEMU is up), while the phase's own work is in flight:

  l1-panic      a kernel panic in L1: kernel.unknown_nmi_panic=1, then an
                NMI from QMP `inject-nmi` ("Kernel panic - not syncing: NMI:
                Not continuing"); the kernels have no CONFIG_MAGIC_SYSRQ, so
                `echo c > /proc/sysrq-trigger` is not available
  l2-panic      the same in L2 (its QMP, through the tunnel)
  l1-hang       QMP `stop` of L1 from the host: the guest freezes, no
                console, no SSH; QEMU still answers QMP
  l2-hang       QMP `stop` of L2 through its tunnel
  l1-sshd-kill  every sshd in L1 killed (kill -9, inside L1)
  l1-qemu-kill  L1's QEMU killed with SIGKILL on the host (our own child)
  l2-qemu-kill  L2's QEMU killed with kill -9 in L1
  workload-stall the workload's process in L2 stopped with SIGSTOP: it
                outlives its timeout while L2 keeps answering

An unknown fault name fails the cell (infrastructure) naming the variable.
A fault for a cell that is not run never fires.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from qemu.qmp.legacy import QEMUMonitorProtocol

from orchestrator.errors import UserError
from orchestrator.machine import live, ssh

log = logging.getLogger(__name__)

ENV = "ORCHESTRATOR_FAULTS"
DELAY_S = 1.5  # after the workload's command was sent: it has started in L2
PHASE_DELAY_S = 0.3  # the other phases are short: strike while they run
BOOTED_WAIT_S = 60.0  # the level struck must be up and running within this
# fault phase -> the names the cell reports its phases by (cell.run_cell)
PHASES: dict[str, tuple[str, ...]] = {
    "boot-l1": ("L1 boot",),
    "boot-l2": ("L2 boot",),
    "restore": ("restore",),
    "collect-start": ("collect (before)",),
    "workload": (),  # armed() around the workload's command
    "collect-stop": ("collect (after)",),
    "teardown": ("teardown", "detach"),
}

# every sshd (the listener first: the session serving this very command dies
# with it); a fixed script, nothing from a config in it
_KILL_SSHD = (
    'trap "" HUP; kill -9 "$(cat /run/sshd.pid)" 2>/dev/null; '
    'for p in /proc/[0-9]*; do [ "$(cat "$p/comm" 2>/dev/null)" = sshd ] && kill -9 "${p#/proc/}"; done; true'
)
# SIGSTOP to the process whose command line is the workload's argv ($1)
_STOP_WORKLOAD = (
    'for p in /proc/[0-9]*; do c=$(tr "\\0" " " < "$p/cmdline" 2>/dev/null); '
    'case "$c" in "$1 "*) kill -STOP "${p#/proc/}";; esac; done'
)
_NMI_PANICS = "echo 1 > /proc/sys/kernel/unknown_nmi_panic"


def _sh(guest: Any, script: str, *args: str, timeout: float = 30) -> None:
    """A fixed script in the guest, on its current SSH connection; the
    connection may die with the fault, which is the point."""
    assert guest.conn is not None
    guest.conn.run(ssh.command(["sh", "-c", script, "orch-fault", *args]),
                   timeout=timeout, hide=True, warn=True, in_stream=False)


def _panic(guest: Any) -> None:
    _sh(guest, _NMI_PANICS)
    guest.qmp_client.cmd("inject-nmi")


def _hang(guest: Any) -> None:
    spare = getattr(getattr(guest, "spec", None), "spare", None)
    if spare is None or not spare.path:
        guest.qmp_client.cmd("stop")  # L2: its one QMP, through the tunnel
        return
    # L1: a connection of this thread's own on L1's spare monitor; the cell
    # thread's client shares its event loop with L2's, which may be running
    client = QEMUMonitorProtocol(spare.path, nickname="fault")
    try:
        client.connect()
        client.cmd("stop")
    finally:
        client.close()
        live.release_thread_loop()


def _l1_sshd_kill(l1: Any, l2: Any, argv: Sequence[str]) -> None:
    _sh(l1, _KILL_SSHD, timeout=10)


def _l1_qemu_kill(l1: Any, l2: Any, argv: Sequence[str]) -> None:
    os.kill(l1.process.pid, signal.SIGKILL)  # the L1 QEMU this process started


def _l2_qemu_kill(l1: Any, l2: Any, argv: Sequence[str]) -> None:
    l1.conn.run(ssh.command(["kill", "-9", str(l2.pid)]), timeout=30, hide=True, warn=True, in_stream=False)


def _workload_stall(l1: Any, l2: Any, argv: Sequence[str]) -> None:
    _sh(l2, _STOP_WORKLOAD, " ".join(argv))


Inject = Callable[[Any, Any, Sequence[str]], None]
FAULTS: dict[str, Inject] = {
    "l1-panic": lambda l1, l2, argv: _panic(l1),
    "l2-panic": lambda l1, l2, argv: _panic(l2),
    "l1-hang": lambda l1, l2, argv: _hang(l1),
    "l2-hang": lambda l1, l2, argv: _hang(l2),
    "l1-sshd-kill": _l1_sshd_kill,
    "l1-qemu-kill": _l1_qemu_kill,
    "l2-qemu-kill": _l2_qemu_kill,
    "workload-stall": _workload_stall,
}


def parse(text: str) -> dict[str, tuple[str, str]]:
    """FAULT@CELL[@PHASE][,...] -> {cell id: (fault, phase)}."""
    out: dict[str, tuple[str, str]] = {}
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        fault, *rest = item.split("@")
        if len(rest) not in (1, 2) or not rest[0]:
            raise UserError(f"{ENV}: {item!r}: expected FAULT@CELL-ID or FAULT@CELL-ID@PHASE")
        cell, phase = rest[0], (rest[1] if len(rest) == 2 else "workload")
        if fault not in FAULTS:
            raise UserError(f"{ENV}: unknown fault {fault!r}; known: {', '.join(FAULTS)}")
        if phase not in PHASES:
            raise UserError(f"{ENV}: unknown phase {phase!r}; known: {', '.join(PHASES)}")
        if cell in out:
            raise UserError(f"{ENV}: two faults for cell {cell}")
        out[cell] = (fault, phase)
    return out


def planned(cell_id: str, phase: str = "workload") -> str | None:
    """The fault ORCHESTRATOR_FAULTS asks for in this cell's `phase`, if any."""
    text = os.environ.get(ENV, "")
    fault, where = parse(text).get(cell_id, (None, None)) if text.strip() else (None, None)
    return fault if where == phase else None


def at_phase(cell_id: str, name: str) -> None:
    """Called as the cell enters the phase it calls `name`: strike this
    cell's fault if it is planned for that phase. The machines are those
    the calling (cell) thread holds. The teardown is struck at once, before
    it goes on; any other phase once the level is up and running, while
    the phase's own work is in flight."""
    phase = next((p for p, names in PHASES.items() if name in names), None)
    fault = planned(cell_id, phase) if phase else None
    if fault is None:
        return
    wait = phase != "teardown"
    strike = threading.Thread(target=_strike, args=(fault, cell_id, threading.get_ident(), phase, wait),
                              name=f"fault-{fault}", daemon=True)
    strike.start()
    if not wait:
        # struck before the teardown goes on, but from a thread of its own:
        # a QMP client made in the cell thread would share (and, closed,
        # close) the event loop of the cell thread's clients
        strike.join(timeout=30)


def _target_up(guest: Any, phase: str) -> bool:
    # A restore starts from the paused template: strike once it runs again
    # (the cell thread is then connecting SSH, not using QMP, whose client
    # is not thread-safe).
    return guest is not None and (guest.state == "ready" if phase == "restore" else guest.state in ("running", "ready"))


def _strike(fault: str, cell_id: str, cell_thread: int, phase: str, wait: bool = True) -> None:
    level = "L2" if fault.startswith("l2-") else "L1"
    deadline = time.monotonic() + BOOTED_WAIT_S
    while True:
        held = {g.level: g for g in live.guests(cell_thread)}
        if not wait or _target_up(held.get(level), phase) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if wait:
        time.sleep(PHASE_DELAY_S)
    l1, l2 = held.get("L1"), held.get("L2")
    for guest in (l1, l2):
        with contextlib.suppress(Exception):
            guest.console.note(f"fault injection: {fault} in {phase} ({ENV})")
    log.warning("injecting fault %s into cell %s in phase %s", fault, cell_id, phase)
    try:
        FAULTS[fault](l1, l2, ())
    except Exception as exc:
        log.warning("fault %s for %s: %r", fault, cell_id, exc)


@contextlib.contextmanager
def armed(cell_id: str, l1: Any, l2: Any, argv: Sequence[str]) -> Iterator[None]:
    """Around the workload's command: inject this cell's fault, if any,
    DELAY_S after the command started (never after it ended)."""
    fault = planned(cell_id)
    if fault is None:
        yield
        return
    ended = threading.Event()

    def inject() -> None:
        if ended.wait(DELAY_S):
            log.warning("fault %s for %s not injected: the workload ended within %.1fs", fault, cell_id, DELAY_S)
            return
        for guest in (l1, l2):
            with contextlib.suppress(Exception):
                guest.console.note(f"fault injection: {fault} ({ENV})")
        log.warning("injecting fault %s into cell %s", fault, cell_id)
        try:
            FAULTS[fault](l1, l2, argv)
        except Exception as exc:  # the fault may well cut the channel it was sent on
            log.debug("fault %s: %r", fault, exc)

    thread = threading.Thread(target=inject, name=f"fault-{fault}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        ended.set()
        thread.join(timeout=60)
