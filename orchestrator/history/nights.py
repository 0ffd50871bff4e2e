"""The history's records: one JSON file per night, made from a (merged)
run: when it started, on what accelerator, the kernels with their keys and
patch subjects, and per cell group and kernel the median of each headline
metric. Small, so a CI cache or a branch can keep years of them."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from orchestrator.compare.diff import HEADLINE
from orchestrator.errors import UserError
from orchestrator.results.store import Run, read_json, write_json_atomic

FORMAT = 1
SKIP = {"id", "index", "rep", "kernel"}


def _wanted(metric: str) -> bool:
    return metric in HEADLINE or metric.startswith("workload.")


def series_name(coords: dict[str, Any]) -> str:
    """A cell group and kernel: `kernel=patched tdp=off workload=file-mmap`."""
    rest = " ".join(f"{k}={coords[k]}" for k in sorted(coords) if k not in SKIP)
    return f"kernel={coords['kernel']} {rest}".strip()


def record(run: Run, night: str | None = None) -> dict[str, Any]:
    manifest = run.manifest_data()
    values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    failed = 0
    for r in run.records():
        if not r.ok:
            failed += 1
            continue
        for metric, v in r.metrics.items():
            if _wanted(metric) and isinstance(v, (int, float)):
                values[series_name(r.cell.coords())][metric].append(float(v))
    if not values:
        raise UserError(f"run {run.id}: no ok cell with a headline metric; nothing to add to the history")
    kernels = {name: {"key": k.get("key"), "patches": [p.get("subject") or p.get("file") for p in k.get("patches") or []]}
               for name, k in manifest.get("artifacts", {}).get("kernels", {}).items()}
    return {
        "format": FORMAT, "night": night or manifest.get("started", "")[:10], "run": run.id,
        "started": manifest.get("started"), "label": manifest.get("label"),
        "accel": (manifest.get("accel") or {}).get("accel"), "kernels": kernels, "failed_cells": failed,
        "series": {s: {m: statistics.median(v) for m, v in ms.items()} for s, ms in sorted(values.items())},
    }


def add(folder: Path, rec: dict[str, Any]) -> Path:
    """Write the night's record; the same run added twice is refused."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{rec['night']}-{rec['run']}.json"
    if path.exists():
        raise UserError(f"{path}: run {rec['run']} is already in the history")
    write_json_atomic(path, rec)
    return path


def load(folder: Path) -> list[dict[str, Any]]:
    """Every night, oldest first (by start time, then run id)."""
    if not folder.is_dir():
        raise UserError(f"{folder}: no history there (orchestrator history add RUN makes one)")
    nights = []
    for path in sorted(folder.glob("*.json")):
        data = read_json(path)
        if not isinstance(data, dict) or data.get("format") != FORMAT or "series" not in data:
            raise UserError(f"{path}: not a history record of this version")
        nights.append(data)
    return sorted(nights, key=lambda n: (n.get("started") or n["night"], n["run"]))
