"""The results store: one folder per run.

    results/<run-id>/manifest.json        provenance: config, artifacts, host, tool
    results/<run-id>/cells/<cell>.json    one record per cell, written atomically
    results/<run-id>/logs/<cell>/...      raw logs: consoles, QEMU stderr, collectors

A record is written to a temporary file and renamed, so a crash or Ctrl-C
leaves every finished cell intact and no half-written record. `--resume`
runs the cells that have no ok record.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from orchestrator import interrupt
from orchestrator.errors import InfraError, UserError
from orchestrator.results import models
from orchestrator.results.models import Manifest, Record, safe_name

log = logging.getLogger(__name__)

RUN_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9._-]+$")
MAX_JSON = 64 << 20  # a record is a few KiB; anything this big is not ours


def write_json_atomic(path: Path, data: Any) -> None:
    """Write via a private temporary file and a rename: readers see the old
    file or the new one, and a full disk leaves the old one and no debris."""
    text = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        why = "the disk is full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else exc.strerror or str(exc)
        raise InfraError(f"{path}: cannot write: {why}") from exc


def read_json(path: Path) -> Any:
    """A JSON file of a results folder: a regular file, not a symlink (it
    could point anywhere), not a FIFO (it would block)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise UserError(f"{path}: not found") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UserError(f"{path}: a symlink in a results folder is refused") from None
        raise UserError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UserError(f"{path}: not a regular file")
        if st.st_size > MAX_JSON:
            raise UserError(f"{path}: {st.st_size} bytes, too big for a results file")
        with os.fdopen(fd, "rb") as f:
            fd = -1
            raw = f.read(MAX_JSON + 1)
        return json.loads(raw.decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable JSON file: {exc}") from None
    finally:
        if fd >= 0:
            os.close(fd)


def _no_symlink(path: Path) -> Path:
    if path.is_symlink():
        raise UserError(f"{path}: a symlink in a results folder is refused")
    return path


class Run:
    def __init__(self, folder: Path):
        self.folder = folder

    @property
    def id(self) -> str:
        return self.folder.name

    @property
    def manifest_path(self) -> Path:
        return self.folder / "manifest.json"

    @property
    def cells_dir(self) -> Path:
        return self.folder / "cells"

    def logs(self, cell_id: str) -> Path:
        safe_name(cell_id, "cell id")
        path = _no_symlink(_no_symlink(self.folder / "logs") / cell_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def manifest(self) -> Manifest:
        return models.manifest(self.manifest_path, read_json(self.manifest_path))

    def manifest_data(self) -> dict[str, Any]:
        """The manifest as stored (checked by the model first): for copying
        it whole, and for the resolved config, compared as written."""
        data = read_json(self.manifest_path)
        models.manifest(self.manifest_path, data)
        return data

    def write_manifest(self, data: dict[str, Any]) -> None:
        if data.get("label") is not None:
            safe_name(data["label"], "label")
        write_json_atomic(_no_symlink(self.manifest_path), models.build_manifest(data))

    def record(self, cell_id: str, data: dict[str, Any]) -> None:
        safe_name(cell_id, "cell id")
        write_json_atomic(_no_symlink(self.cells_dir) / f"{cell_id}.json", models.build_record(data))

    def records(self) -> Iterator[Record]:
        if not _no_symlink(self.cells_dir).is_dir():
            return
        for path in sorted(self.cells_dir.glob("*.json")):
            yield models.record(path, read_json(path))

    def done(self) -> set[str]:
        """Cells with an ok record: what --resume skips."""
        return {r.cell.id for r in self.records() if r.ok}


class Store:
    def __init__(self, root: Path):
        self.root = root

    def check_root(self) -> Path:
        if self.root.exists() and not self.root.is_dir():
            raise UserError(f"{self.root}: not a folder (expected a results folder)")
        return self.root

    def new_run(self, config_name: str) -> Run:
        safe_name(config_name, "experiment name")
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        run_id = f"{stamp}-{config_name}-{secrets.token_hex(3)}"
        folder = self.check_root() / run_id
        folder.mkdir(parents=True)
        return Run(folder)

    @contextlib.contextmanager
    def staged_run(self, config_name: str) -> Iterator[Run]:
        """A new run assembled in a hidden folder and renamed into place on
        a clean exit; on any error it is removed, so no half run is left."""
        safe_name(config_name, "experiment name")
        self.check_root().mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))
        run = Run(staging)
        withdraw = interrupt.on_last_resort(staging)
        try:
            yield run
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            final = self.root / f"{stamp}-{config_name}-{secrets.token_hex(3)}"
            os.chmod(staging, 0o755)  # mkdtemp made it 0700
            os.rename(staging, final)
            run.folder = final
        finally:
            withdraw()
            shutil.rmtree(staging, ignore_errors=True)  # already gone after the rename

    def open(self, ref: str) -> Run:
        """A run of this store by its id: never a path, so a reference
        cannot reach outside the results folder."""
        if "/" in ref or "\\" in ref or ref in (".", "..") or not RUN_ID.match(ref):
            raise UserError(f"no run {ref!r} (expected a run id like 20261125T093000Z-name-abc123, without '/' or '..')")
        folder = self.check_root() / ref
        if not folder.is_dir():
            raise UserError(f"no run {ref!r} in {self.root}")
        return open_folder(folder)

    def runs(self) -> list[Run]:
        if not self.check_root().is_dir():
            return []
        found = []
        for folder in sorted(self.root.iterdir()):
            if not RUN_ID.match(folder.name) or not (folder / "manifest.json").exists():
                continue  # staging folders, notes, anything not a run
            if folder.is_symlink():
                log.warning("%s: a symlinked run folder is ignored", folder)
                continue
            found.append(Run(folder))
        return found

    def latest(self) -> Run:
        runs = self.runs()
        if not runs:
            broken = [p for p in sorted(self.root.glob("*")) if RUN_ID.match(p.name) and not (p / "manifest.json").exists()]
            hint = f" ({broken[0]}: no manifest.json)" if broken else ""
            raise UserError(f"no runs in {self.root}{hint}")
        return max(runs, key=lambda r: r.manifest().started or "")

    def by_label(self, label: str) -> list[Run]:
        return [r for r in self.runs() if r.manifest().label == label]


def open_folder(folder: Path) -> Run:
    """A run folder named by its path (a shard for merge, `diff --run DIR`)."""
    if folder.is_symlink():
        raise UserError(f"{folder}: a symlinked run folder is refused (give the folder it points to)")
    if not folder.is_dir():
        raise UserError(f"{folder}: not a run folder ({'a file' if folder.exists() else 'no such folder'})")
    if not (folder / "manifest.json").exists():
        raise UserError(f"{folder}: not a run folder (no manifest.json)")
    return Run(folder)
