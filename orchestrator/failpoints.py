"""A deliberate stall, for the tests that prove an interrupt ends the
process in every phase.

ORCHESTRATOR_STALL=POINT makes the code at POINT announce itself on stderr
and then spin inside a single C call that never looks at signals, as a
parser or a C extension can: Python's own signal handler cannot run until
it returns, so only interrupt.py's watcher can end the process in time.
Points: config (loading), plan, diff, merge. Without the variable, nothing.
"""

from __future__ import annotations

import os
import sys

ENV = "ORCHESTRATOR_STALL"
POINTS = ("config", "plan", "diff", "merge")


def stall(point: str) -> None:
    if os.environ.get(ENV) != point:
        return
    sys.stderr.write(f"orchestrator: stalling at {point} ({ENV})\n")
    sys.stderr.flush()
    sum(range(10**15))  # one C loop of hours; builtins.sum checks no signals
