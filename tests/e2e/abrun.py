"""Run `orchestrator ab` in-process as a user would from a shell: its
stdout kept, its wall time measured, its one run folder found."""

from __future__ import annotations

import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.cli.main import main


@dataclass(frozen=True)
class AbRun:
    rc: int
    printed: str  # stdout
    folder: Path
    wall_s: float
    log: str = ""  # stderr: not a terminal, so a line per build step and per cell

    def records(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted((self.folder / "cells").glob("*.json"))]

    def medians(self, metric: str) -> dict[str, float]:
        """Per kernel (a, b), the median of `metric` over the ok cells; a
        failed cell fails the caller's test here, never silently dropped."""
        per: dict[str, list[float]] = {}
        for r in self.records():
            assert r["status"] == "ok", (r["cell"], r.get("failure"))
            per.setdefault(r["cell"]["kernel"], []).append(r["metrics"][metric])
        return {k: statistics.median(v) for k, v in per.items()}


def run_ab(argv: list[str], work: Path, cwd: Path | None = None) -> AbRun:
    """`orchestrator ab ARGV --results WORK/results`, from `cwd` if given."""
    results = work / "results"
    out, err = work / "stdout.txt", work / "stderr.txt"
    patch = pytest.MonkeyPatch()
    start = time.monotonic()
    with open(out, "w") as f, open(err, "w") as e:
        patch.setattr(sys, "stdout", f)
        patch.setattr(sys, "stderr", e)
        if cwd is not None:
            patch.chdir(cwd)
        try:
            rc = main(["ab", *argv, "--results", str(results)])
        finally:
            patch.undo()
    wall = time.monotonic() - start
    folders = [p for p in results.iterdir() if p.is_dir()] if results.is_dir() else []
    assert len(folders) == 1, f"ab made {len(folders)} run folders; exit {rc}; {out.read_text()}"
    return AbRun(rc, out.read_text(), folders[0], wall, err.read_text())
