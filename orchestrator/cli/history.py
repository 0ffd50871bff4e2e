"""`orchestrator history`: the nightly's record, trends and change points."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from orchestrator.errors import UserError
from orchestrator.history import nights as history
from orchestrator.history.trends import trends
from orchestrator.paths import Project, find_project
from orchestrator.report import history as page
from orchestrator.results.store import Store, open_folder
from orchestrator.cli.commands import COMMANDS

HELP = """\
`history add RUN` adds a (merged) run to the history: one JSON record per
night with the median of each headline metric per cell group and kernel,
the kernels' keys and patch subjects, and the accelerator. `history show`
finds change points (E-divisive means with a permutation test) and drifts
in every series across the nights, prints them with the two nights around
each and what differed in the kernels, and writes the trend page
(`--output trend.html`).
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("history", help=COMMANDS["history"],
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("add", "show"))
    p.add_argument("run", nargs="?", metavar="RUN", help="with add: a run id (or a run folder path)")
    p.add_argument("--history", metavar="DIR", help="the history folder (default: history/ in the project)")
    p.add_argument("--results", metavar="DIR", help="with add: the results folder the run id is in")
    p.add_argument("--night", metavar="DATE", help="with add: the night's date (default: the run's start)")
    p.add_argument("--format", choices=("text", "json", "html"), default="text", help="with show: what to print")
    p.add_argument("--output", metavar="FILE", help="with show: also write the HTML trend page here")
    p.set_defaults(func=cmd)


def cmd(args: argparse.Namespace) -> int:
    project = Project(find_project())
    folder = Path(args.history) if args.history else project.root / "history"
    if args.action == "add":
        if not args.run:
            raise UserError("history add RUN: name the run (its id, or its folder's path)")
        store = Store(Path(args.results) if args.results else project.results)
        run = open_folder(Path(args.run)) if "/" in args.run else store.open(args.run)
        path = history.add(folder, history.record(run, args.night))
        print(f"history: added {run.id} as {path}")
        return 0
    nights = history.load(folder)
    found_trends = trends(nights)
    found = page.findings(nights, found_trends)
    if args.output:
        Path(args.output).write_text(page.to_html(nights, found_trends))
    if args.format == "json":
        sys.stdout.write(json.dumps({"nights": len(nights), "findings": found}, indent=2) + "\n")
    elif args.format == "html":
        sys.stdout.write(page.to_html(nights, found_trends))
    else:
        sys.stdout.write(page.to_text(nights, found))
    return 0
