"""Shape checks for what a results folder holds.

A results folder may come from elsewhere (a CI artifact, a colleague's
disk), so every field that diff and merge read is checked before it is
used: a foreign or damaged file is refused with its path and the key at
fault, never with a traceback.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from orchestrator.errors import UserError

# The same rule as config names: one path component, no separator, no `..`
# on its own, nothing a shell would read specially.
SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
SCHEMA = 1
CHANGES = ("decrease", "increase", "none")
Scalar = (str, int, float, bool)


def safe_name(value: object, what: str) -> str:
    """`value` if it can be used as one file name, else a UserError."""
    if not isinstance(value, str) or not SAFE.match(value):
        raise UserError(f"{what} {value!r}: only letters, digits and . _ - are allowed, starting with a letter or digit")
    return value


def _need(path: Path, key: str, value: Any, kind: type | tuple[type, ...], label: str) -> Any:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int to Python, not to a reader of the file
    if not isinstance(value, kinds) or isinstance(value, bool) and bool not in kinds:
        raise UserError(f"{path}: {key}: expected {label}, got {type(value).__name__} {_short(value)}")
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _schema(path: Path, data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise UserError(f"{path}: not {what} (a JSON object is expected, got {type(data).__name__})")
    if data.get("schema") != SCHEMA:
        raise UserError(f"{path}: schema: expected {SCHEMA}, got {_short(data.get('schema'))} (not {what}, or from another tool version)")
    return data


def manifest(path: Path, data: Any) -> dict[str, Any]:
    """A run manifest, with the fields diff and merge read checked."""
    data = _schema(path, data, "an orchestrator run manifest")
    if "config" not in data:
        raise UserError(f"{path}: config: required key is missing (not an orchestrator run manifest)")
    for key in ("experiment", "started", "tool_version"):
        if key in data:
            _need(path, key, data[key], str, "a string")
    if data.get("label") is not None:
        _need(path, "label", data["label"], str, "a string or null")
    resolved = data.get("resolved_config", {})
    _need(path, "resolved_config", resolved, dict, "an object")
    expectations = _need(path, "resolved_config.expectations", resolved.get("expectations", []), list, "a list")
    for i, exp in enumerate(expectations):
        key = f"resolved_config.expectations[{i}]"
        _need(path, key, exp, dict, "an object")
        _need(path, f"{key}.metric", exp.get("metric"), str, "a string")
        if exp.get("change") not in CHANGES:
            raise UserError(f"{path}: {key}.change: expected one of {', '.join(CHANGES)}, got {_short(exp.get('change'))}")
        when = _need(path, f"{key}.when", exp.get("when", {}), dict, "an object")
        for k, v in when.items():
            _need(path, f"{key}.when.{k}", v, Scalar, "a scalar")
        _need(path, f"{key}.min_effect_pct", exp.get("min_effect_pct", 5.0), (int, float), "a number")
        if exp.get("name") is not None:
            _need(path, f"{key}.name", exp["name"], str, "a string")
    plan = _need(path, "plan", data.get("plan") or {}, dict, "an object")
    for i, cell in enumerate(_need(path, "plan.cells", plan.get("cells", []), list, "a list")):
        safe_name(cell, f"{path}: plan.cells[{i}]:")
    shard = plan.get("shard")
    if shard is not None:
        _need(path, "plan.shard", shard, list, "a list [i, n] or null")
        if len(shard) != 2 or not all(isinstance(x, int) and not isinstance(x, bool) for x in shard):
            raise UserError(f"{path}: plan.shard: expected [i, n], got {_short(shard)}")
    artifacts = _need(path, "artifacts", data.get("artifacts", {}), dict, "an object")
    for group in ("kernels", "images"):
        for name, art in _need(path, f"artifacts.{group}", artifacts.get(group, {}), dict, "an object").items():
            _need(path, f"artifacts.{group}.{name}", art, dict, "an object")
    _need(path, "artifacts.l2_kernel", artifacts.get("l2_kernel", {}), dict, "an object")
    return data


def record(path: Path, data: Any) -> dict[str, Any]:
    """A cell record; its cell id must name its own file."""
    data = _schema(path, data, "a cell record")
    cell = _need(path, "cell", data.get("cell"), dict, "an object")
    cell_id = _need(path, "cell.id", cell.get("id"), str, "a string")
    safe_name(cell_id, f"{path}: cell.id")
    if path.name != f"{cell_id}.json":
        raise UserError(f"{path}: cell.id: {cell_id!r} does not match the file name")
    _need(path, "cell.kernel", cell.get("kernel"), str, "a string")
    rep = cell.get("rep")
    if isinstance(rep, bool) or not (isinstance(rep, int) or isinstance(rep, str) and rep.isdigit()):
        raise UserError(f"{path}: cell.rep: expected a repetition number, got {_short(rep)}")
    for key, value in cell.items():
        _need(path, f"cell.{key}", value, Scalar, "a scalar")
    _need(path, "status", data.get("status"), str, "a string")
    _need(path, "metrics", data.get("metrics"), dict, "an object")  # its values: diff skips non-numbers
    return data
