"""L1's freeze watch: a second QMP monitor, polled from the host.

A frozen L1 (its QEMU paused, or its main loop silent) answers no SSH: every
operation on it or on L2 inside it then waits for its own timeout, which for
a collector's report is minutes. QEMU's own run state says at once that the
guest stopped. The watch asks it over a monitor of its own (a second
`-mon`, so it never shares the cell thread's QMP client, which is not
thread-safe) and, once L1 has not been running for PATIENCE polls in a row,
reports the freeze: the owner marks itself frozen and cuts its SSH, and
every wait on L1 or on L2 (whose SSH, console and QMP ride on L1's SSH)
ends with an error that the cell's diagnosis names as a hang of L1.

Costs nothing in the guest: query-status is answered by QEMU's main loop
on the host, never by L1's vCPU. Our own pauses (savevm, loadvm, a saved
template held between cells) are announced with `expect(running=False)`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from qemu.qmp import QMPError
from qemu.qmp.legacy import QEMUMonitorProtocol

from orchestrator.machine import live

log = logging.getLogger(__name__)

INTERVAL_S = 1.0
PATIENCE = 3  # polls in a row not running: a freeze, not a blink
ANSWER_S = 5.0  # query-status unanswered this long counts as not running


class FreezeWatch:
    def __init__(self, address: str, on_freeze: Callable[[str], None], *, name: str = "L1"):
        self.address = address
        self.on_freeze = on_freeze
        self.name = name
        self._running_expected = True
        self._generation = 0  # bumped by expect(): a poll that straddles it is void
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"freeze-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=ANSWER_S + 2)

    def expect(self, running: bool) -> None:
        with self._lock:
            self._running_expected = running
            self._generation += 1

    def _connect(self) -> QEMUMonitorProtocol | None:
        client = QEMUMonitorProtocol(self.address, nickname=f"{self.name}-watch")
        client.settimeout(ANSWER_S)
        try:
            # the synchronous connect has no timeout of its own
            client._sync(client._qmp.connect(self.address), timeout=10)  # noqa: SLF001
            return client
        except (QMPError, OSError, asyncio.TimeoutError) as exc:
            log.warning("%s: freeze watch not started: %r", self.name, exc)
            client.close()
            return None

    def _status(self, client: QEMUMonitorProtocol) -> str | None:
        """QEMU's run state, "no-answer", or None once QMP is gone (QEMU
        ended: its owner sees that for itself)."""
        try:
            return str(client.cmd("query-status").get("status", "unknown"))  # type: ignore[union-attr]
        except TimeoutError:
            return "no-answer"
        except (QMPError, OSError, EOFError, RuntimeError):
            return None

    def _loop(self) -> None:
        client = self._connect()
        if client is None:
            return
        bad, reported = 0, -1
        try:
            while not self._stop.wait(INTERVAL_S):
                with self._lock:
                    generation, expected = self._generation, self._running_expected
                status = self._status(client)
                if status is None:
                    return
                with self._lock:
                    void = generation != self._generation or not self._running_expected
                if void or not expected:
                    bad = 0
                    continue
                bad = bad + 1 if status != "running" else 0
                if bad >= PATIENCE and generation != reported:
                    # once per episode: the next one starts when the owner
                    # pauses or restores the machine itself (expect())
                    log.warning("%s: frozen (QEMU status %r for %d polls)", self.name, status, bad)
                    reported = generation
                    self.on_freeze(status)
        finally:
            client.close()
            live.release_thread_loop()
