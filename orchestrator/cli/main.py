"""`orchestrator` entry point: parse, dispatch, map errors to exit codes."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from rich.console import Console

from orchestrator import __version__
from orchestrator.build.cache import holding
from orchestrator.cli.commands import COMMANDS, MODULES
from orchestrator.errors import EXIT_INTERRUPTED, EXIT_USER, OrchestratorError
from orchestrator.interrupt import Interrupts
from orchestrator.supervisor import supervise

DESCRIPTION = """\
Is the effect of a KVM MMU patch real, and is it worth it?

orchestrator builds the L1 kernels with and without the patch, boots each
under QEMU (TCG without hardware virtualization, KVM where there is), starts
L2 guests inside L1 with KVM and EPT/NPT on and off, runs workloads in L2,
collects KVM counters and perf output in L1, and compares the kernels.
"""

EPILOG = """\
exit codes: 0 ok, 1 a cell failed, 2 bad input (config, arguments),
3 infrastructure failure (build, tool, VM), 4 not available yet,
5 regression found, 6 expectation not met, 7 the gate found a new failure,
130 interrupted.
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own exit code is 2 too
        self.print_usage(sys.stderr)
        self.exit(EXIT_USER, f"{self.prog}: error: {message}\n")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with `argv`, only the command it names gets its real
    subparser (its module imported), the others a summary."""
    parser = _Parser(
        prog="orchestrator", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"orchestrator {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    chosen = _command_in(argv) if argv is not None else None
    for name, summary in COMMANDS.items():
        if argv is None or name == chosen:
            importlib.import_module(f"orchestrator.cli.{MODULES.get(name, name)}").add_parser(sub)
        else:
            sub.add_parser(name, help=summary)
    return parser


def _command_in(argv: Sequence[str]) -> str | None:
    """The command argv names: its first word that is not a global option."""
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    # argparse mishandles `--` after subcommands: split it off ourselves
    rest: list[str] | None = None
    if "--" in argv:
        cut = argv.index("--")
        argv, rest = argv[:cut], argv[cut + 1:]
    args = parser.parse_args(argv)
    if rest is not None:
        if not hasattr(args, "command_argv"):
            parser.error(f"{args.command} takes no command after --")
        args.command_argv = rest
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    # qemu.qmp logs every refused connect attempt; the machine layer retries
    # and reports what matters itself
    logging.getLogger("qemu.qmp").setLevel(logging.DEBUG if args.verbose else logging.CRITICAL)
    err = Console(stderr=True, highlight=False)
    # SIGTERM unwinds like Ctrl-C, so every owner stops its processes; a
    # process that cannot unwind in time is ended anyway (interrupt.py).
    try:
        with Interrupts(), holding():  # holding: the cache entries the command uses, until it ends
            return int(args.func(args) or 0)
    except OrchestratorError as exc:
        err.print(f"[bold red]orchestrator: error:[/] {exc}", markup=True, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("orchestrator: interrupted")
        return EXIT_INTERRUPTED


def entry() -> int:
    """The console script: the command in a supervised worker (supervisor.py)."""
    return supervise(main)


if __name__ == "__main__":
    raise SystemExit(entry())
