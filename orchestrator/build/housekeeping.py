"""Cache housekeeping: what the cache holds (`du`), whether its entries are
intact (`verify`), and removing what nobody uses (`gc`).

The layout (cache.py, kernel.py, worktree.py, image.py, payload.py):

    <cache>/<store>/builds/<key>/                  an entry (store: kernel, image, payload, selftests)
    <cache>/<store>/builds/<key>.corrupt-<time>/   a quarantined entry
    <cache>/<store>/builds/.staging-<key>-<pid>/   a build in progress
    <cache>/<store>/builds/.holds/<key>            share-locked by users; mtime = last use
    <cache>/kernel/work/<tree key>/ and .lock      a kernel work tree (source + objects)
    <cache>/.../.deleting-<name>-<pid>/            what gc is deleting (or left, killed)
    <cache>/ccache, <store>/logs, ...              the rest, listed, never removed here

gc is race-free against builds and runs: an entry or a staging folder
goes only while gc holds its key's hold file exclusively (every user
share-locks it first: cache.hold), a work tree only while gc holds the
tree's build lock (its builder holds it for the whole build). What gc
cannot lock is in use and kept. A thing is renamed away in one step and
deleted afterwards, so no lookup ever sees half of it.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from orchestrator.build.cache import COMPLETE, HOLDS, Store, open_locked, pid_alive, sha256_file
from orchestrator.build.integrity import check
from orchestrator.build.worktree import WORK_STAMP

STORES = ("kernel", "image", "payload", "selftests")
WORK_TREE = "work tree"
QUARANTINED = "quarantined"
BUILDING = "building"
DEBRIS = "debris"
OTHER = "other"
DELETING = ".deleting-"
DAY = 86400.0

Seen = set[tuple[int, int]]  # (device, inode) counted already: hard links once


@dataclass(frozen=True)
class Item:
    """One thing in the cache, as `du` shows it and `gc` decides on it."""

    kind: str  # a store (kernel, image, payload), work tree, quarantined, building, debris, other
    what: str  # its human name: recipe and patches, `l2 + upstream`, ...
    key: str
    path: Path
    size: int  # bytes on disk
    last_use: float | None  # seconds since the epoch
    stamps: tuple[Path, ...] = ()  # files whose latest mtime is the last use
    lock: Path | None = None  # gc removes it only while holding this exclusively
    pid: int | None = None  # the process a staging or deleting folder belongs to


# -- sizes and stamps --------------------------------------------------------


def disk_bytes(path: Path, seen: Seen | None = None) -> int:
    """Bytes `path` takes on disk (like du: allocated blocks, each inode
    once, symlinks not followed). Files vanishing meanwhile count nothing."""
    seen = set() if seen is None else seen
    total = 0
    todo = [str(path)]
    while todo:
        p = todo.pop()
        try:
            st = os.lstat(p)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        total += st.st_blocks * 512
        if stat.S_ISDIR(st.st_mode):
            try:
                with os.scandir(p) as it:
                    todo.extend(e.path for e in it)
            except OSError:
                continue
    return total


def latest_mtime(stamps: tuple[Path, ...]) -> float | None:
    times = []
    for p in stamps:
        try:
            times.append(os.stat(p).st_mtime)
        except OSError:
            continue
    return max(times, default=None)


def _metadata(folder: Path) -> dict[str, Any]:
    try:
        meta = json.loads((folder / COMPLETE).read_text())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


# -- names -------------------------------------------------------------------


def _kernel_name(meta: dict[str, Any]) -> str:
    patches = [p.get("name", "?") for p in meta.get("inputs", {}).get("patches", []) if isinstance(p, dict)]
    return f"{meta.get('name', '?')} [{', '.join(patches)}]" if patches else f"{meta.get('name', '?')} [no patches]"


def names(cache: Path) -> dict[str, str]:
    """key -> human name of every entry, and tree key -> the kernels built
    from that work tree."""
    out: dict[str, str] = {}
    metas: dict[str, dict[str, Any]] = {}
    for store in STORES:
        for entry in sorted((cache / store / "builds").glob("*/" + COMPLETE)):
            metas[entry.parent.name] = _metadata(entry.parent)
    trees: dict[str, list[str]] = {}
    for key, meta in metas.items():
        if meta.get("kind") == "kernel":
            out[key] = _kernel_name(meta)
            trees.setdefault(str(meta.get("tree_key")), []).append(str(meta.get("name", "?")))
        elif meta.get("kind") == "image":
            out[key] = str(meta.get("name", "?"))
        elif meta.get("kind") == "selftests":
            out[key] = f"KVM selftests of {meta.get('name', '?')}"
    for key, meta in metas.items():
        if meta.get("kind") == "payload":
            # by the keys it was made of, named while their entries are kept
            image, kernel = (out.get(str(meta.get(k)), str(meta.get(k))[:12]).split(" [")[0] for k in ("image", "kernel"))
            out[key] = f"L2 disk: image {image} + kernel {kernel}"
    for tree, recipes in trees.items():
        out[f"tree:{tree}"] = ", ".join(sorted(set(recipes)))
    return out


# -- the scan ----------------------------------------------------------------


def _quarantine_time(name: str) -> float | None:
    try:
        when = datetime.strptime(name.rsplit(".corrupt-", 1)[1], "%Y%m%dT%H%M%S%fZ")
    except (IndexError, ValueError):
        return None
    return when.replace(tzinfo=timezone.utc).timestamp()


def _pid_of(name: str) -> int | None:
    tail = name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _store_item(store: Store, kind: str, child: Path, known: dict[str, str], seen: Seen) -> Item:
    name = child.name
    size = disk_bytes(child, seen)
    if name.startswith(".staging-"):
        key = name[len(".staging-"):].rsplit("-", 1)[0]
        return Item(BUILDING, f"{kind} {known.get(key, key[:12])}", key, child, size,
                    latest_mtime((child,)), (child,), store.hold_file(key), _pid_of(name))
    if name.startswith(DELETING):
        return Item(DEBRIS, f"{kind}: left by an interrupted gc", "", child, size, None, pid=_pid_of(name))
    if ".corrupt-" in name:
        key = name.split(".corrupt-")[0]
        meta = _metadata(child)  # may be the damaged part: else the name of its rebuilt twin
        was = (_kernel_name(meta) if kind == "kernel" else str(meta.get("name", "?"))) if meta else known.get(key, "?")
        return Item(QUARANTINED, f"{kind} {was}", key, child, size, _quarantine_time(name))
    stamps = (store.hold_file(name), child)
    return Item(kind, known.get(name, "? (no metadata)"), name, child, size, latest_mtime(stamps), stamps,
                store.hold_file(name))


def store_items(cache: Path, known: dict[str, str] | None = None, seen: Seen | None = None) -> list[Item]:
    """Entries, quarantined entries, builds in progress, gc debris."""
    known = names(cache) if known is None else known
    seen = set() if seen is None else seen
    items = []
    for kind in STORES:
        store = Store(cache / kind / "builds")
        if store.root.is_dir():
            for child in sorted(store.root.iterdir()):
                if child.is_dir() and not child.is_symlink() and child.name != HOLDS:
                    items.append(_store_item(store, kind, child, known, seen))
    return items


def work_tree_items(cache: Path, known: dict[str, str], seen: Seen) -> list[Item]:
    work = cache / "kernel" / "work"
    items = []
    for tree in sorted(work.iterdir()) if work.is_dir() else []:
        if not tree.is_dir() or tree.is_symlink():
            continue
        size = disk_bytes(tree, seen)
        if tree.name.startswith(DELETING):
            items.append(Item(DEBRIS, "kernel work tree: left by an interrupted gc", "", tree, size, None,
                              pid=_pid_of(tree.name)))
            continue
        stamps = (tree / WORK_STAMP, tree / "state.json", tree)
        what = f"kernels {known[f'tree:{tree.name}']}" if f"tree:{tree.name}" in known else _last_built(tree)
        items.append(Item(WORK_TREE, what, tree.name, tree, size, latest_mtime(stamps), stamps,
                          work / f"{tree.name}.lock"))
    return items


def _last_built(tree: Path) -> str:
    """For a tree none of whose kernels is kept: the recipe it built last."""
    try:
        return f"no kernel kept; last built {(tree / WORK_STAMP).read_text().strip() or '?'}"
    except OSError:
        return "no kernel kept"


def other_items(cache: Path, seen: Seen) -> list[Item]:
    """Everything else (ccache, build logs, hashes of sources), so the
    total is the cache's."""
    found: list[Path] = []
    for top in sorted(cache.iterdir()) if cache.is_dir() else []:
        if top.name in STORES and top.is_dir():
            # the builders' lock files are empty and say nothing
            found += [p for p in sorted(top.iterdir()) if p.name not in ("builds", "work") and p.suffix != ".lock"]
        else:
            found.append(top)
    return [Item(OTHER, str(p.relative_to(cache)), "", p, disk_bytes(p, seen), latest_mtime((p,))) for p in found]


