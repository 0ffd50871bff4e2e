"""`orchestrator gate CONFIG`: the kernel's KVM selftests on every kernel of
the config, in each tdp mode, alone (no cell is measured)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console

from orchestrator.cli.progress import status
from orchestrator.config import Loaded, load_experiment
from orchestrator.errors import EXIT_GATE, UserError
from orchestrator.gate import render
from orchestrator.gate.compare import GateReport
from orchestrator.gate.plan import make_cells
from orchestrator.gate.session import build_for_gate, gate, manifest_entry
from orchestrator.machine import host, ssh
from orchestrator.machine.profile import checked_profile
from orchestrator.plan import parse_only
from orchestrator.results.store import Run, Store

HELP = """\
Build the KVM selftests from each kernel's own tree (the same source and
patches as its bzImage), boot L1 with each kernel in each tdp mode of the
matrix, copy the tests in and run them, each under its timeout. The tests,
their arguments and timeouts come from the config's `gate:` section (or a
default set that covers the MMU and finishes under TCG).

Only new failures count: a test that fails on a kernel but passes on the
first kernel of the config, and is not expunged for this host profile
(configs/expunge/<profile>.yaml, each with its reason). Exit 7 on one.
"""

ONLY_KEYS = ("kernel", "tdp", "test")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gate", help="run the kernel's KVM selftests on each kernel (the correctness gate)",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", metavar="CONFIG", help="experiment YAML, e.g. configs/prefetch.yaml")
    p.add_argument("--only", action="append", default=[], metavar="KEY=VALUE",
                   help=f"run only these ({', '.join(ONLY_KEYS)}); repeat for more")
    p.add_argument("--resume", metavar="RUN", help="complete an interrupted gate run: only tests without a result run")
    p.add_argument("--label", metavar="L", help="a name for this run")
    p.add_argument("--results", metavar="DIR", help="results folder (default: results/ in the project)")
    p.add_argument("--format", choices=("table", "md", "json", "junit"), default="table")
    p.add_argument("--dry-run", action="store_true", help="print the gate's tests, one per line, and exit")
    p.set_defaults(func=cmd)


def only_of(items: list[str]) -> dict[str, set[str]]:
    only = parse_only(items)
    for key in only:
        if key not in ONLY_KEYS:
            raise UserError(f"--only {key}=...: the gate's keys are {', '.join(ONLY_KEYS)}")
    return only


def cmd(args: argparse.Namespace) -> int:
    loaded = load_experiment(args.config)
    only = only_of(args.only)
    if args.dry_run:
        for c in make_cells(loaded.experiment, only):
            print(f"{c.id}\t{' '.join(c.args)}\ttimeout {c.timeout_s:.0f}s")
        return 0
    store = Store(Path(args.results) if args.results else loaded.project.results)
    with status("gate") as progress:
        kernels, rootfs, artifacts = build_for_gate(loaded, progress)
        accel = host.choose_accel(loaded.experiment.machines.l1.accel, probe_kernel=next(iter(kernels.values())))
        profile = checked_profile(accel)
        run = _run_folder(store, loaded, args, artifacts, accel)
        keys = ssh.generate_keys(run.folder / ".keys")
        try:
            reports = gate(loaded, run, kernels, rootfs, accel, profile, keys, only, progress)
        finally:  # this run's SSH keys go with its machines
            for f in (run.folder / ".keys").glob("*"):
                f.unlink()
            (run.folder / ".keys").rmdir()
    print_reports(reports, args.format)
    print(f"results: {run.folder}", file=sys.stderr)
    return exit_code(reports)


def _run_folder(store: Store, loaded: Loaded, args: argparse.Namespace, artifacts: dict, accel) -> Run:
    if args.resume:
        run = store.open(args.resume)
        if run.manifest_data().get("resolved_config") != loaded.resolved:
            raise UserError(f"run {run.id} was made from a different config; --resume needs the same one")
        return run
    run = store.new_run(f"{loaded.experiment.name}-gate")
    run.write_manifest({
        "config": str(loaded.path), "experiment": loaded.experiment.name, "resolved_config": loaded.resolved,
        "label": args.label, "plan": {"cells": [], "total": 0, "shard": None}, "artifacts": artifacts,
        "accel": {"accel": accel.accel, "cpu_model": accel.cpu_model, "reason": accel.reason},
        "gate": manifest_entry(loaded), "started": _now(),
    })
    return run


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def print_reports(reports: list[GateReport], fmt: str = "table") -> None:
    if fmt == "table":
        console = Console(highlight=False, width=160)
        for r in reports:
            render.to_table(r, console)
    elif fmt == "md":
        sys.stdout.write("".join(render.to_markdown(r) for r in reports))
    elif fmt == "json":
        sys.stdout.write(json.dumps([render.as_dict(r) for r in reports], indent=2, sort_keys=True) + "\n")
    else:
        suites = "".join(render.junit_suite(r) for r in reports)
        sys.stdout.write(f'<?xml version="1.0" encoding="utf-8"?>\n<testsuites>\n{suites}</testsuites>\n')


def exit_code(reports: list[GateReport]) -> int:
    return EXIT_GATE if any(r.new_failures for r in reports) else 0
