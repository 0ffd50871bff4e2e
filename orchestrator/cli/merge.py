"""`orchestrator merge SHARD...`: combine shard runs into one run."""

from __future__ import annotations

import argparse
from pathlib import Path

from orchestrator.paths import Project, find_project
from orchestrator.results.merge import merge
from orchestrator.cli.commands import COMMANDS

HELP = """\
Combine the result folders of `orchestrator run --shard I/N` into one run,
for `orchestrator diff`. Shards of different configs, tool versions or built
artifacts are refused (exit 2).
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("merge", help=COMMANDS["merge"], description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("shards", nargs="+", metavar="SHARD", help="run folders of the shards")
    p.add_argument("--results", metavar="DIR", help="where the merged run goes (default: results/ in the project)")
    p.add_argument("--label", metavar="L", help="label of the merged run (default: the shards' label)")
    p.set_defaults(func=cmd)


def cmd(args: argparse.Namespace) -> int:
    results = Path(args.results) if args.results else Project(find_project()).results
    run = merge([Path(s) for s in args.shards], results, args.label)
    print(f"merged {len(args.shards)} shards: {run.folder}")
    return 0
