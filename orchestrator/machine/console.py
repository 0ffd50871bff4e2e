"""A guest's serial console, read with pexpect on a socket into the run log.

A thread follows the console for the machine's whole life: it writes every
byte to the log, keeps a tail for error messages, remembers when output last
came (the silence watchdog), and records the lines that matter: our init's
ready and failed markers, and kernel panics and oopses, which end a boot at
once instead of after a timeout.
"""

from __future__ import annotations

import collections
import re
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pexpect
from pexpect import fdpexpect

from orchestrator.machine.qemu import BOOT_FAILED_MARKER, READY_MARKER

PATTERNS = {
    "ready": re.compile(re.escape(READY_MARKER)),
    "boot-failed": re.compile(re.escape(BOOT_FAILED_MARKER) + r":[^\r\n]*"),
    "panic": re.compile(r"Kernel panic - not syncing[^\r\n]*"),
    "oops": re.compile(r"(?:Oops: [^\r\n]*|BUG: [^\r\n]*|general protection fault[^\r\n]*)"),
}
FATAL = ("boot-failed", "panic", "oops")


@dataclass(frozen=True)
class Event:
    kind: str
    text: str
    at: float  # time.monotonic()


class _Tee:
    """pexpect's logfile_read: to the log file, the tail, and the clock."""

    def __init__(self, log: IO[str], tail: collections.deque[str], touched: list[float]):
        self.log = log
        self.tail = tail
        self.touched = touched
        self.partial = ""

    def write(self, data: str) -> None:
        self.log.write(data)
        self.touched[0] = time.monotonic()
        text = self.partial + data
        lines = text.split("\n")
        self.partial = lines.pop()
        self.tail.extend(line.rstrip("\r") for line in lines)

    def flush(self) -> None:
        self.log.flush()


class Console:
    def __init__(self, level: str, log_path: Path, tail_lines: int = 60):
        self.level = level
        self.log_path = log_path
        self._tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
        self._touched = [time.monotonic()]
        self._events: list[Event] = []
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._eof = False
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._log: IO[str] | None = None

    def attach(self, sock: socket.socket) -> None:
        self._sock = sock
        self._log = open(self.log_path, "a", encoding="utf-8", errors="replace")
        tee = _Tee(self._log, self._tail, self._touched)
        child = fdpexpect.fdspawn(sock.fileno(), encoding="utf-8", codec_errors="replace", logfile=None)
        child.logfile_read = tee
        self._thread = threading.Thread(target=self._follow, args=(child, tee), name=f"console-{self.level}", daemon=True)
        self._thread.start()

    def _follow(self, child: fdpexpect.fdspawn, tee: _Tee) -> None:
        kinds = list(PATTERNS)
        patterns = [PATTERNS[k] for k in kinds] + [pexpect.TIMEOUT, pexpect.EOF]
        while not self._stop.is_set():
            try:
                idx = child.expect(patterns, timeout=0.5)
            except (OSError, ValueError):
                break
            if idx < len(kinds):
                with self._lock:
                    self._events.append(Event(kinds[idx], str(child.after).strip(), time.monotonic()))
                    self._lock.notify_all()
            elif idx == len(kinds) + 1:  # EOF: QEMU closed the console
                break
        with self._lock:
            self._eof = True
            self._lock.notify_all()
        tee.flush()

    # -- what the watchdogs read --------------------------------------------

    @property
    def eof(self) -> bool:
        return self._eof

    def silent_for(self) -> float:
        return time.monotonic() - self._touched[0]

    def events(self, kind: str | None = None) -> list[Event]:
        with self._lock:
            return [e for e in self._events if kind is None or e.kind == kind]

    def fatal(self) -> Event | None:
        with self._lock:
            return next((e for e in self._events if e.kind in FATAL), None)

    def tail(self, n: int = 30) -> str:
        return "\n".join(list(self._tail)[-n:])

    def wait(self, kinds: tuple[str, ...], timeout: float) -> Event | None:
        """The first event of one of `kinds`, waiting up to `timeout`."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                hit = next((e for e in self._events if e.kind in kinds), None)
                left = deadline - time.monotonic()
                if hit or self._eof or left <= 0:
                    return hit
                self._lock.wait(min(left, 0.5))

    def note(self, text: str) -> None:
        """A line of ours in the log (the guest's bytes stay as they came)."""
        if self._log:
            self._log.write(f"\n[orchestrator] {text}\n")
            self._log.flush()

    def close(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        if self._sock:
            self._sock.close()
        if self._log:
            self._log.close()
