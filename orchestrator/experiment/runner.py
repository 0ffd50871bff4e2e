"""`orchestrator run`: from a validated config and its plan to a stored run.

Builds what is missing first (kernels of every variant and of L2, both
images, the L2 payload), writes the manifest, then runs the cells, `--jobs`
at a time, each record written as soon as its cell ends.
"""

from __future__ import annotations

import contextlib
import os
import platform
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from orchestrator import __version__, interrupt
from orchestrator.build.image import ImageBuilder
from orchestrator.build.kernel import KernelBuilder
from orchestrator.build.patches import describe_all
from orchestrator.build.payload import build_payload
from orchestrator.config import Loaded
from orchestrator.errors import UserError
from orchestrator.experiment.cell import CellInputs, run_cell
from orchestrator.experiment.workload import kind_of
from orchestrator.experiment.rounds import Refill, Rounds, Sampling
from orchestrator.machine.profile import checked_profile
from orchestrator.nested.pair import RETRYABLE_L2_BOOT
from orchestrator.experiment.schedule import Scheduler
from orchestrator.experiment.warm import Templates, group_of
from orchestrator.gate import session as gate_session
from orchestrator.machine import host, ssh
from orchestrator.machine.live import INTERRUPTED, kill_all, release_thread_loop
from orchestrator.plan import Cell, Plan
from orchestrator.plan.boots import Boots
from orchestrator.results import models
from orchestrator.results.store import Run, Store
from orchestrator.workloads import REGISTRY as WORKLOADS

Progress = Callable[[str, str], None]


@dataclass(frozen=True)
class Outcome:
    run: Run
    records: list[dict[str, Any]]
    skipped: int
    sampling: dict[str, Any] | None = None  # --until-decided: why it stopped, repetitions per group
    gate: list[Any] | None = None  # the gate's reports (gate/compare.py), when it ran

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["status"] != "ok"]


# (level, class) of the infrastructure failures a cell is run again for,
# once, from fresh machines, with the first attempt noted in the record: an
# L2 that never booted (silent or slow: the emulator's stall), a saved L1
# that did not load, an L1 QEMU that did not start (its SSH port, free
# when picked, can be taken before QEMU binds it), and a recorder (perf)
# that did not start in L1 before the workload. Never a panic, an oops,
# a hang, an exit, lost SSH or QMP, a workload's failure or timeout, an
# interruption, or anything after the workload ran: those are results, or
# would only fail again.
RETRYABLE = frozenset({("L2", cause) for cause in RETRYABLE_L2_BOOT}
                      | {("L1", "snapshot"), ("L1", "launch"), ("L1", "collector-start")})


def retryable(record: dict[str, Any]) -> bool:
    f = record.get("failure") or {}
    return (record["status"] == "failed" and (f.get("level"), f.get("class")) in RETRYABLE
            and "workload_s" not in record["timings"] and not INTERRUPTED.is_set())


