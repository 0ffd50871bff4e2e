"""The gate from a loaded experiment to its reports: build the selftests of
every kernel variant, run the tests without a record, compare.

Shared by `orchestrator gate` (the gate alone, in a run folder of its own)
and `orchestrator run` (first, in the run's folder, before any cell).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from orchestrator.build.image import ImageBuilder
from orchestrator.build.kernel import KernelBuilder
from orchestrator.build.selftests import SelftestBuilder, Selftests
from orchestrator.config import Loaded
from orchestrator.config.gate import tests_of, timeout_of
from orchestrator.errors import UserError
from orchestrator.gate.compare import GateReport, compare, expunge_for, run_reports
from orchestrator.gate.plan import gate_of, make_cells
from orchestrator.gate.runner import GateInputs, run_gate
from orchestrator.machine import ssh
from orchestrator.machine.host import AccelChoice
from orchestrator.machine.profile import HostProfile
from orchestrator.results import gate as records
from orchestrator.paths import Project, find_project
from orchestrator.results.store import Run, Store, open_folder

Progress = Callable[[str, str], None]


def build_selftests(loaded: Loaded, progress: Progress) -> dict[str, Selftests]:
    """Each variant's selftests, from its own tree (kernels built or not)."""
    builder = SelftestBuilder(KernelBuilder(loaded.project, progress=progress))
    out = {}
    for variant, ref in loaded.experiment.kernels.items():
        progress("build", f"selftests of {ref.recipe}")
        out[variant] = builder.build(ref.recipe)
    return out


def build_for_gate(loaded: Loaded, progress: Progress) -> tuple[dict[str, Path], Path, dict[str, object]]:
    """What the gate alone needs: the variants' kernels and L1's image."""
    kb = KernelBuilder(loaded.project, progress=progress)
    kernels = {}
    arts: dict[str, object] = {"kernels": {}}
    for variant, ref in loaded.experiment.kernels.items():
        progress("build", f"kernel {ref.recipe}")
        k = kb.build(ref.recipe)
        kernels[variant] = k.bzimage
        arts["kernels"][variant] = {"recipe": ref.recipe, "key": k.key}  # type: ignore[index]
    image = ImageBuilder(loaded.project, progress=progress).build(loaded.experiment.machines.l1.image)
    arts["images"] = {"l1": {"recipe": loaded.experiment.machines.l1.image, "key": image.key}}
    return kernels, image.rootfs, arts


def gate(loaded: Loaded, run: Run, kernels: dict[str, Path], rootfs: Path, accel: AccelChoice, profile: HostProfile,
         keys: ssh.Keys, only: Mapping[str, set[str]] | None = None,
         progress: Progress = lambda p, d: None) -> list[GateReport]:
    selftests = build_selftests(loaded, progress)
    exp = loaded.experiment
    inputs = GateInputs(exp.machines.l1, exp.machines.l2, tuple(exp.knobs.items()), kernels, selftests, rootfs,
                        accel, profile, keys)
    run_gate(inputs, run, make_cells(exp, only), lambda text: progress("gate", text))
    return reports(loaded, run)


def reports(loaded: Loaded, run: Run) -> list[GateReport]:
    """The run's gate reports: its first kernel against each other one."""
    return run_reports(records.records(run), list(loaded.experiment.kernels), expunge_for(loaded.project.configs))


def manifest_entry(loaded: Loaded) -> dict[str, object]:
    """What the run's manifest says about its gate."""
    g = gate_of(loaded.experiment)
    return {"tests": {n: {"args": list(t.args), "timeout_s": timeout_of(g, t)} for n, t in tests_of(g).items()}}


def gate_report(results: Path, a: str, b: str, run_ref: str | None) -> GateReport | None:
    """`diff`'s gate section: A against B in the run (`--run`, else the
    latest), or None when that run has no gate results for both."""
    store = Store(results)
    try:
        if run_ref:
            run = open_folder(Path(run_ref)) if "/" in run_ref else store.open(run_ref)
        else:
            run = store.latest()
        recs = records.records(run)
    except UserError:
        return None
    kernels = {r["gate"]["kernel"] for r in recs}
    if a not in kernels or b not in kernels:
        return None
    return compare(recs, a, b, expunge_for(Project(find_project()).configs))
