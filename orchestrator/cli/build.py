"""`orchestrator build kernel|image NAME`: build one recipe into the cache."""

from __future__ import annotations

import argparse

from rich.console import Console

from orchestrator.build.image import ImageBuilder
from orchestrator.build.kernel import KernelBuilder
from orchestrator.cli.progress import status
from orchestrator.paths import Project, find_project
from orchestrator.cli.commands import COMMANDS

HELP = """\
Build one kernel recipe (kernels/NAME.yaml) or image recipe
(images/NAME.yaml) into the content-addressed cache. A build whose inputs
are unchanged is a cache hit; a failed or interrupted build never becomes
a cache entry. A failed build shows the compiler's error and the log path
and exits 3; a bad recipe or a patch that does not apply exits 2.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "build", help=COMMANDS["build"], description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("kind", choices=("kernel", "image"))
    p.add_argument("name", metavar="NAME", help="recipe name, e.g. baseline or l2")
    p.add_argument("--jobs", type=int, metavar="N", help="parallel compile jobs (default: all cores)")
    p.set_defaults(func=cmd)


def cmd(args: argparse.Namespace) -> int:
    project = Project(find_project())
    out = Console(highlight=False)
    with status(f"{args.kind} {args.name}") as progress:
        if args.kind == "image":
            built = ImageBuilder(project, progress=progress).build(args.name)
        else:
            built = KernelBuilder(project, jobs=args.jobs, progress=progress).build(args.name)
    how = "cache hit" if built.cached else "built"
    out.print(f"{args.kind} {args.name}: {how} in {built.elapsed:.1f}s -> {built.path}")
    return 0
