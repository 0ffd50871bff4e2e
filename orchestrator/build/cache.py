"""A content-addressed store of build outputs.

An entry is a folder named by its key. It is assembled in a private staging
folder and renamed into place only when complete, so a failed or
interrupted build never becomes an entry. Its files' sizes and sha256 are
recorded then (integrity.py); a lookup that finds an entry damaged moves it
aside as `<key>.corrupt-<time>`, warns, and reports a miss, so it is rebuilt.

Whoever looks a key up (a run, a shell, a build) holds it until its command
ends (`holding`), or its process does: a shared flock on `.holds/<key>`,
whose mtime is the key's last use. housekeeping.py removes only what it can
lock exclusively.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import threading
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
HOLDS = ".holds"  # <store>/.holds/<key>: share-locked by its users, mtime = last use


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


def open_locked(path: Path, how: int) -> int | None:
    """A descriptor of `path` (created if missing) locked with flock `how`,
    or None when `how` has LOCK_NB and another process holds it. A file
    unlinked while we waited (gc removes a key's hold file under its
    exclusive lock) is opened again, so no lock lands on an orphan inode."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, how)
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except BlockingIOError:
            os.close(fd)
            return None
        except FileNotFoundError:
            same = False
        except BaseException:
            os.close(fd)
            raise
        if same:
            return fd
        os.close(fd)


_held: dict[Path, int] = {}  # hold file -> its share-locked descriptor, until released
_held_lock = threading.Lock()


def hold(path: Path) -> None:
    """Share-lock the hold file `path` until release_holds() or the exit,
    and stamp its mtime as the last use. An open, a flock and a futimens:
    a few microseconds on a hit. A cache we cannot write (a read-only
    copy) is used unheld: nobody can remove anything from it either."""
    with _held_lock:
        fd = _held.get(path)
        if fd is None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = open_locked(path, fcntl.LOCK_SH)
            except OSError:
                return
            assert fd is not None  # a blocking lock
            _held[path] = fd
        with contextlib.suppress(OSError):
            os.utime(fd)


@atexit.register
def release_holds(keep: frozenset[Path] = frozenset()) -> None:
    """Let go of every key this process holds but those in `keep`, stamping
    the end of their use (a run of three days was using its kernels until
    its last cell)."""
    with _held_lock:
        for path in [p for p in _held if p not in keep]:
            fd = _held.pop(path)
            with contextlib.suppress(OSError):
                os.utime(fd)
            os.close(fd)


@contextlib.contextmanager
def holding() -> Iterator[None]:
    """The keys first held inside the block are let go at its end: a
    command (cli/main.py) holds what it uses while it runs, and one process
    running many commands (the soak test) does not pile up descriptors."""
    with _held_lock:
        before = frozenset(_held)
    try:
        yield
    finally:
        release_holds(keep=before)


class Store:
    def __init__(self, root: Path):
        self.root = root

    def entry(self, key: str) -> Path:
        return self.root / key

    def hold_file(self, key: str) -> Path:
        return self.root / HOLDS / key

    def lookup(self, key: str) -> Path | None:
        """The entry of `key` if it is there and intact. The key is held
        from here on, hit or miss: a miss is about to be built."""
        hold(self.hold_file(key))
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
        is deleted. The key is held first, so gc leaves the folder alone."""
        self.root.mkdir(parents=True, exist_ok=True)
        hold(self.hold_file(key))
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
            if pid.isdigit() and not pid_alive(int(pid)):
                shutil.rmtree(tmp, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
