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
from orchestrator.machine import host, ssh
from orchestrator.machine.boot import L1Artifacts, boot_l1
from orchestrator.nested.l2 import boot_l2
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
    p.add_argument("--keep-logs", metavar="DIR", help="write consoles and logs here (default: a temporary folder)")
    p.set_defaults(func=cmd, command_argv=[])
    p.epilog = "Run one command instead of a shell: orchestrator shell CONFIG --kernel K --tdp off -- COMMAND..."


def cmd(args: argparse.Namespace) -> int:
    loaded = load_experiment(args.config)
    exp = loaded.experiment
    if args.kernel not in exp.kernels:
        raise UserError(f"--kernel {args.kernel}: not a kernel of {args.config} ({', '.join(exp.kernels)})")
    command = args.command_argv
    err = Console(stderr=True, highlight=False)
    with status("preparing") as progress:
        _, kernels, (l1_rootfs, payload) = prepare(loaded, progress)
    accel = host.choose_accel(exp.machines.l1.accel, probe_kernel=kernels[args.kernel])
    with tempfile.TemporaryDirectory(prefix="orch-shell-") as tmp:
        folder = Path(args.keep_logs) if args.keep_logs else Path(tmp)
        keys = ssh.generate_keys(Path(tmp) / "keys")
        art = L1Artifacts(kernels[args.kernel], l1_rootfs, payload)
        err.print(f"booting L1 ({accel.accel}, {args.kernel}, tdp={args.tdp})...")
        with boot_l1(art, exp.machines.l1, accel, args.tdp, folder / "l1", keys) as l1:
            target = l1
            if args.l2:
                err.print("booting L2...")
                l2_ctx = boot_l2(l1, exp.machines.l2, folder / "l2", keys)
                target = l2_ctx.__enter__()
            try:
                assert target.conn is not None
                if command:
                    result = target.run(command, timeout=3600)
                    sys.stdout.write(result.stdout)
                    sys.stderr.write(result.stderr)
                    return result.exit_code
                err.print(f"{target.level} ready; exit the shell to tear down")
                return target.conn.run("exec ${SHELL:-/bin/sh} -l", pty=True, warn=True, hide=False, in_stream=None).exited
            finally:
                if args.l2:
                    l2_ctx.__exit__(None, None, None)
