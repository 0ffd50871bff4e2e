"""`orchestrator diff A B`: compare two kernels cell by cell."""

from __future__ import annotations

import argparse

from orchestrator.errors import NotAvailableError

HELP = """\
Compare two kernel variants (or run labels, or run ids) cell by cell: the
same tdp mode, workload and parameters on both sides. For each metric:
samples, medians and spread, the change in %, a bootstrap confidence
interval, a significance test, and a verdict; then the config's
expectations, met or not.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "diff", help="compare two kernels (or runs) with statistics", description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("a", metavar="A", help="kernel variant, run label or run id (the reference)")
    p.add_argument("b", metavar="B", help="kernel variant, run label or run id (the candidate)")
    p.add_argument("--results", metavar="DIR", help="results folder (default: results/ in the project)")
    p.add_argument("--run", metavar="RUN", help="run to read variants from (default: the latest)")
    p.add_argument("--format", choices=("table", "md", "json", "junit", "html"), default="table")
    p.add_argument("--output", metavar="FILE", help="write the report here instead of stdout")
    p.add_argument("--fail-on", choices=("regression", "expectation"), action="append", default=[])
    p.set_defaults(func=cmd)


def cmd(args: argparse.Namespace) -> int:
    raise NotAvailableError("diff is not available yet (it needs stored results from `orchestrator run`)")
