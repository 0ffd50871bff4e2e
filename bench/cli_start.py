#!/usr/bin/env python3
"""How long the command line takes to start: `orchestrator --help`, `list`
and `doctor` through the console script, as a user runs them, and for
scale, in the same run, an interpreter that imports every command module
(what each command cost before the commands were imported lazily).
Wall time and CPU time (user + system, the command's children included):
on a busy host the second is the one to compare.

    .venv/bin/python bench/cli_start.py [--rounds 7]

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import common

from orchestrator import proc

ROOT = Path(__file__).resolve().parents[1]
CLI = ROOT / ".venv/bin/orchestrator"
EVERY = ("import importlib; from orchestrator.cli.commands import COMMANDS, MODULES; "
         "[importlib.import_module('orchestrator.cli.' + MODULES.get(c, c)) for c in COMMANDS]")


def _time(argv: list[str]) -> tuple[float, float]:
    """Wall seconds, and the CPU seconds (user + system) the command and
    its children used: on a busy host the wall time waits for the CPU, the
    CPU time stays close to what the command costs."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc.run(argv, cwd=ROOT, timeout=120, check=False)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    rounds = parser.parse_args().rounds
    cases = {
        "orchestrator --help": [str(CLI), "--help"],
        "orchestrator list": [str(CLI), "list"],
        "orchestrator doctor": [str(CLI), "doctor"],
        "baseline: import every command module": [sys.executable, "-c", EVERY],
        "baseline: python -c pass": [sys.executable, "-c", "pass"],
    }
    figures: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):  # interleaved, so host noise hits every case alike
        for name, argv in cases.items():
            wall, used = _time(argv)
            figures[name].append(wall)
            cpu[name].append(used)
    common.report(f"command-line start, {rounds} rounds, wall time", figures)
    common.report(f"command-line start, {rounds} rounds, CPU time (user + system)", cpu)


if __name__ == "__main__":
    main()
