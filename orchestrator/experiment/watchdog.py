"""A cell's watchdog: the last bound on a cell, whatever its machines do.

Every wait on a guest has a bound of its own (SSH commands and channel
opens, QMP, the console, L1's freeze watch). The watchdog is the bound on
all of them together, so that no mistake in one of those can hold a run
forever: a cell gets a budget from its boot, workload and collector
timeouts. Once the budget is spent, the watchdog cuts the SSH connections
of the machines its worker thread holds, so the cell's waits end and the
cell thread probes its machines as after any failure (`cell.who_failed`).
If the cell still has not ended ESCALATE_S later, it stops those machines'
QEMU processes, which ends every wait on them. The cell is then recorded
as failed: class `hang`, at the level the probes found, or `orchestrator`
when they found none.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from orchestrator import proc
from orchestrator.config.schema import L1Machine, L2Machine
from orchestrator.machine import live, ssh

log = logging.getLogger(__name__)

ESCALATE_S = 90.0  # after the cut: long enough for the probes (10 s a level) and a teardown
SSH_READY_S = 60.0  # a guest's SSH after its console said ready (Guest.ssh_timeout)
L2_LAUNCH_S = 120.0  # L2's QEMU started over SSH (NestedMachine.launch)
RESTORE_S = 120.0  # loadvm, SSH to L1 again, L2 reattached
# the collectors' slowest steps, each bounded on its own: kvm_stat's header
# (90 s), perf ready (90 s), perf kvm stat's stop and report (300 s)
COLLECTORS_S = 600.0
TEARDOWN_S = 180.0  # both levels' powerdown, quit and kill, and their waits
PROBES_S = 60.0  # diagnose(): QMP and a fresh SSH per level, 10 s each


def budget_s(l1: L1Machine, l2: L2Machine, workload_timeout_s: float, l2_attempts: int) -> float:
    """The most a healthy cell can take, booting its machines included."""
    boot = l1.boot_timeout_s + SSH_READY_S + l2_attempts * (L2_LAUNCH_S + l2.boot_timeout_s + SSH_READY_S)
    return boot + RESTORE_S + COLLECTORS_S + workload_timeout_s + TEARDOWN_S + PROBES_S


class CellWatchdog:
    """Watches the cell run by the thread that enters it."""

    def __init__(self, cell_id: str, budget: float, *, escalate_s: float = ESCALATE_S):
        self.cell_id = cell_id
        self.budget = budget
        self.escalate_s = escalate_s
        self.phase = "start"
        self.expired_in: str | None = None  # the phase the budget ran out in
        self.escalated = False
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._cell_thread = 0

    def __enter__(self) -> CellWatchdog:
        self._cell_thread = threading.get_ident()
        self._thread = threading.Thread(target=self._watch, name=f"watchdog-{self.cell_id}", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    @property
    def expired(self) -> bool:
        return self.expired_in is not None

    def _watch(self) -> None:
        if self._done.wait(self.budget):
            return
        self.expired_in = self.phase
        log.warning("cell %s: budget of %.0fs spent in phase %r: cutting its machines' SSH",
                    self.cell_id, self.budget, self.phase)
        for guest in live.guests(self._cell_thread):
            ssh.close_transport(guest.conn)
        if self._done.wait(self.escalate_s):
            return
        self.escalated = True
        log.warning("cell %s: still running %.0fs after the cut: stopping its QEMU processes",
                    self.cell_id, self.escalate_s)
        for p in live.processes(self._cell_thread):
            proc.stop_group(p, grace=2)

    def failure(self, found: dict[str, Any] | None) -> dict[str, Any]:
        """The record's failure once the budget ran out: what the probes
        found, if they found a level, else a hang of the cell itself."""
        what = f"cell exceeded its budget of {self.budget:.0f}s in phase {self.expired_in!r}"
        if found and found.get("level") in ("L1", "L2") and found.get("class") not in ("infrastructure", "interrupted"):
            return {**found, "message": f"{found['message']} ({what})"}
        evidence = f"{found['message']}\n{found.get('evidence', '')}" if found else ""
        return {"class": "hang", "level": "orchestrator", "message": what, "evidence": evidence}
