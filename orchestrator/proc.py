"""The one subprocess helper.

Every external command goes through here: argv lists only (never a shell
string), output teed into a log file, and a timeout that escalates from
SIGTERM to SIGKILL on the whole process group, so nothing outlives us.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from orchestrator.errors import InfraError

KILL_GRACE_S = 5.0

# Every child alive now, so that an interrupt can stop them all from any
# thread, even while the thread that owns one is stuck.
_CHILDREN: set[subprocess.Popen] = set()
_CHILDREN_LOCK = threading.Lock()


def _adopt(p: subprocess.Popen) -> subprocess.Popen:
    with _CHILDREN_LOCK:
        _CHILDREN.add(p)
    return p


def _release(p: subprocess.Popen) -> None:
    with _CHILDREN_LOCK:
        _CHILDREN.discard(p)


def stop_all(grace: float = 1.0) -> int:
    """Stop every child process group still running (an interrupt)."""
    with _CHILDREN_LOCK:
        alive = [p for p in _CHILDREN if p.poll() is None]
    for p in alive:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for p in alive:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
    return len(alive)

_PR_SET_PDEATHSIG = 1
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _prctl = None


def _die_with_parent() -> None:
    """In the child, before exec: be killed when our parent dies, even by
    SIGKILL, so no make or QEMU outlives the orchestrator."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class CommandFailed(InfraError):
    def __init__(self, argv: Sequence[str], returncode: int, tail: str, log: Path | None):
        self.argv = list(argv)
        self.returncode = returncode
        self.tail = tail
        self.log = log
        where = f" (log: {log})" if log else ""
        super().__init__(
            f"command failed with exit code {returncode}: {' '.join(self.argv)}{where}\n{tail}"
        )


class CommandTimeout(InfraError):
    def __init__(self, argv: Sequence[str], timeout: float, tail: str, log: Path | None):
        self.argv = list(argv)
        self.timeout = timeout
        self.tail = tail
        self.log = log
        super().__init__(f"command timed out after {timeout:.0f}s: {' '.join(self.argv)}\n{tail}")


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    returncode: int
    output: str
    elapsed: float


def _check_argv(argv: Sequence[str]) -> list[str]:
    if isinstance(argv, (str, bytes)):
        raise TypeError("argv must be a list of arguments, not a shell string")
    out = [os.fspath(a) for a in argv]
    if not out:
        raise ValueError("empty argv")
    return out


def stop_group(proc: subprocess.Popen, grace: float = KILL_GRACE_S) -> int:
    """Stop a process started in its own session: TERM, wait, then KILL."""
    try:
        if proc.poll() is not None:
            return proc.returncode
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                return proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
        return proc.wait()
    finally:
        _release(proc)


def run(
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    log: str | os.PathLike | None = None,
    on_line: Callable[[str], None] | None = None,
    check: bool = True,
    input_text: str | None = None,
    tail_lines: int = 40,
) -> Result:
    """Run argv to completion; stdout and stderr are merged, kept and teed.

    `log` receives the output as it arrives (append mode). `on_line` sees
    each line, for progress displays. A timeout or Ctrl-C stops the whole
    process group before the exception propagates.
    """
    args = _check_argv(argv)
    log_path = Path(log) if log else None
    tail: deque[str] = deque(maxlen=tail_lines)
    start = time.monotonic()
    proc = _spawn_piped(args, cwd, env, input_text is not None)
    timed_out = threading.Event()

    def _watchdog() -> None:
        timed_out.set()
        stop_group(proc)

    timer = threading.Timer(timeout, _watchdog) if timeout else None
    try:
        if timer:
            timer.daemon = True
            timer.start()
        output = _collect(proc, input_text, log_path, on_line, tail)
    except BaseException:
        stop_group(proc)
        raise
    finally:
        _release(proc)
        if timer:
            timer.cancel()
    if timed_out.is_set():
        raise CommandTimeout(args, timeout or 0, "".join(tail), log_path)
    result = Result(tuple(args), proc.returncode, output, time.monotonic() - start)
    if check and proc.returncode != 0:
        raise CommandFailed(args, proc.returncode, "".join(tail), log_path)
    return result


def _spawn_piped(args: list[str], cwd: str | os.PathLike | None, env: Mapping[str, str] | None,
                 stdin: bool) -> subprocess.Popen:
    """A child in its own session, output merged into one text pipe."""
    try:
        return _adopt(subprocess.Popen(
            args, cwd=cwd, env=None if env is None else {**os.environ, **env},
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
            start_new_session=True, preexec_fn=_die_with_parent,
        ))
    except FileNotFoundError as exc:
        raise InfraError(f"command not found: {args[0]}") from exc


def _collect(proc: subprocess.Popen, input_text: str | None, log_path: Path | None,
             on_line: Callable[[str], None] | None, tail: deque[str]) -> str:
    """Feed the input, read the output to its end (teed to the log and to
    `on_line`), wait for the exit; returns the whole output."""
    lines: list[str] = []
    with contextlib.ExitStack() as stack:
        logf: IO[str] | None = stack.enter_context(
            open(log_path, "a", encoding="utf-8", errors="replace")) if log_path else None
        if input_text is not None and proc.stdin:
            proc.stdin.write(input_text)
            proc.stdin.close()
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            tail.append(line)
            if logf:
                logf.write(line)
                logf.flush()
            if on_line:
                on_line(line.rstrip("\n"))
        proc.wait()
    return "".join(lines)


def start(
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike | None = None,
    env: Mapping[str, str] | None = None,
    stdout: IO | int | None = subprocess.DEVNULL,
    stderr: IO | int | None = subprocess.DEVNULL,
    stdin: IO | int | None = subprocess.DEVNULL,
) -> subprocess.Popen:
    """Start a long-lived process in its own session; the caller owns it and
    must stop it with stop_group() (the machine layer does, in finally).
    It dies with the thread that started it, so start it from a thread that
    outlives it."""
    args = _check_argv(argv)
    full_env = None if env is None else {**os.environ, **env}
    try:
        return _adopt(subprocess.Popen(
            args, cwd=cwd, env=full_env, stdin=stdin, stdout=stdout, stderr=stderr,
            start_new_session=True, preexec_fn=_die_with_parent,
        ))
    except FileNotFoundError as exc:
        raise InfraError(f"command not found: {args[0]}") from exc
