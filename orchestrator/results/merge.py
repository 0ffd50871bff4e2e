"""Merge shard runs (`orchestrator run --shard i/n`) into one run.

Shards must come from the same resolved config, the same tool version and
the same built artifacts; otherwise they measured different things and are
refused. Cells and their logs are copied; a cell present in two shards with
different records is refused too. Everything is read and checked before
anything is written, and the merged run is assembled in a hidden folder,
so a refused or failed merge leaves no output.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from orchestrator import failpoints
from orchestrator.errors import InfraError, UserError
from orchestrator.results.store import Run, Store, open_folder
from orchestrator.results.models import Manifest, Record, refuse_mix, safe_name

log = logging.getLogger(__name__)

SAME = ("resolved_config", "tool_version", "experiment")


def _check_records(run: Run, manifest: Manifest, records: list[Record]) -> None:
    """A record that carries provenance must agree with its run's manifest."""
    for rec in records:
        if rec.provenance is not None and rec.provenance.model_dump() != manifest.cell_provenance(rec.cell.kernel):
            raise UserError(f"{run.cells_dir / (rec.cell.id + '.json')}: provenance differs from its manifest's")


def copy_logs(src: Path, dest: Path) -> None:
    """Copy a cell's log folder (run/logs/<cell>), regular files only: a
    symlink could point anywhere on the host and is skipped, never followed."""
    for level in (src.parent, src):
        if level.is_symlink():
            log.warning("%s: a symlink in a results folder is ignored", level)
            return
    if not src.is_dir():
        return
    for top, dirs, files in os.walk(src):  # does not descend into symlinked folders
        rel = Path(top).relative_to(src)
        (dest / rel).mkdir(parents=True, exist_ok=True)
        for name in [*files, *dirs]:
            path = Path(top) / name
            if path.is_symlink():
                log.warning("%s: a symlink in a results folder is ignored", path)
            elif name in files and path.is_file():
                shutil.copy2(path, dest / rel / name, follow_symlinks=False)


def merge(shards: list[Path], results: Path, label: str | None = None) -> Run:
    if len(shards) < 2:
        raise UserError("merge needs at least two shard runs")
    if label is not None:
        safe_name(label, "label")
    store = Store(results)
    store.check_root()  # before reading anything: a wrong --results is the cheapest error
    runs = [open_folder(folder) for folder in shards]
    raw = [r.manifest_data() for r in runs]
    manifests = [r.manifest() for r in runs]
    first = raw[0]
    for run, m, typed in zip(runs[1:], raw[1:], manifests[1:]):
        for key in SAME:
            if m.get(key) != first.get(key):
                raise UserError(f"{run.manifest_path}: {key} differs from {runs[0].manifest_path}'s; shards must match")
        refuse_mix(f"{run.folder} and {runs[0].folder}", manifests[0], typed)
    shard_ids = [tuple(m.plan.shard or ()) for m in manifests]
    if len(set(shard_ids)) != len(shard_ids):
        raise UserError(f"the same shard is given twice: {shard_ids}")
    name = safe_name(manifests[0].experiment or "merged", f"{runs[0].manifest_path}: experiment")
    records = _records(runs, manifests)
    cells = sorted({c for m in manifests for c in m.plan.cells})
    manifest = {k: v for k, v in first.items() if k != "schema"}
    manifest.update({
        "label": label if label is not None else manifests[0].label,
        "plan": {"cells": cells, "total": manifests[0].plan.total, "shard": None},
        "merged_from": [{"run": r.id, "shard": list(s) or None} for r, s in zip(runs, shard_ids)],
    })
    with store.staged_run(f"{name}-merged") as merged:
        failpoints.stall("merge")  # half-way: the staging folder exists
        for cell_id, (run, record) in sorted(records.items()):
            merged.record(cell_id, {k: v for k, v in record.model_dump(by_alias=True).items() if k != "schema"})
            try:
                copy_logs(run.folder / "logs" / cell_id, merged.folder / "logs" / cell_id)
            except OSError as exc:
                raise InfraError(f"copying the logs of {cell_id} from {run.folder}: {exc}") from exc
        merged.write_manifest(manifest)
    return merged


def _records(runs: list[Run], manifests: list[Manifest]) -> dict[str, tuple[Run, Record]]:
    """Every shard's records by cell id; the same cell twice must agree."""
    records: dict[str, tuple[Run, Record]] = {}
    for run, manifest in zip(runs, manifests):
        found = list(run.records())
        _check_records(run, manifest, found)
        for record in found:
            cell_id = record.cell.id
            if cell_id in records and records[cell_id][1] != record:
                raise UserError(f"cell {cell_id} is in two shards with different records "
                                f"({records[cell_id][0].folder}, {run.folder})")
            records[cell_id] = (run, record)
    return records
