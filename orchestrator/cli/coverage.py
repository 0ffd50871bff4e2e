"""`orchestrator coverage CONFIG`: did the experiment run the patched code?"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from orchestrator.cli.commands import COMMANDS
from orchestrator.cli.run import execute
from orchestrator.config import Loaded, load_experiment
from orchestrator.coverage import session
from orchestrator.errors import EXIT_CELL_FAILED, UserError
from orchestrator.plan import make_plan, parse_only
from orchestrator.results.store import Run

HELP = """\
Build a coverage kernel of each kernel of the config (the same sources,
patches and config, plus the kernel's gcov for the objects that the
kernels' patches change, and nothing else), run every cell group once on
them, and count how often each changed line and function ran during each
workload: gcov's counters in L1 are reset just before the workload and
read just after.

A "no change" where the patch never ran is no evidence: `diff` marks such
rows "not exercised". The coverage kernels are never the measured ones
(instrumentation changes what is measured). See docs/coverage.md.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("coverage", help=COMMANDS["coverage"], description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", metavar="CONFIG",
                   help="experiment YAML, e.g. configs/prefetch.yaml; or, with --show, a coverage.json (or the "
                        "folder of a run that has one) to print again without running anything")
    p.add_argument("--show", action="store_true", help="print an existing coverage.json instead of running a pass")
    p.add_argument("--lines", action="store_true",
                   help="also print every changed line with code: its count per kernel and its source")
    p.add_argument("--only", action="append", default=[], metavar="KEY=VALUE",
                   help="cover only cells with this coordinate (kernel, tdp, workload or a param); repeat for more")
    p.add_argument("--label", metavar="L", help="a name for this coverage run")
    p.add_argument("--jobs", type=int, metavar="N", help="cells run in parallel")
    p.add_argument("--results", metavar="DIR",
                   help="results folder (default: results/ in the project); coverage runs go to its coverage/")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(func=cmd)


def cmd(args: argparse.Namespace) -> int:
    if args.show:
        data, where = _stored(Path(args.config))
    else:
        loaded = load_experiment(args.config)
        results = (Path(args.results) if args.results else loaded.project.results) / session.SUBDIR
        data, run = run_pass(loaded, args, results)
        where = run.folder / session.FILE
    if args.format == "json":
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    else:
        print_tables(data, Console(highlight=False))
        if args.lines:
            print_lines(data, Console(highlight=False))
    print(f"coverage: {where}", file=sys.stderr)
    failed = [g for g in data["groups"].values() if any("failed" in k for k in g["kernels"].values())]
    return EXIT_CELL_FAILED if failed else 0


def _stored(path: Path) -> tuple[dict[str, Any], Path]:
    where = path / session.FILE if path.is_dir() else path
    try:
        data = json.loads(where.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{where}: not a readable coverage.json ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != session.SCHEMA or "groups" not in data:
        raise UserError(f"{where}: not a coverage.json of this version (schema {session.SCHEMA})")
    return data, where


def run_pass(loaded: Loaded, args: argparse.Namespace, results: Path) -> tuple[dict[str, Any], Run]:
    """The coverage pass of `loaded` (shared with `run --coverage`)."""
    derived = session.pass_config(loaded)
    plan = make_plan(derived.experiment, only=parse_only(getattr(args, "only", [])), repeat=1)
    pass_args = argparse.Namespace(jobs=args.jobs, label=getattr(args, "label", None))
    outcome = execute(derived, plan, pass_args, results, coverage=True)
    return session.summarize(loaded, outcome.run), outcome.run


def print_tables(data: dict[str, Any], console: Console) -> None:
    """Per cell group: each changed function (by file name: the paths are
    in coverage.json), and for each kernel how many of its changed lines
    ran and how often the most-run one did."""
    variants = list(data["kernels"])
    for name, group in data["groups"].items():
        seen = session.exercised(group, variants)
        caption = {True: "exercised", False: "[bold]NOT EXERCISED[/]: no changed line ran",
                   None: "unknown: a coverage cell failed"}[seen]
        table = Table(title=name, box=box.SIMPLE_HEAD, title_justify="left", caption_justify="left",
                      caption=f"{caption}; lines run/changed lines ×most-run line's count")
        table.add_column("changed function", no_wrap=True)
        for v in variants:
            table.add_column(v, justify="right", no_wrap=True)
        for fn in sorted({f for k in group["kernels"].values() for f in k.get("functions", {})}):
            table.add_row(fn.rsplit("/", 1)[-1], *(_cell(group["kernels"].get(v), fn) for v in variants))
        console.print(table)


def print_lines(data: dict[str, Any], console: Console) -> None:
    """Every changed line with code, per cell group: each kernel's count
    and the source. Where a function runs but gives up early, this shows
    where (e.g. direct_pte_prefetch_many past a failed atomic lookup)."""
    for name, group in data["groups"].items():
        table = Table(title=name, box=box.SIMPLE_HEAD, title_justify="left")
        for col in ("kernel", "line", "count", "source"):
            table.add_column(col, no_wrap=col != "source", justify="right" if col == "count" else "left")
        for kernel, figures in group["kernels"].items():
            for ln in figures.get("lines", []):
                if ln["count"] is not None:
                    table.add_row(kernel, f"{ln['file'].rsplit('/', 1)[-1]}:{ln['line']}", f"{ln['count']:,}",
                                  ln.get("text", ""))
        console.print(table)


def _cell(kernel: dict[str, Any] | None, fn: str) -> str:
    if kernel is None:
        return "-"
    if "failed" in kernel:
        return "failed"
    f = kernel["functions"].get(fn)
    if f is None:
        return ""  # not a changed function of this kernel
    if not f["lines"]:
        return "no code"
    return f"{f['ran']}/{f['lines']} ×{f['max_count']:,}"
