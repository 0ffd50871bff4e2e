"""What is alive right now: the QEMU processes this process started and the
guests each worker thread holds.

Two owners need this besides a guest itself: Ctrl-C or SIGTERM, which stops
every QEMU at once (`kill_all`), and a cell's watchdog, which must reach the
machines of one worker thread - the cell's own, booted now or restored from
its worker's template - without the cell thread's help, since the cell
thread is the one that is stuck.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import warnings
from typing import Any

from orchestrator import proc
from orchestrator.interrupt import INTERRUPTED  # noqa: F401 - the machines' view of it

_LOCK = threading.Lock()
_PROCS: dict[subprocess.Popen, int] = {}  # QEMU process -> thread that started it
_GUESTS: dict[int, dict[int, Any]] = {}  # thread -> id(guest) -> guest


def add_process(p: subprocess.Popen) -> None:
    with _LOCK:
        _PROCS[p] = threading.get_ident()


def discard_process(p: subprocess.Popen) -> None:
    with _LOCK:
        _PROCS.pop(p, None)


def processes(thread: int | None = None) -> list[subprocess.Popen]:
    with _LOCK:
        return [p for p, t in _PROCS.items() if thread is None or t == thread]


def kill_all() -> int:
    """Emergency stop of every QEMU this process started (Ctrl-C, SIGTERM):
    their owners then fail fast and clean up as usual."""
    INTERRUPTED.set()
    procs = processes()
    for p in procs:
        proc.stop_group(p, grace=2)
    return len(procs)


def track(guest: Any) -> None:
    """A guest (L1 or L2) now up, held by the calling thread."""
    with _LOCK:
        _GUESTS.setdefault(threading.get_ident(), {})[id(guest)] = guest


def untrack(guest: Any) -> None:
    with _LOCK:
        for held in _GUESTS.values():
            held.pop(id(guest), None)


def guests(thread: int) -> list[Any]:
    """The guests `thread` holds, L2s first: they ride on their L1's SSH."""
    with _LOCK:
        held = list(_GUESTS.get(thread, {}).values())
    return sorted(held, key=lambda g: g.level != "L2")


def release_thread_loop() -> None:
    """qemu.qmp's synchronous client runs on its thread's asyncio loop and
    never closes it: a thread closes it when it ends, or its epoll and
    socket pair stay open until the garbage collector finds them."""
    policy = asyncio.get_event_loop_policy()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loop = policy.get_event_loop()
    except RuntimeError:
        return  # this thread never made one
    if not loop.is_running():
        loop.close()
        policy.set_event_loop(None)
