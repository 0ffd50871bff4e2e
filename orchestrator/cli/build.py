"""`orchestrator build kernel|image NAME`: build one recipe into the cache."""

from __future__ import annotations

import argparse

from orchestrator.errors import NotAvailableError

HELP = """\
Build one kernel recipe (kernels/NAME.yaml) or image recipe
(images/NAME.yaml) into the content-addressed cache. A build whose inputs
are unchanged is a cache hit; a failed or interrupted build never becomes
a cache entry.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "build", help="build a kernel or image recipe into the cache", description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("kind", choices=("kernel", "image"))
    p.add_argument("name", metavar="NAME", help="recipe name, e.g. baseline or l2")
    p.set_defaults(func=cmd)


def cmd(args: argparse.Namespace) -> int:
    raise NotAvailableError(f"building {args.kind}s is not available yet")
