"""One bisect probe: a step's kernel run on the condition's cells, as a run
of its own (kernel variant `x` in every probe, so two probes compare as two
runs of `diff`), and the judgement of a probe against the two ends."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from orchestrator.ab.recipes import _pruned, dump
from orchestrator.build.kernel import PatchError
from orchestrator.compare.diff import make_report
from orchestrator.compare.stats import Comparison
from orchestrator.config import load_experiment
from orchestrator.errors import InfraError, UserError
from orchestrator.experiment.runner import run_experiment
from orchestrator.paths import Project
from orchestrator.plan import make_plan
from orchestrator.series.bisect import BAD, GOOD, SKIP

VARIANT = "x"


@dataclass(frozen=True)
class Condition:
    """What moved: a metric, in which cells, which way, by how much."""

    metric: str
    where: dict[str, set[str]]  # --where k=v, as --only
    direction: str | None  # increase, decrease, or None: the ends' own
    threshold_pct: float

    def rows(self, report) -> list[Comparison]:
        return [r.comparison for r in report.rows if r.comparison.metric == self.metric
                and all(r.where.get(k) in vs for k, vs in self.where.items())]

    def moved(self, c: Comparison, direction: str) -> bool:
        """Significant, in `direction`, by at least the threshold."""
        if not c.significant or c.change_pct is None:
            return False
        return c.change_pct >= self.threshold_pct if direction == "increase" else c.change_pct <= -self.threshold_pct

    def as_json(self) -> dict[str, Any]:
        return {"metric": self.metric, "where": {k: sorted(v) for k, v in self.where.items()},
                "direction": self.direction, "threshold_pct": self.threshold_pct}


def probe_config(folder: Path, resolved: dict[str, Any], step: str, subject: str) -> Path:
    doc = _pruned(resolved)
    doc["name"] = f"probe-{step}"
    doc["kernels"] = {VARIANT: {"recipe": f"kernels/{step}.yaml", "description": f"{step}: {subject or 'base'}"}}
    doc.pop("expectations", None)  # a probe is judged by the bisect's condition, not the config's
    path = folder / f"probe-{step}.yaml"
    path.write_text(dump(doc))
    return path


def run_probe(project: Project, folder: Path, step: str, cond: Condition, repeat: int | None, jobs: int | None,
              progress: Callable[[str, str], None], resume: str | None = None) -> tuple[str | None, str]:
    """The probe's run id (None if it did not build or a cell failed) and
    what happened; `resume`: add the repetitions up to `repeat` to that run."""
    loaded = load_experiment(folder / f"probe-{step}.yaml", project)
    plan = make_plan(loaded.experiment, only=cond.where, repeat=repeat)
    try:
        outcome = run_experiment(loaded, plan, results=folder / "runs", jobs=jobs, progress=progress, resume=resume)
    except PatchError as exc:
        return None, f"does not apply: {exc}"
    except InfraError as exc:
        return None, f"did not build or start: {str(exc).strip().splitlines()[0]}"
    if outcome.failed:
        f = outcome.failed[0]["failure"]
        return outcome.run.id, f"{len(outcome.failed)} cell(s) failed: {f['class']} ({f['level']})"
    return outcome.run.id, "ok"


def ends_direction(runs: Path, good: str, bad: str, cond: Condition) -> str:
    """The way the metric moved from the good end to the bad one; a
    UserError if the ends do not differ as the condition says."""
    rows = cond.rows(make_report(runs, good, bad))
    if not rows:
        raise UserError(f"no {cond.metric} in the cells {cond.as_json()['where']} of the ends' runs")
    for direction in ([cond.direction] if cond.direction else ["increase", "decrease"]):
        if any(cond.moved(c, direction) for c in rows):
            return direction
    shown = "; ".join(f"{c.change_pct:+.1f}% (p={c.p_value})" for c in rows if c.change_pct is not None)
    raise UserError(f"the ends do not differ as asked ({cond.metric} {cond.direction or 'either way'} by at least "
                    f"{cond.threshold_pct}%): {shown or 'no data'}; nothing to bisect")


def judge(runs: Path, good: str, bad: str, probe: str, cond: Condition, direction: str) -> tuple[str, str]:
    """bad: moved from the good end as the ends did; good: same as the
    good end and different from the bad end; else skip (undecided)."""
    vs_good = cond.rows(make_report(runs, good, probe))
    vs_bad = cond.rows(make_report(runs, bad, probe))
    shown = ", ".join(f"{c.change_pct:+.1f}% vs good" for c in vs_good if c.change_pct is not None)
    if any(cond.moved(c, direction) for c in vs_good):
        return BAD, shown
    if vs_bad and not any(c.significant for c in vs_good) and all(c.significant for c in vs_bad):
        return GOOD, shown
    return SKIP, f"undecided: {shown}"
