"""The coverage pass: each cell group once on the coverage kernels, and
its summary, coverage.json, which `diff` and the reports read.

A coverage run is a run like any (cells, logs, manifest) kept apart from
the measured runs, under `results/coverage/` (or, with `run --coverage`,
in the measured run's folder), so `diff` never takes it for the latest
measurement: its kernels are instrumented and its figures mean nothing.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from orchestrator.build.cache import Store as KernelStore
from orchestrator.build.kernel import KernelBuilder
from orchestrator.compare.expect import label
from orchestrator.config import Loaded
from orchestrator.coverage import tally
from orchestrator.errors import InfraError
from orchestrator.paths import cache_root
from orchestrator.results.store import Run, Store, read_json, write_json_atomic

FILE = "coverage.json"
SUBDIR = "coverage"  # under a results folder, or a measured run's folder
SCHEMA = 1


def pass_config(loaded: Loaded) -> Loaded:
    """The experiment as the coverage pass runs it: one repetition, gcov
    the only collector, no expectations, no gate."""
    exp = loaded.experiment.model_copy(update={"repetitions": 1, "collectors": ("gcov",), "expectations": (),
                                               "gate": None})
    return replace(loaded, experiment=exp)


def _entries(run: Run) -> dict[str, Path]:
    store = KernelStore(cache_root() / "kernel" / "builds")
    out = {}
    for variant, art in run.manifest().artifacts.kernels.items():
        path = store.lookup(art.key) if art.key else None
        if path is None:
            raise InfraError(f"the coverage kernel of {variant} ({art.key}) is not in the cache any more")
        out[variant] = path
    return out


def summarize(loaded: Loaded, run: Run) -> dict[str, Any]:
    """coverage.json of a finished coverage run (also written into it)."""
    entries = _entries(run)
    files = tally.targets_files(next(iter(entries.values())))
    changed = tally.changed_lines(entries, files)
    groups: dict[str, dict[str, Any]] = {}
    for rec in run.records():
        coords = {k: str(v) for k, v in rec.cell.coords().items() if k != "kernel"}
        group = groups.setdefault(label(tuple(sorted(coords.items()))), {"where": coords, "kernels": {}})
        if not rec.ok:
            group["kernels"][rec.cell.kernel] = {"failed": (rec.failure or {}).get("message", rec.status)}
            continue
        counts = tally.counts(entries[rec.cell.kernel], run.folder / "logs" / rec.cell.id / "gcov.json")
        group["kernels"][rec.cell.kernel] = tally.tally(entries[rec.cell.kernel], changed[rec.cell.kernel], counts)
    builder = KernelBuilder(loaded.project)
    data = {
        "schema": SCHEMA, "run": run.id, "experiment": loaded.experiment.name,
        "kernels": {v: {"recipe": ref.recipe, "measured_key": builder.inputs(ref.recipe).key,
                        "coverage_key": run.manifest().artifacts.kernels[v].key,
                        "objects": targets_of_path(entries[v])["objects"]}
                    for v, ref in loaded.experiment.kernels.items()},
        "files": files, "changed": changed, "groups": groups,
    }
    write_json_atomic(run.folder / FILE, data)
    return data


def targets_of_path(entry: Path) -> dict[str, Any]:
    return read_json(entry / "gcov" / "targets.json")


def exercised(group: dict[str, Any], variants: list[str]) -> bool | None:
    """Whether any changed line of these kernels ran in this cell group;
    None when a kernel's coverage cell failed or is missing (unknown)."""
    seen = [group["kernels"].get(v) for v in variants]
    if any(s is None or "failed" in s for s in seen):
        return None
    return any(s["ran"] > 0 for s in seen)


def find(results: Path, run: Run) -> dict[str, Any] | None:
    """The coverage of a measured run: its own (run --coverage), or the
    newest coverage run whose kernels were built from the same inputs."""
    own = run.folder / FILE
    if own.is_file():
        return read_json(own)
    keys = {v: k.key for v, k in run.manifest().artifacts.kernels.items()}
    for cov in sorted(Store(results / SUBDIR).runs(), key=lambda r: r.manifest().started or "", reverse=True):
        path = cov.folder / FILE
        if path.is_file():
            data = read_json(path)
            if all(keys.get(v) == k["measured_key"] for v, k in data["kernels"].items() if v in keys):
                return data
    return None


