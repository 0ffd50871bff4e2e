"""Match the cells of two sides and compare every metric, then check the
config's expectations.

Sides are kernel variants within one run (cells matched by everything but
the kernel: tdp, workload, params), or two runs (by id or label; cells
matched by everything including the kernel). A/A is a side against itself
(its repetitions split in two halves) or two variants built from the same
kernel key (the nightly's twin): any *different* row is a false positive,
and A/B expectations are never checked there.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

from orchestrator import failpoints
from orchestrator.compare import coverage, provenance
from orchestrator.compare.provenance import RunInfo
from orchestrator.compare.expect import ExpectationResult, check, coordinate, label, matches
from orchestrator.compare.metrics import HEADLINE, better_of, family, is_per_unit, is_time, per_unit, wanted
from orchestrator.compare.stats import DEFAULT_MIN_EFFECT_PCT, MIN_SAMPLES, Comparison, adjust, compare
from orchestrator.compare.sides import Sides, resolve
from orchestrator.results.models import Record
from orchestrator.results.store import Store

Group = tuple[tuple[str, str], ...]
_label = label  # the renderers' name for it


@dataclass(frozen=True)
class Row:
    group: Group
    comparison: Comparison
    a: tuple[float, ...] = ()
    b: tuple[float, ...] = ()
    exercised: bool | None = None  # did the kernels' changed code run here (a coverage pass); None: unknown

    @property
    def where(self) -> dict[str, str]:
        return dict(self.group)


@dataclass(frozen=True)
class FailedCell:
    """A failed cell as a report lists it, with where its logs are."""
    run_id: str
    cell_id: str
    failure: str  # class and level, then the message
    logs: Path  # the cell's log folder (it may not exist: nothing was logged)
    run_folder: Path


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
    provenance: list[str] = field(default_factory=list)  # the lines every report opens with
    runs: list[RunInfo] = field(default_factory=list)  # the same, structured (the HTML's)
    failed: list[FailedCell] = field(default_factory=list)  # failed_cells with their runs and logs
    differences: list[str] = field(default_factory=list)  # two runs: where their provenance differs
    emulated: bool = False  # time metrics are TCG's emulated time
    timing: bool = False  # --timing: give time metrics verdicts anyway
    aa_needs: int | None = None  # A/A: repetitions a group needs; set when this run has fewer
    coverage: dict | None = None  # the coverage pass (coverage.json) the rows' `exercised` comes from

    @property
    def coverage_run(self) -> str | None:
        return self.coverage["run"] if self.coverage else None

    @property
    def regressions(self) -> list[Row]:
        return [r for r in self.rows if r.comparison.verdict == "regression"]

    @property
    def unmet(self) -> list[ExpectationResult]:
        """Expectations not met, undecided ones included: undecided is never met."""
        return [e for e in self.expectations if e.status in ("not met", "undecided")]

    def false_positive_rate(self) -> dict[str, tuple[int, int]]:
        """A/A: per metric family, (rows found different, rows decided or
        undecided but tested): every different row is a false positive."""
        per: dict[str, list[bool]] = defaultdict(list)
        for r in self.rows:
            c = r.comparison
            if c.p_value is not None and c.verdict != "not tested":
                per[family(c.metric)].append(c.significant)
        return {k: (sum(v), len(v)) for k, v in sorted(per.items())}


def group_of(record: Record, keep_kernel: bool = True) -> Group:
    return tuple(sorted((k, str(v)) for k, v in record.cell.coords().items() if keep_kernel or k != "kernel"))


def _collect(records: list[Record], keep_kernel: bool) -> dict[Group, dict[str, list[float]]]:
    """Each group's samples per metric: one per L1 boot (record.unit), the
    mean of that boot's repetitions. Restores of one saved L1 share its
    boot, so they are one sample, not several (docs/statistics.md)."""
    units: dict[Group, dict[str, dict[str, list[float]]]] = defaultdict(lambda: defaultdict(dict))
    for r in records:
        if not r.ok:
            continue
        group = group_of(r, keep_kernel)
        for metric, value in {**r.metrics, **per_unit(r.metrics)}.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                units[group][metric].setdefault(r.unit, []).append(float(value))
    return {g: {m: [unit_mean(v) for v in per.values()] for m, per in metrics.items()}
            for g, metrics in units.items()}


def unit_mean(values: list[float]) -> float:
    """One boot's sample: the geometric mean of its repetitions, on the
    log scale the tests use, or the plain mean where a value is not positive."""
    if len(values) == 1:
        return values[0]
    if all(v > 0 for v in values):
        return math.exp(sum(math.log(v) for v in values) / len(values))
    return sum(values) / len(values)


def _units_in_order(records: list[Record]) -> dict[Group, list[str]]:
    """Each group's boots, in the order of their first repetition."""
    first: dict[Group, dict[str, int]] = defaultdict(dict)
    for r in sorted((r for r in records if r.ok), key=lambda r: int(r.cell.rep)):
        first[group_of(r)].setdefault(r.unit, int(r.cell.rep))
    return {g: list(units) for g, units in first.items()}


def _split_halves(records: list[Record]) -> tuple[list[Record], list[Record]]:
    """A/A of one side: its boots alternately in two halves (with one boot
    a repetition, odd repetitions against even ones). Split by boot, not
    by repetition, so no boot is on both sides."""
    order = _units_in_order(records)
    odd = {(g, u) for g, units in order.items() for u in units[0::2]}
    a = [r for r in records if (group_of(r), r.unit) in odd]
    b = [r for r in records if r.ok and (group_of(r), r.unit) not in odd]
    return a, b


