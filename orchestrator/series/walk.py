"""`orchestrator series`: build the base and every prefix of a series, run
the chosen cells on each step, and compare each step with the one before
and with the base.

Every step is an ordinary kernel recipe and so an ordinary cache entry:
the steps share one work tree (same source and config), and the builder
switches patches on it, so a step rebuilds only what its patch touches. A
step whose patch does not apply ends the walk's builds there (every later
prefix carries that patch); a step that does not compile is recorded and
the walk goes on, since a later patch may fix the build.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from orchestrator.ab import steps as step_files
from orchestrator.ab.recipes import Base
from orchestrator.ab.series import SeriesPatch
from orchestrator.build.kernel import KernelBuilder, PatchError
from orchestrator.compare.diff import Report, make_report
from orchestrator.compare.expect import coordinate
from orchestrator.config import Loaded, load_experiment
from orchestrator.errors import InfraError
from orchestrator.paths import Project
from orchestrator.plan import Plan


@dataclass
class Step:
    index: int
    subject: str  # the patch this step adds ("" for the base)
    author: str
    recipe: Path
    status: str = "pending"  # built, does not apply, does not build, skipped
    detail: str = ""
    build_s: float = 0.0
    key: str = ""

    @property
    def name(self) -> str:
        return step_files.step_name(self.index)

    def as_json(self) -> dict[str, Any]:
        return {"step": self.name, "subject": self.subject, "author": self.author, "status": self.status,
                "detail": self.detail, "build_s": round(self.build_s, 1), "key": self.key}


@dataclass
class Walk:
    steps: list[Step]
    previous: dict[str, Report] = field(default_factory=dict)  # step name -> report against the step before
    base: dict[str, Report] = field(default_factory=dict)  # step name -> report against p0

    @property
    def built(self) -> list[Step]:
        return [s for s in self.steps if s.status == "built"]


def plan_steps(folder: Path, base: Base, series: list[SeriesPatch]) -> list[Step]:
    paths = step_files.write_steps(folder, base, series)
    # a plain diff has no subject: its file name says which patch it is
    return [Step(k, (series[k - 1].subject or Path(series[k - 1].origin).name) if k else "",
                 series[k - 1].author if k else "", path)
            for k, path in enumerate(paths)]


def build_steps(project: Project, walk: list[Step], progress: Callable[[str, str], None]) -> None:
    """Build each step in order, recording how each ended."""
    builder = KernelBuilder(project, progress=progress)
    for step in walk:
        start = time.monotonic()
        try:
            kernel = builder.build(str(step.recipe))
        except PatchError as exc:
            step.status, step.detail = "does not apply", str(exc)
            for later in walk[step.index + 1:]:
                later.status, later.detail = "skipped", f"carries {step.name}'s patch, which does not apply"
            return
        except InfraError as exc:
            step.status, step.detail = "does not build", str(exc).strip()
        else:
            step.status, step.key = "built", kernel.key
        finally:
            step.build_s = time.monotonic() - start


def cells_of_interest(plan: Plan, resolved: dict[str, Any], only_given: bool) -> Plan:
    """`--only` if given, else the cells the config's expectations are
    about (any of their `when`s), else every cell."""
    expectations = resolved.get("expectations") or []
    if only_given or not expectations:
        return plan
    whens = [{k: coordinate(v) for k, v in (e.get("when") or {}).items()} for e in expectations]

    def wanted(coords: dict[str, str]) -> bool:
        return any(all(coords.get(k) == v for k, v in when.items()) for when in whens)
    return replace(plan, cells=tuple(c for c in plan.cells if wanted(c.coords)))


def experiment_for(folder: Path, project: Project, resolved: dict[str, Any], name: str, base: Base,
                   series: list[SeriesPatch], walk: list[Step]) -> Loaded:
    doc = step_files.experiment_doc(resolved, name, base, series, [s.index for s in walk if s.status == "built"])
    return load_experiment(step_files.write_experiment(folder, doc), project)


def compare_steps(results: Path, run_folder: Path, walk: Walk) -> None:
    """Each built step against the built step before it and against p0."""
    built = walk.built
    for before, step in zip(built, built[1:]):
        walk.previous[step.name] = make_report(results, before.name, step.name, str(run_folder))
        if built[0].index == 0:
            walk.base[step.name] = make_report(results, built[0].name, step.name, str(run_folder))