def scan(cache: Path) -> list[Item]:
    """Everything in the cache, one item per thing `du` lists."""
    known, seen = names(cache), Seen()
    return store_items(cache, known, seen) + work_tree_items(cache, known, seen) + other_items(cache, seen)


def is_held(lock: Path | None) -> bool:
    """Whether a process holds `lock` now. Read-only: opens an existing
    file without creating it and takes the exclusive lock for an instant."""
    if lock is None:
        return False
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False  # never made: nobody ever locked it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also unlocks
    return False


# -- verify ------------------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    item: Item
    problems: list[str] | None  # [] intact, None: no integrity record yet


def verify(cache: Path) -> list[Checked]:
    """Re-hash every entry against its integrity.json. Read-only: a damaged
    entry is reported, not moved (its next lookup quarantines it)."""
    out = []
    for item in store_items(cache, seen=set()):
        if item.kind in STORES:
            out.append(Checked(item, check(item.path, sha256_file, COMPLETE)))
    return out


# -- gc ----------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    older_than_days: float = 30.0
    work_trees: bool = False  # work trees only when asked: they make the next build minutes shorter

    def eligible(self, item: Item, now: float, alive: Callable[[int], bool] | None = None) -> bool:
        """Whether `item` goes, in use or not (that is decided under its lock)."""
        alive = alive or pid_alive
        if item.kind == QUARANTINED:
            return True  # kept for a post-mortem only; never used again
        if item.kind in (BUILDING, DEBRIS):
            return item.pid is not None and not alive(item.pid)  # its builder or gc was killed
        if item.kind in STORES or (item.kind == WORK_TREE and self.work_trees):
            return item.last_use is None or now - item.last_use >= self.older_than_days * DAY
        return False


