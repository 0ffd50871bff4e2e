"""`orchestrator diff A B`: compare two kernels cell by cell."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from rich.console import Console

from orchestrator.compare.diff import Report, make_report
from orchestrator.errors import EXIT_EXPECTATION, EXIT_REGRESSION, UserError
from orchestrator.paths import Project, find_project
from orchestrator.report import render
from orchestrator.cli.commands import COMMANDS

HELP = """\
Compare two kernel variants within a run (default: the latest run), or two
runs (by label or id), cell by cell: the same tdp mode, workload and
parameters on both sides. For each metric: samples, medians and spread
(IQR), the change in %, a bootstrap 95% confidence interval, a Mann-Whitney
U test, a minimum effect size and the metric's better direction, then a
verdict: improvement, regression, no change, or not enough data. The config's
expectations are checked and reported as met or not met.

A side against itself (`diff baseline baseline`) is the A/A check: its
repetitions are split into halves and the false-positive rate is reported.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "diff", help=COMMANDS["diff"], description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("a", metavar="A", help="kernel variant, run label or run id (the reference)")
    p.add_argument("b", metavar="B", help="kernel variant, run label or run id (the candidate)")
    p.add_argument("--results", metavar="DIR", help="results folder (default: results/ in the project)")
    p.add_argument("--run", metavar="RUN", help="run to read variants from (default: the latest)")
    p.add_argument("--format", choices=("table", "md", "json", "junit", "html"), default="table")
    p.add_argument("--output", metavar="FILE", help="write the report here instead of stdout")
    p.add_argument("--all-metrics", action="store_true", help="every metric, not only the headline ones")
    add_fail_on(p)
    p.set_defaults(func=cmd)


def add_fail_on(p: argparse.ArgumentParser) -> None:
    """`--fail-on` (shared with `ab`)."""
    p.add_argument("--fail-on", choices=("regression", "expectation"), action="append", default=[],
                   help="exit 5 on a regression, 6 on an unmet expectation")


def fail_code(report: Report, fail_on: list[str]) -> int:
    """The exit code `--fail-on` asks for, given the report."""
    if "regression" in fail_on and report.regressions:
        return EXIT_REGRESSION
    if "expectation" in fail_on and report.unmet:
        return EXIT_EXPECTATION
    return 0


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except OSError as exc:
        raise UserError(f"{path}: cannot write the report: {exc.strerror or exc}") from None


def cmd(args: argparse.Namespace) -> int:
    results = Path(args.results) if args.results else Project(find_project()).results
    report = make_report(results, args.a, args.b, args.run, everything=args.all_metrics)
    if args.format == "table" and not args.output:
        render.to_table(report, Console(highlight=False, file=sys.stdout, width=160))
    elif args.format == "table":
        buf = io.StringIO()
        render.to_table(report, Console(highlight=False, file=buf, width=160))
        _write(Path(args.output), buf.getvalue())
    else:
        text = {"md": render.to_markdown, "json": render.to_json, "junit": render.to_junit,
                "html": render.to_html}[args.format](report)
        if args.output:
            _write(Path(args.output), text)
        else:
            sys.stdout.write(text)
    return fail_code(report, args.fail_on)