def _aa_needs(records: list[Record]) -> int | None:
    """Boots (repetitions, at one boot each) each group needs for halves of
    MIN_SAMPLES samples, or None when every group has them."""
    fewest = min((len(units) for units in _units_in_order(records).values()), default=0)
    return 2 * MIN_SAMPLES if fewest < 2 * MIN_SAMPLES else None


def make_report(results: Path, a: str, b: str, run_ref: str | None = None, everything: bool = False,
                timing: bool = False) -> Report:
    sides = resolve(Store(results), a, b, run_ref)
    failpoints.stall("diff")
    rec_a, rec_b = sides.records
    report = Report(a, b, sides.mode, [r.id for r in sides.runs], timing=timing)
    report.failed_cells = sorted({r.cell.id for r in rec_a + rec_b if not r.ok})
    report.failed = _failed(sides)
    _describe(report, sides)
    if sides.mode == "a/a" and sides.same_side:
        report.aa_needs = _aa_needs(rec_a)
        if report.aa_needs is not None:
            return report
        rec_a, rec_b = _split_halves(rec_a)
    keep_kernel = sides.mode != "variants" and not (sides.mode == "a/a" and not sides.same_side)
    sa, sb = _collect(rec_a, keep_kernel), _collect(rec_b, keep_kernel)
    expectations = sides.manifests[0].resolved_config.expectations
    for group in sorted(set(sa) | set(sb)):
        for metric in sorted(set(sa.get(group, {})) | set(sb.get(group, {}))):
            # per-unit rows say something new only where sizes may differ: between runs
            if wanted(metric, everything) or (is_per_unit(metric) and sides.mode == "runs"):
                xa, xb = sa.get(group, {}).get(metric, []), sb.get(group, {}).get(metric, [])
                c = compare(metric, xa, xb, better_of(metric), min_effect(expectations, metric, group, xa))
                report.rows.append(Row(group, _untimed(c) if report.emulated and not timing and is_time(metric) else c,
                                       tuple(xa), tuple(xb)))
    adjusted = adjust([row.comparison for row in report.rows])
    report.rows = [replace(row, comparison=c) for row, c in zip(report.rows, adjusted)]
    if sides.mode == "variants":
        coverage.attach(report, results, sides.runs[0], list(dict.fromkeys((a, b))))
    report.expectations = [check(e, report.rows) for e in expectations] if sides.mode == "variants" else []
    return report


def _failed(sides: Sides) -> list[FailedCell]:
    """Each failed cell once, with its run (the side's run; a/a and
    variants read one run) and its log folder."""
    runs = sides.runs if len(sides.runs) == 2 else sides.runs * 2
    seen: dict[tuple[str, str], FailedCell] = {}
    for run, records in zip(runs, sides.records):
        for r in records:
            if not r.ok and (run.id, r.cell.id) not in seen:
                f = r.failure or {}
                what = " ".join(str(x) for x in (f.get("class"), f.get("level")) if x) or r.status
                message = str(f.get("message") or "").strip()
                seen[run.id, r.cell.id] = FailedCell(run.id, r.cell.id, what + (f": {message}" if message else ""),
                                                     run.folder / "logs" / r.cell.id, run.folder)
    return sorted(seen.values(), key=lambda c: (c.cell_id, c.run_id))


def _untimed(c: Comparison) -> Comparison:
    """A time metric under TCG: shown, with no verdict (see the README)."""
    return replace(c, verdict="not tested", why="emulated time (TCG): no verdict without --timing")


def _describe(report: Report, sides: Sides) -> None:
    infos = [provenance.of(run.id, m) for run, m in zip(sides.runs, sides.manifests)]
    variants = None if sides.mode == "runs" else [report.a, report.b]
    report.runs = infos
    report.provenance = [line for info in infos for line in provenance.header(info, variants)]
    report.emulated = any(info.emulated for info in infos)
    if len(infos) == 2 and sides.runs[0].folder != sides.runs[1].folder:
        report.differences = provenance.differences(*sides.manifests)
    report.patches = sides.patches()


def min_effect(expectations, metric: str, group: Group, xa: list[float]) -> float:
    """The minimum effect of a row, in %: that of the first expectation
    about this metric whose `when` holds for the row's cells (else the
    default), raised to its `min_effect_abs` where A's median is so small
    that a few counts are a large share (pf_fixed ~15 with NPT: 5% is under
    one fault)."""
    where = dict(group)
    for e in expectations:
        if e.metric == metric and all(where.get(k) == coordinate(v) for k, v in e.when.items()):
            floor = getattr(e, "min_effect_abs", 0.0) or 0.0
            median = sorted(xa)[len(xa) // 2] if xa else 0.0
            return max(e.min_effect_pct, 100.0 * floor / abs(median) if floor and median else 0.0)
    return DEFAULT_MIN_EFFECT_PCT


def undecided_groups(run_folder: Path, variants: list[str]) -> set[Group]:
    """The cell groups `run --until-decided` samples more of: where an
    expectation's row is undecided, or, without expectations, a headline
    row (time under TCG has no verdict, so it never asks for more). Each
    variant is compared with the first; A/A pairs are not A/B, and ask for
    nothing."""
    out: set[Group] = set()
    for b in variants[1:]:
        report = make_report(run_folder.parent, variants[0], b, run_ref=str(run_folder))
        if report.mode != "variants":
            continue
        rows = [r for r in report.rows if r.comparison.outcome == "undecided"]
        if report.expectations:
            out |= {r.group for r in rows if any(matches(e, r) for e in report.expectations)}
        else:
            out |= {r.group for r in rows if r.comparison.metric in HEADLINE}
    return out
