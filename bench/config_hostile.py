#!/usr/bin/env python3
"""How long orchestrator takes to refuse each hostile config.

    .venv/bin/python bench/config_hostile.py [--rounds 3]

Writes the hostile cases of tests/hostile_cases.py into a temporary folder
(with the committed ones in tests/data/project/configs/hostile/) and runs
each through tests/hostile_run.py, `--rounds` times: a child forked from
an interpreter that has imported orchestrator calls the CLI entry
(`run CASE --dry-run`) under RLIMIT_AS 1 GiB, so the figure is the load
alone (wall and CPU seconds, peak RSS). A good config is measured the same
way, for scale. Then the slowest case and the good config are run through
the `orchestrator` console script, as a user runs them, start-up included.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import common

from orchestrator import proc
from tests import hostile_cases

ROOT = Path(__file__).resolve().parents[1]
GOOD = hostile_cases.PROJECT / "configs" / "good.yaml"


def forked(paths: list[Path], rounds: int) -> dict[str, list[dict]]:
    """path -> one row of tests/hostile_run.py per round."""
    rows: dict[str, list[dict]] = {str(p): [] for p in paths}
    argv = [sys.executable, str(ROOT / "tests" / "hostile_run.py"), *map(str, paths)]
    for _ in range(rounds):
        out = proc.run(argv, cwd=ROOT, timeout=60 + 10 * len(paths)).output
        for line in out.splitlines():
            row = json.loads(line)
            rows[row["path"]].append(row)
    return rows


def console(path: Path, rounds: int) -> list[float]:
    argv = [sys.executable, "-m", "orchestrator", "run", str(path), "--dry-run"]
    return [proc.run(argv, cwd=ROOT, timeout=120, check=False).elapsed for _ in range(rounds)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="config-hostile-") as tmp:
        cases = hostile_cases.all_cases(Path(tmp))
        rows = forked([*(c.path for c in cases), GOOD], args.rounds)
        names = {str(c.path): c.name for c in cases} | {str(GOOD): "(good config, for scale)"}
        figures = {names[p]: [r["seconds"] for r in rs] for p, rs in rows.items()}
        cpu = {names[p]: [r["cpu_seconds"] for r in rs] for p, rs in rows.items()}
        rss = {names[p]: [r["maxrss_mib"] for r in rs] for p, rs in rows.items()}
        exits = {names[p]: sorted({str(r["rc"]) for r in rs}) for p, rs in rows.items()}
        order = sorted(figures, key=lambda n: statistics.median(figures[n]), reverse=True)
        common.report("load alone, wall (forked child, RLIMIT_AS 1 GiB)", {n: figures[n] for n in order})
        common.report("load alone, CPU", {n: cpu[n] for n in order})
        print("== exit codes and peak RSS (MiB, includes the ~88 MiB of the imported interpreter)")
        for n in order:
            print(f"{n:40s} exit {','.join(exits[n]):4s} peak RSS {max(rss[n]):6.1f}")
        slowest = next(c for n in order for c in cases if c.name == n)
        common.report("console script, start-up included", {
            f"orchestrator run {slowest.name} --dry-run": console(slowest.path, args.rounds),
            "orchestrator run good.yaml --dry-run": console(GOOD, args.rounds),
        })
        med = statistics.median(figures[slowest.name])
        print(f"slowest case: {slowest.name}, {med:.2f} s wall, {statistics.median(cpu[slowest.name]):.2f} s CPU "
              f"(median of {args.rounds}); reproduce: .venv/bin/python bench/config_hostile.py --rounds {args.rounds}")


if __name__ == "__main__":
    main()
