"""A content-addressed store of build outputs.

An entry is a folder named by its key. It is assembled in a private staging
folder and renamed into place only when complete, so a failed or
interrupted build never becomes an entry. Its files' sizes and sha256 are
recorded then (integrity.py); a lookup that finds an entry damaged moves it
aside as `<key>.corrupt-<time>`, warns, and reports a miss, so it is rebuilt.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from orchestrator import interrupt
from orchestrator.build import integrity
from orchestrator.errors import InfraError

log = logging.getLogger(__name__)

COMPLETE = "metadata.json"  # written last inside staging: an entry has it


@dataclass(frozen=True)
class Entry:
    """A built thing in the cache (a kernel, an image)."""

    name: str
    key: str
    path: Path
    cached: bool  # found in the cache rather than built now
    elapsed: float

    @property
    def metadata(self) -> dict[str, Any]:
        return json.loads((self.path / COMPLETE).read_text())


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def key_of(inputs: Any) -> str:
    """The key of a JSON-able description of every input."""
    blob = json.dumps(inputs, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


class FileHashes:
    """sha256 of big files (the kernel tarball), remembered by size, mtime
    and inode so a cache hit does not re-read 140 MB."""

    def __init__(self, store: Path):
        self.store = store

    def get(self, path: Path) -> str:
        st = path.stat()
        stamp = f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"
        memo: dict[str, str] = {}
        with contextlib.suppress(OSError, ValueError):
            memo = json.loads(self.store.read_text())
        if stamp in memo:
            return memo[stamp]
        digest = sha256_file(path)
        memo[stamp] = digest
        self.store.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.store.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(memo))
        os.replace(tmp, self.store)
        return digest


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` (a lock file), held for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class Store:
    def __init__(self, root: Path):
        self.root = root

    def entry(self, key: str) -> Path:
        return self.root / key

    def lookup(self, key: str) -> Path | None:
        path = self.entry(key)
        if not (path / COMPLETE).is_file():
            return None
        try:
            integrity.verify(path, sha256_file, COMPLETE)
        except integrity.Corrupt as exc:
            self.quarantine(path, str(exc))
            return None
        return path

    def quarantine(self, path: Path, why: str) -> None:
        """Move a damaged entry aside (kept for a post-mortem, never deleted
        silently); the next build makes it again."""
        aside = path.with_name(f"{path.name}.corrupt-{datetime.now(timezone.utc):%Y%m%dT%H%M%S%fZ}")
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return  # another process moved it first
        log.warning("cache entry %s is damaged (%s): moved to %s, it will be rebuilt", path, why, aside)

    def metadata(self, key: str) -> dict[str, Any]:
        path = self.lookup(key)
        if path is None:
            raise InfraError(f"no cache entry {key} in {self.root}")
        return json.loads((path / COMPLETE).read_text())

    @contextlib.contextmanager
    def staging(self, key: str) -> Iterator[Path]:
        """A private folder to assemble the entry in. On a clean exit it
        becomes the entry (it must hold metadata.json); on any exception it
        is deleted."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.sweep()
        tmp = self.root / f".staging-{key}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        withdraw = interrupt.on_last_resort(tmp)
        try:
            yield tmp
            if not (tmp / COMPLETE).is_file():
                raise InfraError(f"internal: staging for {key} finished without {COMPLETE}")
            integrity.record(tmp, sha256_file)
            final = self.entry(key)
            if final.exists():
                if self.lookup(key):
                    return  # made meanwhile by another process
                if final.exists():  # no metadata: debris of an older tool
                    self.quarantine(final, f"no {COMPLETE}")
            os.rename(tmp, final)
        finally:
            withdraw()
            shutil.rmtree(tmp, ignore_errors=True)

    def sweep(self) -> None:
        """Remove staging folders whose process is gone (a killed build)."""
        for tmp in self.root.glob(".staging-*"):
            pid = tmp.name.rsplit("-", 1)[-1]
            if pid.isdigit() and not _pid_alive(int(pid)):
                shutil.rmtree(tmp, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
