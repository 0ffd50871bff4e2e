"""A workload's host files, copied into the guest that runs it before
each cell (a restore rolls the guest's disk back, so every cell gets its
own copy), checked there by sha256; the digests go into the cell's record."""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orchestrator.config.schema import HostFile


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def upload(guest: Any, files: Sequence[HostFile]) -> list[dict[str, str]]:
    out = []
    for f in files:
        local = Path(f.src)
        want = sha256(local)
        guest.run(["mkdir", "-p", posixpath.dirname(f.dest)], check=True)
        guest.put(local, f.dest, int(f.mode, 8))
        got = guest.run(["sha256sum", f.dest], check=True).stdout.split()[:1]
        if got != [want]:
            raise guest.fail("upload", f"{f.dest} in {guest.level} has sha256 {got}, {f.src} has {want}")
        out.append({"src": f.src, "dest": f.dest, "sha256": want})
    return out
