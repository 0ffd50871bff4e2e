"""`orchestrator doctor`: what this host can do, checked for real."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from orchestrator.errors import EXIT_INFRA, OrchestratorError
from orchestrator.machine import host, profile
from orchestrator.paths import cache_root
from orchestrator.cli.commands import COMMANDS

HELP = """\
Report what this host can do: the QEMU version, the accelerator that
`accel: auto` would pick and why, and the tools the pipeline needs, present
or missing. Exits 3 when a required tool is missing.
"""

# tool -> (required, what for)
TOOLS = {
    "qemu-system-x86_64": (True, "boots L1"),
    "qemu-img": (False, "image conversion"),
    "mmdebstrap": (True, "builds guest images"),
    "mke2fs": (True, "makes the ext4 images"),
    "make": (True, "kernel builds"),
    "gcc": (True, "kernel builds, workloads"),
    "flex": (True, "kernel builds"),
    "bison": (True, "kernel builds"),
    "bc": (True, "kernel builds"),
    "ccache": (False, "faster kernel rebuilds"),
    "patch": (True, "applies kernel patches"),
    "ssh-keygen": (True, "per-run SSH keys"),
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "doctor", help=COMMANDS["doctor"], description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(func=cmd)


def _profile(table: Table, choice: host.AccelChoice, cpu: host.CpuInfo) -> None:
    """The host profile a run would use, and L0's nested check under KVM."""
    p = profile.profile_for(choice, cpu)
    problem = p.nested_problem()
    detail = (f"L1 {p.virt} with -cpu {p.cpu_model}; tdp is {p.tdp_module}.{p.tdp_param}; "
              f"L2 workarounds: {' '.join(p.l2_cmdline) or 'none'}")
    table.add_row("host profile", "error" if problem else "ok", problem or detail)


def cmd(args: argparse.Namespace) -> int:
    out = Console(highlight=False)
    cpu = host.read_cpuinfo()
    table = Table(title="orchestrator doctor", show_lines=False)
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail", overflow="fold")
    table.add_row("python", "ok", sys.version.split()[0])
    table.add_row("host CPU", "ok", f"{cpu.model_name} ({cpu.vendor}); virtualization flag: {cpu.virt or 'none'}")
    ok, why = host.kvm_usable()
    table.add_row("/dev/kvm", "present" if ok else "absent", why)
    try:
        choice = host.choose_accel("auto", cpu)
        table.add_row("accel: auto", choice.accel, choice.reason)
        _profile(table, choice, cpu)
    except OrchestratorError as exc:
        table.add_row("accel: auto", "error", str(exc))
    version = host.qemu_version()
    table.add_row("QEMU", "ok" if version else "MISSING", version or "qemu-system-x86_64 not found")
    missing = []
    for tool, (required, purpose) in TOOLS.items():
        path = shutil.which(tool)
        if path:
            table.add_row(tool, "ok", f"{path} ({purpose})")
        else:
            table.add_row(tool, "MISSING" if required else "missing (optional)", purpose)
            if required:
                missing.append(tool)
    src = Path("/usr/src/linux-source-6.1.tar.xz")
    table.add_row("linux-source-6.1", "ok" if src.is_file() else "missing", str(src))
    table.add_row("cache", "ok", str(cache_root()))
    out.print(table)
    if missing:
        out.print(f"[red]missing required tools:[/] {', '.join(missing)} (run ./setup.sh)")
        return EXIT_INFRA
    return 0
