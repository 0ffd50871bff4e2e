"""Match the cells of two sides and compare every metric, then check the
config's expectations.

Sides are kernel variants within one run (cells matched by everything but
the kernel: tdp, workload, params), or two runs (by id or label; cells
matched by everything including the kernel). Comparing a side with itself
is the A/A check: its repetitions are split in two halves, and any
significant row is a false positive.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from orchestrator import failpoints
from orchestrator.compare.stats import Comparison, adjust, compare
from orchestrator.errors import UserError
from orchestrator.results.store import Run, Store, open_folder
from orchestrator.workloads import REGISTRY

HEADLINE = ("kvm.pf_fixed", "kvm.exits", "kvm.pf_taken", "kvm.mmu_cache_miss", "perf.kvm:kvm_exit")
Group = tuple[tuple[str, str], ...]


def better_of(metric: str) -> str:
    if metric.startswith("workload."):
        name = metric.split(".", 1)[1]
        for w in REGISTRY.values():
            if w.metric.name == name:
                return w.metric.better
        return "higher" if name.endswith(("per_s", "per_sec")) else "lower"
    return "lower"  # faults, exits, events and seconds: fewer is better


@dataclass(frozen=True)
class Row:
    group: Group
    comparison: Comparison
    a: tuple[float, ...] = ()
    b: tuple[float, ...] = ()

    @property
    def where(self) -> dict[str, str]:
        return dict(self.group)


@dataclass(frozen=True)
class ExpectationResult:
    name: str
    metric: str
    when: dict[str, Any]
    change: str
    status: str  # met, not met, not applicable
    detail: str


@dataclass
class Report:
    a: str
    b: str
    mode: str  # variants, runs, a/a
    run_ids: list[str]
    rows: list[Row] = field(default_factory=list)
    expectations: list[ExpectationResult] = field(default_factory=list)
    failed_cells: list[str] = field(default_factory=list)
    # side (or "run-side:variant") -> its kernel's patches in order, each
    # {file, sha256, subject, author}, from the run's manifest
    patches: dict[str, list[dict[str, str]]] = field(default_factory=dict)

    @property
    def regressions(self) -> list[Row]:
        return [r for r in self.rows if r.comparison.verdict == "regression"]

    @property
    def unmet(self) -> list[ExpectationResult]:
        return [e for e in self.expectations if e.status == "not met"]

    def false_positive_rate(self) -> dict[str, float]:
        per: dict[str, list[bool]] = defaultdict(list)
        for r in self.rows:
            if r.comparison.verdict != "not enough data":
                per[_label(r.group)].append(r.comparison.significant)
        return {k: sum(v) / len(v) for k, v in per.items() if v}


def _label(group: Group) -> str:
    return " ".join(f"{k}={v}" for k, v in group)


def _metrics_wanted(metric: str, everything: bool) -> bool:
    if everything:
        return True
    return metric in HEADLINE or metric in {f"workload.{w.metric.name}" for w in REGISTRY.values()}


def _collect(records: list[dict[str, Any]], key_fn) -> dict[Group, dict[str, list[float]]]:
    out: dict[Group, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        if r["status"] != "ok":
            continue
        group = key_fn(r["cell"])
        for metric, value in r["metrics"].items():
            if isinstance(value, (int, float)):
                out[group][metric].append(float(value))
    return out


def _group_key(cell: dict[str, Any], keep_kernel: bool) -> Group:
    skip = {"id", "index", "rep"} | (set() if keep_kernel else {"kernel"})
    return tuple(sorted((k, str(v)) for k, v in cell.items() if k not in skip))


def _open_run(store: Store, ref: str) -> Run:
    """`--run` takes a run id of the store or, said explicitly with a
    separator, the path of a run folder; A and B are never paths."""
    return open_folder(Path(ref)) if "/" in ref else store.open(ref)


def _resolve(store: Store, a: str, b: str, run_ref: str | None) -> tuple[str, list[Run], list[dict], list[dict]]:
    run = _open_run(store, run_ref) if run_ref else store.latest()
    if run is not None:
        records = list(run.records())
        kernels = {r["cell"]["kernel"] for r in records}
        if a in kernels and b in kernels:
            mode = "a/a" if a == b else "variants"
            return mode, [run], [r for r in records if r["cell"]["kernel"] == a], [r for r in records if r["cell"]["kernel"] == b]
        if run_ref:
            raise UserError(f"run {run.id} has kernels {', '.join(sorted(kernels))}; not {a!r} and {b!r}")
    sides = []
    for ref in (a, b):
        runs = store.by_label(ref) or [store.open(ref)]
        if len(runs) > 1:
            raise UserError(f"label {ref!r} names {len(runs)} runs; use a run id")
        sides.append(runs[0])
    mode = "a/a" if sides[0].folder == sides[1].folder else "runs"
    return mode, sides, list(sides[0].records()), list(sides[1].records())


def _split_halves(records: list[dict]) -> tuple[list[dict], list[dict]]:
    """A/A: odd repetitions against even ones."""
    odd = [r for r in records if int(r["cell"]["rep"]) % 2 == 1]
    even = [r for r in records if int(r["cell"]["rep"]) % 2 == 0]
    return odd, even


def make_report(results: Path, a: str, b: str, run_ref: str | None = None, everything: bool = False) -> Report:
    store = Store(results)
    mode, runs, rec_a, rec_b = _resolve(store, a, b, run_ref)
    failpoints.stall("diff")
    if mode == "a/a":
        rec_a, rec_b = _split_halves(rec_a)
    keep_kernel = mode != "variants"
    sa = _collect(rec_a, lambda c: _group_key(c, keep_kernel))
    sb = _collect(rec_b, lambda c: _group_key(c, keep_kernel))
    report = Report(a, b, mode, [r.id for r in runs])
    report.failed_cells = [r["cell"]["id"] for r in rec_a + rec_b if r["status"] != "ok"]
    report.patches = _patches(mode, runs, a, b)
    expectations = runs[0].manifest().get("resolved_config", {}).get("expectations", [])
    min_effect = {e["metric"]: e.get("min_effect_pct", 5.0) for e in expectations}
    for group in sorted(set(sa) | set(sb)):
        metrics = sorted(set(sa.get(group, {})) | set(sb.get(group, {})))
        for metric in metrics:
            if not _metrics_wanted(metric, everything):
                continue
            xa, xb = sa.get(group, {}).get(metric, []), sb.get(group, {}).get(metric, [])
            comparison = compare(metric, xa, xb, better_of(metric), min_effect.get(metric, 5.0))
            report.rows.append(Row(group, comparison, tuple(xa), tuple(xb)))
    adjusted = adjust([row.comparison for row in report.rows])
    report.rows = [replace(row, comparison=c) for row, c in zip(report.rows, adjusted)]
    report.expectations = [_check(e, report.rows) for e in expectations] if mode == "variants" else []
    return report


def _patches(mode: str, runs: list[Run], a: str, b: str) -> dict[str, list[dict[str, str]]]:
    """What each side's kernel carries (manifests before patch subjects
    were recorded have none: nothing is shown for them)."""
    def of(run: Run) -> dict[str, list[dict[str, str]]]:
        kernels = run.manifest().get("artifacts", {}).get("kernels", {})
        return {v: k.get("patches") or [] for v, k in kernels.items()}
    if mode != "runs":
        found = of(runs[0])
        return {side: found[side] for side in dict.fromkeys((a, b)) if found.get(side)}
    out = {}
    for side, run in zip((a, b), runs):
        found = of(run)
        for variant, patches in found.items():
            if patches:
                out[side if len(found) == 1 else f"{side}:{variant}"] = patches
    return out


def _check(exp: dict[str, Any], rows: list[Row]) -> ExpectationResult:
    when = {k: str(v) for k, v in exp.get("when", {}).items()}
    name = exp.get("name") or f"{exp['metric']} {exp['change']} where {when or 'everywhere'}"
    hits = [r for r in rows if r.comparison.metric == exp["metric"] and all(r.where.get(k) == v for k, v in when.items())]
    if not hits:
        return ExpectationResult(name, exp["metric"], when, exp["change"], "not applicable", "no matching cells in this run")
    bad = []
    for r in hits:
        c = r.comparison
        if c.verdict == "not enough data":
            bad.append(f"{_label(r.group)}: not enough data")
        elif exp["change"] == "none" and c.significant:
            bad.append(f"{_label(r.group)}: changed {c.change_pct:+.1f}% (p={c.p_value:.3g})")
        elif exp["change"] in ("decrease", "increase"):
            want_down = exp["change"] == "decrease"
            ok = c.p_value is not None and c.p_value < 0.05 and c.change_pct is not None \
                and (c.change_pct <= -c.min_effect_pct if want_down else c.change_pct >= c.min_effect_pct)
            if not ok:
                shown = "n/a" if c.change_pct is None else f"{c.change_pct:+.1f}%"
                bad.append(f"{_label(r.group)}: {shown} (p={c.p_value if c.p_value is not None else float('nan'):.3g})")
    status = "not met" if bad else "met"
    detail = "; ".join(bad) if bad else f"{len(hits)} matching cell group(s)"
    return ExpectationResult(name, exp["metric"], when, exp["change"], status, detail)
