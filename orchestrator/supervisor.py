"""The command line's supervisor: the guarantee behind "a signal ends
orchestrator within 5 s, with exit 130, leaving no child and nothing
half-written", whatever the command is doing.

In the process that does the work, an interrupt is handled in order
(interrupt.py): Python's handler raises KeyboardInterrupt, owners clean up,
a watcher thread stops the children. All of that needs the interpreter,
and a thread stuck inside one C or Rust call that holds the GIL (a huge
JSON dump, pydantic-core on a huge document) lets no Python run at all.
So the console script forks before it does anything: the parent, this
supervisor, runs nothing but a small loop that cannot get stuck. It passes
a signal on to the worker and waits; if the worker has not ended
HARD_EXIT_S later, the supervisor kills the worker's process groups (make
and its compilers, mmdebstrap, QEMU), then the worker, removes the staging
folders the worker had registered (interrupt.on_last_resort), and exits
130 itself. It does the same if the worker dies of a signal it did not
choose (the OOM killer's SIGKILL).

Tests that call `cli.main.main()` in-process get no supervisor; the
console script and `python -m orchestrator.cli.main` do.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from orchestrator.errors import EXIT_INTERRUPTED

HARD_EXIT_S = 2.5  # after the first signal (the worker's own last resort comes at 2.0), within the 5 s promised
ENV_OFF = "ORCHESTRATOR_NO_SUPERVISOR"  # run in one process (a debugger, a profiler)


def supervise(work: Callable[[], int]) -> int:
    """Run `work` in a forked worker and return its exit code."""
    if os.environ.get(ENV_OFF):
        return work()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker
        os.close(read)
        code = 1
        try:
            from orchestrator import interrupt
            interrupt.report_to(write)
            code = work()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except KeyboardInterrupt:
            code = EXIT_INTERRUPTED
        except BaseException:  # a bug: its traceback, as Python would print it
            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)
    os.close(write)
    return _Supervisor(pid, read).wait()


class _Supervisor:
    def __init__(self, pid: int, registry: int):
        self.pid = pid
        self.registry = registry
        self.paths: set[str] = set()
        self.signalled_at: float | None = None
        self._buffer = b""
        for sig in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(sig) is not signal.SIG_IGN:
                signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: object) -> None:
        if self.signalled_at is None:
            self.signalled_at = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            # SIGINT from a terminal reached the worker already (same
            # process group); a SIGTERM sent to our pid alone did not
            os.kill(self.pid, signum)

    def wait(self) -> int:
        while True:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                return self._ended(status)
            self._read_registry(0.1)
            if self.signalled_at is not None and time.monotonic() - self.signalled_at > HARD_EXIT_S:
                sys.stderr.write("orchestrator: interrupted, and the worker did not end in time: killing it\n")
                self._kill_worker()
                return EXIT_INTERRUPTED

    def _read_registry(self, timeout: float) -> None:
        """Lines "+PATH" and "-PATH" from the worker: staging folders it is
        writing now, which a killed worker would leave half-written."""
        try:
            ready, _, _ = select.select([self.registry], [], [], timeout)
        except InterruptedError:
            return
        if not ready:
            return
        chunk = os.read(self.registry, 65536)
        if not chunk:
            time.sleep(timeout)  # the worker closed it: it is ending
            return
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            path = os.fsdecode(line[1:])
            if line.startswith(b"+"):
                self.paths.add(path)
            elif line.startswith(b"-"):
                self.paths.discard(path)

    def _ended(self, status: int) -> int:
        if os.WIFEXITED(status):
            return os.WEXITSTATUS(status)
        sig = os.WTERMSIG(status)
        sys.stderr.write(f"orchestrator: the worker was killed by signal {sig}\n")
        self._kill_worker()
        return EXIT_INTERRUPTED if self.signalled_at is not None else 128 + sig

    def _kill_worker(self) -> None:
        ours = os.getpgrp()
        for pid in descendants(self.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                group = os.getpgid(pid)
                if group != ours:  # never our own group: that is us, and whoever started us
                    os.killpg(group, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        with contextlib.suppress(OSError):
            self._read_registry(0)
        for path in self.paths:
            shutil.rmtree(path, ignore_errors=True)


def descendants(root: int) -> list[int]:
    """Every process below `root`, read from /proc (children first found)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(text[text.rindex(")") + 2:].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out
