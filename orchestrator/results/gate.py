"""The gate's records in a run folder, beside the cells':

    results/<run-id>/gate/<id>.json       one record per kernel x tdp x test
    results/<run-id>/logs/gate/<id>.log   the test's whole output

Written atomically as each test ends, so `--resume` runs only the tests
that have no record; read back with every field the report uses checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.errors import UserError
from orchestrator.results.store import Run, read_json, write_json_atomic
from orchestrator.results.models import SCHEMA, safe_name

GATE_DIR = "gate"
STATUSES = ("pass", "fail", "skip", "timeout", "crash", "not-built")


def log_path(run: Run, gate_id: str) -> Path:
    safe_name(gate_id, "gate id")
    folder = run.folder / "logs" / GATE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{gate_id}.log"


def write(run: Run, gate_id: str, data: dict[str, Any]) -> None:
    safe_name(gate_id, "gate id")
    folder = run.folder / GATE_DIR
    if folder.is_symlink():
        raise UserError(f"{folder}: a symlink in a results folder is refused")
    write_json_atomic(folder / f"{gate_id}.json", {"schema": SCHEMA, **data})


def check(path: Path, data: Any) -> dict[str, Any]:
    """A gate record, with what the report reads checked."""
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise UserError(f"{path}: not a gate record of schema {SCHEMA}")
    cell = data.get("gate")
    if not isinstance(cell, dict) or not all(isinstance(cell.get(k), str) for k in ("id", "kernel", "tdp", "test")):
        raise UserError(f"{path}: gate: expected an object with id, kernel, tdp and test")
    if path.name != f"{cell['id']}.json":
        raise UserError(f"{path}: gate.id: {cell['id']!r} does not match the file name")
    if data.get("status") not in STATUSES:
        raise UserError(f"{path}: status: expected one of {', '.join(STATUSES)}, got {data.get('status')!r}")
    if not isinstance(data.get("output", ""), str):
        raise UserError(f"{path}: output: expected a string")
    return data


def records(run: Run) -> list[dict[str, Any]]:
    folder = run.folder / GATE_DIR
    if folder.is_symlink():
        raise UserError(f"{folder}: a symlink in a results folder is refused")
    if not folder.is_dir():
        return []
    return [check(p, read_json(p)) for p in sorted(folder.glob("*.json"))]


def done(run: Run) -> set[str]:
    """The gate cells with a record: every status is a result."""
    return {r["gate"]["id"] for r in records(run)}
