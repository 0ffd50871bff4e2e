#!/usr/bin/env python3
"""False-positive rate of an A/A comparison: two runs of the same config
(run against run), or a run's variant against itself or its twin. Counts
the headline rows (docs/statistics.md) found *different*, out of those
decided (different or same), and lists the different ones.

    .venv/bin/python bench/aa_rate.py RUN_A RUN_B [--results DIR] [--per-record]
    .venv/bin/python bench/aa_rate.py baseline baseline --run RUN

--per-record counts every record as its own sample, as diff did before
samples were per L1 boot: the old statistic on the same data. Prints
figures; asserts nothing.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import common  # noqa: F401  (sets sys.path)

from orchestrator.compare.diff import make_report
from orchestrator.compare.metrics import HEADLINE
from orchestrator.results import models


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--results", default=str(Path(__file__).resolve().parents[1] / "results"))
    p.add_argument("--run", help="the run whose variants A and B are")
    p.add_argument("--per-record", action="store_true", help="each record its own sample (the old statistic)")
    args = p.parse_args()
    if args.per_record:
        models.Record.unit = property(lambda self: f"cell:{self.cell.id}")  # type: ignore[method-assign]
    report = make_report(Path(args.results), args.a, args.b, run_ref=args.run)
    if report.aa_needs:
        print(f"A/A of one side needs {report.aa_needs} boots per group")
        return
    rows = [r for r in report.rows if r.comparison.metric in HEADLINE]
    outcomes = Counter(r.comparison.outcome for r in rows)
    decided = outcomes["different"] + outcomes["same"]
    print(f"{report.mode}: {args.a} vs {args.b}: headline rows {len(rows)}, decided {decided}, "
          f"different {outcomes['different']}, same {outcomes['same']}, undecided {outcomes['undecided']}")
    for r in rows:
        c = r.comparison
        if c.outcome == "different":
            where = " ".join(f"{k}={v}" for k, v in r.group)
            print(f"  different: {where} {c.metric} {c.change_pct:+.1f}% "
                  f"(n {c.n_a}/{c.n_b}, medians {c.median_a:g} / {c.median_b:g})")


if __name__ == "__main__":
    main()
