"""SIGINT and SIGTERM, in every phase: the process ends within seconds,
with exit code 130, no child left and nothing half-written.

Python runs a signal handler only between bytecodes of the main thread, so
a main thread inside one long C call (a regex, a YAML composer, a C
extension) or waiting on a stuck thread would not see the signal for as
long as that lasts. Here the C-level handler also writes the signal number
to a wakeup pipe (`signal.set_wakeup_fd`), and a watcher thread that blocks
on that pipe acts at once, whatever the main thread does:

1. it marks the run interrupted (cells then record themselves so, and no
   retry starts);
2. it stops every child process group (make, mmdebstrap, QEMU, perf...);
3. if the process has not ended HARD_EXIT_S later, it removes the
   registered staging folders (of a build or a merge) and exits with 130.
   That needs the interpreter too: a thread stuck in one C call that holds
   the GIL stops it, and then the supervisor (supervisor.py) acts.

Meanwhile the Python-level handler raises KeyboardInterrupt in the main
thread as soon as it can, which is the orderly path: every owner cleans up
in its `finally` and the CLI returns 130.
SIGINT that the process inherited ignored (started under `nohup`, or as a
background job of a shell) stays ignored.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from orchestrator import proc
from orchestrator.errors import EXIT_INTERRUPTED

log = logging.getLogger(__name__)

INTERRUPTED = threading.Event()  # set at the first signal, seen by every thread
HARD_EXIT_S = 2.0  # the orderly path has this long; the promise to users is 5 s
CHILD_GRACE_S = 1.0

_paths: set[str] = set()
_paths_lock = threading.Lock()
_report_fd: int | None = None


def report_to(fd: int) -> None:
    """In a supervised worker: tell the supervisor (supervisor.py) what to
    remove if it has to kill this process."""
    global _report_fd
    _report_fd = fd


def _report(line: str) -> None:
    if _report_fd is not None:
        with contextlib.suppress(OSError):
            os.write(_report_fd, os.fsencode(line) + b"\n")  # under PIPE_BUF: one atomic write


def on_last_resort(path: Path) -> Callable[[], None]:
    """Remove the folder `path` if an interrupt must end the process before
    the caller is done with it (a staging folder it is half-way writing).
    Returns the call that withdraws it, for the caller's own `finally`."""
    name = os.fspath(path)
    with _paths_lock:
        _paths.add(name)
    _report(f"+{name}")

    def withdraw() -> None:
        with _paths_lock:
            _paths.discard(name)
        _report(f"-{name}")
    return withdraw


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


class Interrupts:
    """Installed around a CLI command (main thread only)."""

    def __init__(self, hard_exit_s: float = HARD_EXIT_S):
        self.hard_exit_s = hard_exit_s
        self._done = threading.Event()

    def __enter__(self) -> Interrupts:
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        self._previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig, old in self._previous.items():
            if old is not signal.SIG_IGN:
                signal.signal(sig, _raise_interrupt)
        self._old_fd = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        threading.Thread(target=self._watch, name="interrupts", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        signal.set_wakeup_fd(self._old_fd)
        for sig, old in self._previous.items():
            signal.signal(sig, old)
        os.close(self._write)  # ends the watcher's read

    def _watch(self) -> None:
        while True:
            try:
                data = os.read(self._read, 16)
            except OSError:
                return
            if not data or self._done.is_set():
                os.close(self._read)
                return
            if any(b in (signal.SIGINT, signal.SIGTERM) for b in data):
                self._on_signal()

    def _on_signal(self) -> None:
        # one interrupt, however often it is signalled: Ctrl-C reaches us
        # from the terminal and again through the supervisor
        if INTERRUPTED.is_set():
            return
        INTERRUPTED.set()
        threading.Thread(target=self._stop_children, name="interrupt-stop", daemon=True).start()
        threading.Thread(target=self._deadline, name="interrupt-deadline", daemon=True).start()

    def _stop_children(self) -> None:
        # every child, QEMU included, was started through proc
        proc.stop_all(CHILD_GRACE_S)

    def _deadline(self) -> None:
        # not cancelled when the command returns: the interpreter's exit
        # still joins worker threads, and a stuck one would hold it
        threading.Event().wait(self.hard_exit_s)
        self._last_resort(f"not ended {self.hard_exit_s:.0f}s after the signal")

    def _last_resort(self, why: str) -> None:
        with contextlib.suppress(Exception):
            sys.stderr.write(f"orchestrator: interrupted ({why}): stopping now\n")
            sys.stderr.flush()
        with contextlib.suppress(Exception):
            proc.stop_all(0.5)
        with _paths_lock:
            paths = list(_paths)
        for path in paths:
            shutil.rmtree(path, ignore_errors=True)
        os._exit(EXIT_INTERRUPTED)
