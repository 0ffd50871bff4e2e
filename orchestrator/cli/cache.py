"""`orchestrator cache du|verify|gc`: what the build cache holds, whether
its entries are intact, and removing what nobody uses."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from rich.console import Console

from orchestrator.build import housekeeping as hk
from orchestrator.build.cache import pid_alive
from orchestrator.build.space import human
from orchestrator.errors import InfraError
from orchestrator.paths import cache_root
from orchestrator.cli.commands import COMMANDS

HELP = """\
Housekeeping of the build cache ($ORCHESTRATOR_CACHE, else
~/.cache/orchestrator): `du` lists every entry (kernels with their patches,
images, L2 disks), kernel work trees, builds in progress and quarantined
entries, with size and last use; `verify` re-hashes every entry against
its integrity record and exits 3 if one is damaged; `gc` removes what was
not used for a while. Nothing a run or a build in progress holds is ever
removed.
"""

GC_HELP = """\
Remove cache entries not used for DAYS (default 30), quarantined entries
(`<key>.corrupt-<time>`, always), and folders of builds that were killed.
Kernel work trees (the source and objects an incremental build reuses,
~1.5 GiB each; a patched variant then builds in a minute instead of
several) go only with --work-trees, and then by the same DAYS:
`--work-trees --older-than 0` removes every one not being built. Whatever
a run, a shell or a build in progress holds is kept and listed.
"""

ORDER = (*hk.STORES, hk.WORK_TREE, hk.BUILDING, hk.QUARANTINED, hk.DEBRIS, hk.OTHER)


def _days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days: {text!r}") from None
    if not days >= 0:
        raise argparse.ArgumentTypeError(f"days must be 0 or more, not {text}")
    return days


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "cache", help=COMMANDS["cache"], description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    actions.required = True
    du = actions.add_parser("du", help="every entry, work tree and quarantined folder: size, last use; a total")
    du.set_defaults(func=cmd_du)
    verify = actions.add_parser("verify", help="re-hash every entry; exit 3 if one is damaged")
    verify.set_defaults(func=cmd_verify)
    gc = actions.add_parser("gc", help="remove what was not used for DAYS", description=GC_HELP,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    gc.add_argument("--older-than", type=_days, default=hk.Policy.older_than_days, metavar="DAYS",
                    help=f"unused for this many days (default {hk.Policy.older_than_days:g}; fractions allowed)")
    gc.add_argument("--work-trees", action="store_true", help="kernel work trees too (by the same DAYS)")
    gc.add_argument("--dry-run", action="store_true", help="say what would go and what it frees; delete nothing")
    gc.set_defaults(func=cmd_gc)


def _ago(ts: float | None, now: float) -> str:
    if ts is None:
        return "-"
    age = max(0.0, now - ts)
    span = "<1 min" if age < 60 else f"{age / 60:.0f} min" if age < 3600 else f"{age / 3600:.0f} h" if age < 86400 else f"{age / 86400:.0f} d"
    return f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(ts))} ({span} ago)"


def _state(item: hk.Item) -> str:
    if item.kind in (hk.BUILDING, hk.DEBRIS) and item.pid is not None:
        return f"pid {item.pid} running" if pid_alive(item.pid) else f"pid {item.pid} gone"
    return "in use" if hk.is_held(item.lock) else ""


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows in aligned columns, one line each (no wrapping: grep-able)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def _sorted(items: list[hk.Item]) -> list[hk.Item]:
    return sorted(items, key=lambda i: (ORDER.index(i.kind), i.what, i.key))


def _row(item: hk.Item, now: float) -> list[str]:
    return [item.kind, item.what, item.key[:12] or "-", human(item.size), _ago(item.last_use, now)]


def cmd_du(args: argparse.Namespace) -> int:
    root, now, out = cache_root(), time.time(), Console(highlight=False)
    items = _sorted(hk.scan(root))
    rows = [["KIND", "WHAT", "KEY", "SIZE", "LAST USE", "STATE"]]
    rows += [[*_row(i, now), _state(i)] for i in items]
    rows.append(["total", f"{root}", "", human(sum(i.size for i in items)), "", ""])
    for line in _table(rows):
        out.print(line, markup=False, soft_wrap=True)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    root, out = cache_root(), Console(highlight=False)
    checked = sorted(hk.verify(root), key=lambda c: (ORDER.index(c.item.kind), c.item.what))
    rows = [["STATUS", "KIND", "WHAT", "KEY", "PROBLEMS"]]
    for c in checked:
        status = "no record" if c.problems is None else "damaged" if c.problems else "ok"
        note = "; ".join(c.problems or []) or ("an older tool's entry: its next use records it" if c.problems is None else "")
        rows.append([status, c.item.kind, c.item.what, c.item.key[:12], note])
    for line in _table(rows) if checked else [f"no entries in {root}"]:
        out.print(line, markup=False, soft_wrap=True)
    damaged = [c for c in checked if c.problems]
    if damaged:
        detail = "\n".join(f"  {c.item.path}: {', '.join(c.problems or [])}" for c in damaged)
        raise InfraError(f"{len(damaged)} of {len(checked)} cache entries damaged (their next use rebuilds them):\n{detail}")
    out.print(f"{len(checked)} entries intact", markup=False)
    return 0


def cmd_gc(args: argparse.Namespace) -> int:
    root, now, out = cache_root(), time.time(), Console(highlight=False)
    policy = hk.Policy(older_than_days=args.older_than, work_trees=args.work_trees)
    report = hk.gc(root, policy, dry_run=args.dry_run, now=now)
    verb = "would remove" if args.dry_run else "removed"
    rows = [[verb, *_row(i, now)] for i in _sorted(report.removed)]
    rows += [["kept, in use", *_row(i, now)] for i in _sorted(report.kept)]
    for line in _table(rows) if rows else []:
        out.print(line, markup=False, soft_wrap=True)
    freed = "would free" if args.dry_run else "freed"
    kept = f"; {len(report.kept)} kept, in use" if report.kept else ""
    scope = f"unused for {args.older_than:g} days" + (", work trees included" if args.work_trees else "")
    out.print(f"{freed} {human(report.freed)} ({len(report.removed)} items: {scope}, quarantined, abandoned){kept}",
              markup=False, soft_wrap=True)
    return 0