@dataclass
class GcReport:
    removed: list[Item] = field(default_factory=list)  # or would be, with --dry-run
    kept: list[Item] = field(default_factory=list)  # eligible, but in use

    @property
    def freed(self) -> int:
        return sum(i.size for i in self.removed)


def gc(cache: Path, policy: Policy, *, dry_run: bool, now: float | None = None) -> GcReport:
    """Remove what `policy` makes eligible and no process holds. With
    `dry_run`, only say what would go (nothing is created, locked for more
    than an instant, or deleted)."""
    now = time.time() if now is None else now
    report = GcReport()
    for item in scan(cache):
        if not policy.eligible(item, now):
            continue
        if dry_run:
            gone = not is_held(item.lock)
        else:
            gone = _remove(item, lambda i=item: policy.eligible(replace(i, last_use=latest_mtime(i.stamps)), now))
        (report.removed if gone else report.kept).append(item)
    return report


def _remove(item: Item, still_eligible: Callable[[], bool]) -> bool:
    """Remove `item` unless a process holds its lock or used it since the
    scan; False when kept."""
    if item.kind == DEBRIS:
        _delete(item.path)
        return True
    if item.lock is None:  # quarantined: nobody uses it
        _delete(_aside(item.path))
        return True
    item.lock.parent.mkdir(parents=True, exist_ok=True)
    fd = open_locked(item.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    if fd is None:
        return False
    try:
        if not still_eligible():
            return False
        aside = _aside(item.path)
        if item.kind in STORES:
            # its hold file goes with it; a user waiting on it opens the
            # new one (cache.open_locked checks the inode)
            item.lock.unlink(missing_ok=True)
    finally:
        os.close(fd)
    _delete(aside)
    return True


def _aside(path: Path) -> Path | None:
    """Rename `path` out of every lookup's way in one step."""
    aside = path.with_name(f"{DELETING}{path.name}-{os.getpid()}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return None  # gone already (another gc)
    return aside


def _delete(path: Path | None) -> None:
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)
