"""`orchestrator run CONFIG`: the whole pipeline for one experiment."""

from __future__ import annotations

import argparse
import sys

from orchestrator.config import load_experiment
from orchestrator.errors import NotAvailableError
from orchestrator.plan import make_plan, parse_only, parse_shard
from orchestrator.plan.cells import lines

HELP = """\
Run an experiment: build whatever is missing (kernels, images; cached by
content), boot L1 under QEMU with each kernel, start L2 inside L1 with KVM,
run the workloads in L2, collect KVM counters and perf output in L1, and
store everything under the results folder.

The config is validated completely before anything is built or booted.
Cells (kernel x tdp x workload x params x repetition) run in an interleaved
order: the kernel variants alternate, so host drift hits both alike.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help="run an experiment config", description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", metavar="CONFIG", help="experiment YAML, e.g. configs/nested-ept-off.yaml")
    p.add_argument("--only", action="append", default=[], metavar="KEY=VALUE",
                   help="run only cells with this coordinate (kernel, tdp, workload, rep or a param); "
                        "repeat for more; the same key twice means either value")
    p.add_argument("--repeat", type=int, metavar="N", help="override the config's repetitions")
    p.add_argument("--shard", metavar="I/N", help="run only shard I of N (1-based); the shards partition the plan")
    p.add_argument("--dry-run", action="store_true", help="print the plan, one cell per line, and exit")
    p.add_argument("--label", metavar="L", help="a name for this run, usable by diff")
    p.add_argument("--jobs", type=int, metavar="N", help="cells run in parallel")
    p.add_argument("--results", metavar="DIR", help="results folder (default: results/ in the project)")
    p.add_argument("--resume", metavar="RUN", help="complete an interrupted run: only missing cells run")
    p.set_defaults(func=cmd)


def cmd(args: argparse.Namespace) -> int:
    loaded = load_experiment(args.config)
    shard = parse_shard(args.shard) if args.shard else None
    plan = make_plan(loaded.experiment, only=parse_only(args.only), repeat=args.repeat, shard=shard)
    if args.dry_run:
        shard_note = f", shard {shard[0]}/{shard[1]}" if shard else ""
        print(f"# {plan.experiment}: {len(plan)} of {plan.total} cells{shard_note}", file=sys.stderr)
        for line in lines(plan):
            print(line)
        return 0
    raise NotAvailableError(
        "running experiments is not available yet (the machine and experiment layers are "
        "still being built); use --dry-run to see the plan"
    )
