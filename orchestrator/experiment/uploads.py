"""A workload's host files, copied into the guest that runs it before
each cell (a restore rolls the guest's disk back, so every cell gets its
own copy), checked there by sha256; the digests go into the cell's record.

The one way host files reach a guest: the gate copies the kernel's
selftests into L1 with it too, to the same place."""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from orchestrator.config.schema import HostFile
from orchestrator.errors import OrchestratorError
from orchestrator.workloads.selftest_perf import L1_DIR


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


def selftest_files(selftests: Mapping[str, Any], kernel: str, workload: Any) -> tuple[HostFile, ...]:
    """The kernel's own selftest program a selftest workload runs, as a
    file to copy into L1 (where the gate puts them too); nothing for any
    other workload. A test that did not build on this kernel's tree fails
    the cell with its compiler error."""
    test = workload.selftest
    if test is None:
        return ()
    entry = selftests.get(kernel)
    if entry is None:
        raise MissingSelftest(f"{test}: no selftests were built for kernel {kernel!r}")
    if test not in entry.built:
        error = entry.failed.get(test, "no such test in this kernel's tree")
        raise MissingSelftest(f"{test} did not build for kernel {kernel!r}: {error}")
    return (selftest_file(entry, test),)


def selftest_file(entry: Any, test: str) -> HostFile:
    """A built selftest and its place in L1 (`L1_DIR/<test>`, executable)."""
    return HostFile(src=str(entry.program(test)), dest=f"{L1_DIR}/{test}", mode="0755")


class MissingSelftest(OrchestratorError):
    """The cell's selftest is not there to run: a failed cell, with why."""
