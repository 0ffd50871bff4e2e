"""Merge shard runs (`orchestrator run --shard i/n`) into one run.

Shards must come from the same resolved config, the same tool version and
the same built artifacts; otherwise they measured different things and are
refused. Cells and their logs are copied; a cell present in two shards with
different records is refused too.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from orchestrator.errors import UserError
from orchestrator.results.store import Run, Store

SAME = ("resolved_config", "tool_version", "experiment")


def _artifact_keys(manifest: dict[str, Any]) -> Any:
    art = manifest.get("artifacts", {})
    return {
        "kernels": {k: v.get("key") for k, v in art.get("kernels", {}).items()},
        "l2_kernel": art.get("l2_kernel", {}).get("key"),
        "images": {k: v.get("key") for k, v in art.get("images", {}).items()},
    }


def merge(shards: list[Path], results: Path, label: str | None = None) -> Run:
    if len(shards) < 2:
        raise UserError("merge needs at least two shard runs")
    runs = []
    for folder in shards:
        if not (folder / "manifest.json").is_file():
            raise UserError(f"{folder}: not a run folder (no manifest.json)")
        runs.append(Run(folder))
    manifests = [r.manifest() for r in runs]
    first = manifests[0]
    for run, m in zip(runs[1:], manifests[1:]):
        for key in SAME:
            if m.get(key) != first.get(key):
                raise UserError(f"{run.folder}: its {key} differs from {runs[0].folder}'s; shards must match")
        if _artifact_keys(m) != _artifact_keys(first):
            raise UserError(f"{run.folder}: built from other kernels or images than {runs[0].folder}")
    shard_ids = [tuple(m.get("plan", {}).get("shard") or ()) for m in manifests]
    if len(set(shard_ids)) != len(shard_ids):
        raise UserError(f"the same shard is given twice: {shard_ids}")
    merged = Store(results).new_run(f"{first.get('experiment', 'merged')}-merged")
    records: dict[str, dict[str, Any]] = {}
    for run in runs:
        for record in run.records():
            cell_id = record["cell"]["id"]
            if cell_id in records and records[cell_id] != record:
                raise UserError(f"cell {cell_id} is in two shards with different records")
            records[cell_id] = record
            merged.record(cell_id, {k: v for k, v in record.items() if k != "schema"})
            src = run.folder / "logs" / cell_id
            if src.is_dir() and not src.is_symlink():
                shutil.copytree(src, merged.folder / "logs" / cell_id, symlinks=False, dirs_exist_ok=True)
    cells = sorted({c for m in manifests for c in m.get("plan", {}).get("cells", [])})
    manifest = {k: v for k, v in first.items() if k != "schema"}
    manifest.update({
        "label": label if label is not None else first.get("label"),
        "plan": {"cells": cells, "total": first.get("plan", {}).get("total"), "shard": None},
        "merged_from": [{"run": r.id, "shard": list(s) or None} for r, s in zip(runs, shard_ids)],
    })
    merged.write_manifest(manifest)
    return merged
