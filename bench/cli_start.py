#!/usr/bin/env python3
"""How long the command line takes to start: `orchestrator --help`, `list`
and `doctor` through the console script, as a user runs them, and for
scale, in the same run, an interpreter that imports every command module
(what each command cost before the commands were imported lazily).

    .venv/bin/python bench/cli_start.py [--rounds 7]

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import common

from orchestrator import proc

ROOT = Path(__file__).resolve().parents[1]
CLI = ROOT / ".venv/bin/orchestrator"
EVERY = ("import importlib; from orchestrator.cli.commands import COMMANDS, MODULES; "
         "[importlib.import_module('orchestrator.cli.' + MODULES.get(c, c)) for c in COMMANDS]")


def _time(argv: list[str]) -> float:
    start = time.monotonic()
    proc.run(argv, cwd=ROOT, timeout=120, check=False)
    return time.monotonic() - start


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
    for _ in range(rounds):  # interleaved, so host noise hits every case alike
        for name, argv in cases.items():
            figures[name].append(_time(argv))
    common.report(f"command-line start, {rounds} rounds", figures)


if __name__ == "__main__":
    main()
