"""The results store: one folder per run.

    results/<run-id>/manifest.json        provenance: config, artifacts, host, tool
    results/<run-id>/cells/<cell>.json    one record per cell, written atomically
    results/<run-id>/logs/<cell>/...      raw logs: consoles, QEMU stderr, collectors

A record is written to a temporary file and renamed, so a crash or Ctrl-C
leaves every finished cell intact and no half-written record. `--resume`
runs the cells that have no ok record.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from orchestrator.errors import UserError

RUN_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9._-]+$")
SCHEMA = 1


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True, default=str)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: not found") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable JSON file: {exc}") from None


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
        path = self.folder / "logs" / cell_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def manifest(self) -> dict[str, Any]:
        data = read_json(self.manifest_path)
        if not isinstance(data, dict) or data.get("schema") != SCHEMA or "config" not in data:
            raise UserError(f"{self.manifest_path}: not an orchestrator run manifest")
        return data

    def write_manifest(self, data: dict[str, Any]) -> None:
        write_json_atomic(self.manifest_path, {"schema": SCHEMA, **data})

    def record(self, cell_id: str, data: dict[str, Any]) -> None:
        write_json_atomic(self.cells_dir / f"{cell_id}.json", {"schema": SCHEMA, **data})

    def records(self) -> Iterator[dict[str, Any]]:
        if not self.cells_dir.is_dir():
            return
        for path in sorted(self.cells_dir.glob("*.json")):
            if path.is_symlink():
                raise UserError(f"{path}: a symlink in a results folder is refused")
            data = read_json(path)
            if not isinstance(data, dict) or "cell" not in data or "status" not in data:
                raise UserError(f"{path}: not a cell record")
            yield data

    def done(self) -> set[str]:
        """Cells with an ok record: what --resume skips."""
        return {r["cell"]["id"] for r in self.records() if r.get("status") == "ok"}


class Store:
    def __init__(self, root: Path):
        self.root = root

    def new_run(self, config_name: str) -> Run:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        run_id = f"{stamp}-{config_name}-{secrets.token_hex(3)}"
        folder = self.root / run_id
        folder.mkdir(parents=True)
        return Run(folder)

    def open(self, ref: str) -> Run:
        """A run by id or by path."""
        folder = Path(ref)
        if not folder.is_dir():
            if not RUN_ID.match(ref):
                raise UserError(f"no run {ref!r} (expected a run id like 20261125T093000Z-name-abc123 or a folder)")
            folder = self.root / ref
        if not (folder / "manifest.json").is_file():
            raise UserError(f"no run at {folder} (no manifest.json)")
        return Run(folder)

    def runs(self) -> list[Run]:
        if not self.root.is_dir():
            return []
        return [Run(p.parent) for p in sorted(self.root.glob("*/manifest.json"))]

    def latest(self) -> Run:
        runs = self.runs()
        if not runs:
            raise UserError(f"no runs in {self.root}")
        return max(runs, key=lambda r: r.manifest().get("started", ""))

    def by_label(self, label: str) -> list[Run]:
        return [r for r in self.runs() if r.manifest().get("label") == label]