def default_jobs(loaded: Loaded) -> int:
    """One cell per L1 vCPU's worth of host cores."""
    return max(1, (os.cpu_count() or 1) // loaded.experiment.machines.l1.cpus)


def templates_per_worker(loaded: Loaded, groups: int, jobs: int) -> int:
    """Enough paused L1s per worker for its share of the groups, within
    half of the host's available memory (each holds L1's RAM once touched)."""
    l1 = loaded.experiment.machines.l1.memory_mib
    budget = max(1, int(host.mem_available_mib() * 0.5 // max(l1, 1)) // max(jobs, 1))
    return max(1, min(-(-groups // max(jobs, 1)), budget))


def prepare(loaded: Loaded, progress: Progress, coverage: bool = False) -> tuple[dict[str, Any], CellInputs | None, Any]:
    exp, project = loaded.experiment, loaded.project
    kb = KernelBuilder(project, progress=progress)
    ib = ImageBuilder(project, progress=progress)
    variants = _coverage_kernels(loaded, progress) if coverage else {}
    for variant, ref in exp.kernels.items() if not coverage else ():
        progress("build", f"kernel {ref.recipe}")
        variants[variant] = kb.build(ref.recipe)
    progress("build", f"kernel {exp.machines.l2.kernel} (L2)")
    l2_kernel = kb.build(exp.machines.l2.kernel)
    progress("build", f"image {exp.machines.l1.image}")
    l1_image = ib.build(exp.machines.l1.image)
    progress("build", f"image {exp.machines.l2.image}")
    l2_image = ib.build(exp.machines.l2.image)
    payload = build_payload(l2_image, l2_kernel)
    artifacts = {
        # each patch named as a reviewer names it (subject, author), not only by file and hash
        "kernels": {v: {"recipe": exp.kernels[v].recipe, "key": k.key, "metadata": k.metadata,
                        "patches": describe_all(loaded.kernels[exp.kernels[v].recipe].patches)}
                    for v, k in variants.items()},
        "l2_kernel": {"recipe": exp.machines.l2.kernel, "key": l2_kernel.key, "metadata": l2_kernel.metadata},
        "images": {
            "l1": {"recipe": exp.machines.l1.image, "key": l1_image.key, "metadata": l1_image.metadata},
            "l2": {"recipe": exp.machines.l2.image, "key": l2_image.key, "metadata": l2_image.metadata},
        },
        "payload": payload.key,
    }
    paths = {v: k.bzimage for v, k in variants.items()}
    return artifacts, paths, (l1_image.rootfs, payload.disk)


def _coverage_kernels(loaded: Loaded, progress: Progress) -> dict[str, Any]:
    """The coverage kernels of the variants (orchestrator coverage): imported
    here, as only that pass needs them."""
    from orchestrator.build.coverage import build_coverage
    return build_coverage(loaded.project, {v: ref.recipe for v, ref in loaded.experiment.kernels.items()}, progress)


def manifest(loaded: Loaded, plan: Plan, artifacts: dict[str, Any], accel: host.AccelChoice, label: str | None,
             start: str | None = None) -> dict[str, Any]:
    cpu = host.read_cpuinfo()
    return {
        "config": str(loaded.path),
        "experiment": loaded.experiment.name,
        "resolved_config": loaded.resolved,
        "label": label,
        "start": start or loaded.experiment.start,
        "plan": {"cells": [c.id for c in plan.cells], "total": plan.total, "shard": plan.shard},
        "artifacts": artifacts,
        "qemu_version": host.qemu_version(),
        "accel": {"accel": accel.accel, "cpu_model": accel.cpu_model, "reason": accel.reason},
        "host": {"cpu": cpu.model_name, "vendor": cpu.vendor, "cores": os.cpu_count(),
                 "kernel": platform.release(), "python": platform.python_version()},
        "tool_version": __version__,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def run_experiment(
    loaded: Loaded,
    plan: Plan,
    *,
    results: Path,
    label: str | None = None,
    jobs: int | None = None,
    resume: str | None = None,
    start: str | None = None,
    templates: int | None = None,
    fresh: Run | None = None,
    sampling: Sampling | None = None,
    gate: bool = True,
    coverage: bool = False,  # the variants' coverage kernels instead of the measured ones
    progress: Progress = lambda phase, detail: None,
    on_cell_start: Callable[[Cell], None] = lambda c: None,
    on_cell_phase: Callable[[Cell, str], None] = lambda c, p: None,
    on_cell_done: Callable[[Cell, dict[str, Any]], None] = lambda c, r: None,
) -> Outcome:
    exp = loaded.experiment
    run, done = _resumed(Store(results), loaded, resume)
    artifacts, kernels, (l1_rootfs, payload) = prepare(loaded, progress, coverage)
    accel = host.choose_accel(exp.machines.l1.accel, probe_kernel=next(iter(kernels.values())))
    boots = _boots(run, templates or exp.templates, plan)
    now = {**manifest(loaded, plan, artifacts, accel, label, start), "boots": _boots_entry(boots)}
    if run is not None:  # a resumed run refuses another accelerator or artifact before anything else
        models.refuse_mix(f"--resume {run.id}", run.manifest(), models.Manifest.model_validate(models.build_manifest(now)))
    profile = checked_profile(accel)  # a host that cannot nest is named now, not per cell
    if run is None:
        # `fresh`: a new run folder made by the caller, which already put
        # the inputs there (orchestrator ab: its recipes and patches)
        run = fresh or Store(results).new_run(exp.name)
        run.write_manifest({**now, **({"gate": gate_session.manifest_entry(loaded)} if gate and exp.gate else {})})
    todo = [c for c in plan.cells if c.id not in done]
    rounds = Rounds(sampling, list(plan.cells), lambda: _undecided(run, loaded)) if sampling else None
    with _run_keys(run) as keys:
        # the gate first: whether the kernels break KVM, before anything is measured
        reports = gate_session.gate(loaded, run, kernels, l1_rootfs, accel, profile, keys, progress=progress) \
            if gate and exp.gate else None
        inputs = CellInputs(exp, kernels, l1_rootfs, payload, accel, keys, profile,
                            selftests=_selftests(loaded, run, progress), boots=boots)
        cells = _Cells(run, inputs, on_cell_start, on_cell_phase, on_cell_done)
        warm = (start or exp.start) == "snapshot"
        _work(loaded, todo, inputs, cells, warm, jobs or default_jobs(loaded), rounds)
    if rounds:
        _record_rounds(run, rounds)
    return Outcome(run, cells.records, len(plan.cells) - len(todo), rounds.summary() if rounds else None, reports)


def _selftests(loaded: Loaded, run: Run, progress: Progress) -> dict[str, Any]:
    """Each variant's own selftests, when a workload of the matrix runs one
    (built as the gate builds them, cached with the kernel); their keys go
    into the manifest."""
    exp = loaded.experiment
    if not any(WORKLOADS[kind_of(exp, w)].selftest for w in exp.matrix.workload):
        return {}
    built = gate_session.build_selftests(loaded, progress)
    data = {k: v for k, v in run.manifest_data().items() if k != "schema"}
    data["artifacts"] = {**data.get("artifacts", {}), "selftests": {v: st.key for v, st in built.items()}}
    run.write_manifest(data)
    return built


def _work(loaded: Loaded, todo: list[Cell], inputs: CellInputs, cells: _Cells, warm: bool, width: int,
          rounds: Rounds | None) -> None:
    """`width` workers take cells until none are left (and, with rounds,
    until no round asks for more); each keeps its warm templates throughout."""
    scheduler = Scheduler(todo, (lambda c: group_of(inputs, c)) if warm else None)
    # a group's boots are used one after another (the plan is repetition by
    # repetition): a worker needs room for the groups, not for every boot
    per_worker = templates_per_worker(loaded, len({group_of(inputs, c)[:-1] for c in todo}), width) if warm else 0
    refill = Refill(rounds, scheduler.add, scheduler.pop) if rounds else None

    def worker(index: int) -> None:
        templates = Templates(cells.run.folder / "logs", per_worker) if warm else None
        try:
            while not INTERRUPTED.is_set():
                def take() -> Cell | None:
                    return scheduler.next(index, templates.held(), templates.room()) if templates else scheduler.next(index)
                cell = refill.take(take) if refill else take()
                if cell is None:
                    return
                try:
                    cells.one(cell, templates)
                finally:
                    if refill:
                        refill.done()
        finally:
            if templates:
                templates.close()
            release_thread_loop()

    _drive(width, worker)


def _undecided(run: Run, loaded: Loaded) -> set:
    """The groups still undecided. Imported here: the statistics (scipy)
    cost a second at start-up, and only --until-decided needs them in a run."""
    from orchestrator.compare.diff import undecided_groups
    return undecided_groups(run.folder, list(loaded.experiment.kernels))


def _record_rounds(run: Run, rounds: Rounds) -> None:
    """Why sampling stopped and each group's repetitions, in the manifest;
    the plan's cells grow by the rounds' cells."""
    data = {k: v for k, v in run.manifest_data().items() if k != "schema"}
    cells = list(data.get("plan", {}).get("cells", []))
    cells += [c for c in rounds.added if c not in cells]
    data["plan"] = {**data.get("plan", {}), "cells": cells}
    data["until_decided"] = rounds.summary()
    run.write_manifest(data)


def _resumed(store: Store, loaded: Loaded, resume: str | None) -> tuple[Run | None, set[str]]:
    """The run to resume and its finished cells, or (None, nothing)."""
    if not resume:
        return None, set()
    run = store.open(resume)
    if run.manifest_data().get("resolved_config") != loaded.resolved:
        raise UserError(f"run {run.id} was made from a different config; --resume needs the same one")
    return run, run.done()


def _boots(run: Run | None, templates: int | None, plan: Plan) -> Boots:
    """How repetitions spread over boots; a resumed run keeps its own, so
    its missing cells go to the boots they were planned for."""
    if run is not None:
        stored = run.manifest_data().get("boots")
        if isinstance(stored, dict) and isinstance(stored.get("planned"), int):
            return Boots(stored.get("templates"), stored["planned"])
    return Boots(templates, plan.repetitions or max((c.rep for c in plan.cells), default=0))


def _boots_entry(boots: Boots) -> dict[str, Any]:
    return {"templates": boots.templates, "planned": boots.planned, "per_group": boots.per_group}


@contextlib.contextmanager
def _run_keys(run: Run) -> Iterator[ssh.Keys]:
    """This run's SSH keys, deleted with the run unless kept on purpose; an
    interrupt that cannot wait for the orderly path still takes them."""
    folder = run.folder / ".keys"
    keys = ssh.generate_keys(folder)
    withdraw = interrupt.on_last_resort(folder)
    try:
        yield keys
    finally:
        if not os.environ.get("ORCHESTRATOR_KEEP_KEYS"):
            for f in folder.glob("*"):
                f.unlink()
            folder.rmdir()
        withdraw()


class _Cells:
    """Runs one cell at a time for a worker (once more if retryable) and
    records it as soon as it ends."""

    def __init__(self, run: Run, inputs: CellInputs, on_start: Callable[[Cell], None],
                 on_phase: Callable[[Cell, str], None], on_done: Callable[[Cell, dict[str, Any]], None]):
        self.run, self.inputs = run, inputs
        self.measured_with = run.manifest()  # each record carries its provenance
        self.on_start, self.on_phase, self.on_done = on_start, on_phase, on_done
        self.records: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def one(self, cell: Cell, machines: Templates | None) -> dict[str, Any]:
        self.on_start(cell)
        factory = machines.machines if machines else None
        logs = self.run.logs(cell.id)
        record = run_cell(self.inputs, cell, logs, lambda p: self.on_phase(cell, p), factory)
        if retryable(record):
            # the same L1 kept stalling its L2: once more from a fresh L1
            keep = logs / "attempt1"
            keep.mkdir()
            for f in logs.iterdir():
                if f != keep:
                    f.rename(keep / f.name)
            first = record["failure"]
            record = run_cell(self.inputs, cell, logs, lambda p: self.on_phase(cell, p), factory)
            record["notes"]["cell_retries"] = [{"failure": first["class"], "level": first["level"],
                                                "message": first["message"], "logs": "attempt1/"}]
        record["provenance"] = self.measured_with.cell_provenance(cell.kernel)
        self.run.record(cell.id, record)
        with self._lock:
            self.records.append(record)
        self.on_done(cell, record)
        return record


def _drive(width: int, worker: Callable[[int], None]) -> None:
    """`width` workers until all return; a worker's error is raised here."""
    pool = ThreadPoolExecutor(max_workers=width, thread_name_prefix="cell")
    pending: set[Future] = {pool.submit(worker, i) for i in range(width)}
    try:
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED, timeout=1.0)
            for fut in finished:
                fut.result()
    except BaseException:
        # Ctrl-C or SIGTERM: stop every QEMU now; the cells in flight record
        # themselves as interrupted and their owners clean up.
        kill_all()
        wait(pending, timeout=120)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
