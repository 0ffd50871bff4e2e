"""`orchestrator shell`: boot a cell's machines and get a shell, or run one
command, for debugging. Everything is torn down afterwards."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from rich.console import Console

from orchestrator.cli.progress import status
from orchestrator.config import load_experiment
from orchestrator.errors import UserError
from orchestrator.experiment.runner import prepare
from orchestrator import knobs
from orchestrator.machine import host, ssh
from orchestrator.machine.boot import L1Artifacts
from orchestrator.machine.profile import checked_profile
from orchestrator.nested.pair import boot_pair, pair_spec
from orchestrator.cli.commands import COMMANDS

HELP = """\
Boot L1 with one kernel variant of CONFIG and the given tdp mode (and L2
inside it with --l2), then open an interactive SSH session, or run COMMAND
(after --), print its output and exit with its exit code. Builds what is
missing first. Every machine is stopped on the way out.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "shell", help=COMMANDS["shell"], description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", metavar="CONFIG")
    p.add_argument("--kernel", required=True, metavar="NAME", help="kernel variant of the config, e.g. baseline")
    p.add_argument("--tdp", required=True, choices=("on", "off"))
    p.add_argument("--l2", action="store_true", help="also start L2 and connect to it")
    p.add_argument("--knob", action="append", default=[], metavar="NAME=VALUE",
                   help="a knob for this boot (over the config's knobs:), e.g. kvm.tdp_mmu=N; repeatable")
    p.add_argument("--keep-logs", metavar="DIR", help="write consoles and logs here (default: a temporary folder)")
    p.set_defaults(func=cmd, command_argv=[])
    p.epilog = "Run one command instead of a shell: orchestrator shell CONFIG --kernel K --tdp off -- COMMAND..."


def parse_knobs(items: list[str]) -> dict[str, knobs.Scalar]:
    """`--knob NAME=VALUE` items, typed as YAML would (true, 512, never)."""
    out: dict[str, knobs.Scalar] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        value: knobs.Scalar = {"true": True, "false": False}.get(raw, int(raw) if raw.isdigit() else raw)
        bad = "expected NAME=VALUE" if not sep else knobs.problem(name, value)
        if bad:
            raise UserError(f"--knob {item}: {bad}")
        out[name] = value
    return out


def cmd(args: argparse.Namespace) -> int:
    loaded = load_experiment(args.config)
    exp = loaded.experiment
    if args.kernel not in exp.kernels:
        raise UserError(f"--kernel {args.kernel}: not a kernel of {args.config} ({', '.join(exp.kernels)})")
    settings = (("tdp", args.tdp), *{**exp.knobs, **parse_knobs(args.knob)}.items())
    err = Console(stderr=True, highlight=False)
    with status("preparing") as progress:
        _, kernels, (l1_rootfs, payload) = prepare(loaded, progress)
    accel = host.choose_accel(exp.machines.l1.accel, probe_kernel=kernels[args.kernel])
    with tempfile.TemporaryDirectory(prefix="orch-shell-") as tmp:
        folder = Path(args.keep_logs) if args.keep_logs else Path(tmp)
        keys = ssh.generate_keys(Path(tmp) / "keys")
        art = L1Artifacts(kernels[args.kernel], l1_rootfs, payload)
        spec = pair_spec(art, exp.machines.l1, exp.machines.l2, settings, accel, checked_profile(accel), keys)
        err.print(f"booting L1 ({accel.accel}, {args.kernel}, {knobs.describe(settings)})...")
        notes: dict = {}
        with boot_pair(spec, folder / "l1", notes, l2_folder=folder / "l2", with_l2=args.l2) as (l1, l2):
            target = l2 or l1
            err.print("in force: " + "; ".join(notes.get("knobs_in_force", {}).values()))
            return _session(target, args.command_argv, err)


def _session(target, command: list[str], err: Console) -> int:
    assert target.conn is not None
    if command:
        result = target.run(command, timeout=3600)
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        return result.exit_code
    err.print(f"{target.level} ready; exit the shell to tear down")
    return target.conn.run("exec ${SHELL:-/bin/sh} -l", pty=True, warn=True, hide=False, in_stream=None).exited
