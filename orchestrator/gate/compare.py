"""Compare the gate's results of two kernels: only new failures count.

For each tdp mode and test: failing on B but not on A (new: these fail the
run), failing on A but not on B (fixed), failing on both (known). A test in
the host profile's expunge file is reported apart with its reason and never
counts. With one kernel only, each of its failures is new.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.config.gate import ExpungeFile, expunge_reason, load_expunge
from orchestrator.gate.plan import FAILING


@dataclass(frozen=True)
class Row:
    tdp: str  # the mode: tdp, then the matrix's L1 knobs if any ("off kvm.tdp_mmu=N")
    test: str
    a: dict[str, Any] | None  # the record of A, None if it has none
    b: dict[str, Any] | None
    expunged: str | None = None  # the reason, if the profile expunges it

    @property
    def status_a(self) -> str:
        return self.a["status"] if self.a else "missing"

    @property
    def status_b(self) -> str:
        return self.b["status"] if self.b else "missing"


@dataclass
class GateReport:
    a: str
    b: str
    profiles: list[str]
    rows: list[Row] = field(default_factory=list)
    expunge_files: list[str] = field(default_factory=list)
    # kernel -> status -> count, and kernel -> seconds its tests took
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def _counted(self) -> list[Row]:
        return [r for r in self.rows if r.expunged is None]

    @property
    def new_failures(self) -> list[Row]:
        """Failing on B, not on A: what fails a run. A must have a result
        (a partial run proves nothing), unless B is alone."""
        return [r for r in self._counted() if r.status_b in FAILING and r.status_a not in FAILING
                and (self.a == self.b or r.a is not None)]

    @property
    def fixed(self) -> list[Row]:
        return [r for r in self._counted() if r.status_a in FAILING and r.status_b not in FAILING and r.b is not None]

    @property
    def both(self) -> list[Row]:
        return [r for r in self._counted() if r.status_a in FAILING and r.status_b in FAILING]

    @property
    def unpaired(self) -> list[Row]:
        """Results on one side only (an interrupted gate, `--only`)."""
        return [r for r in self.rows if self.a != self.b and (r.a is None) != (r.b is None)]

    @property
    def expunged(self) -> list[Row]:
        return [r for r in self.rows if r.expunged is not None]

    @property
    def not_built(self) -> list[Row]:
        return [r for r in self.rows if "not-built" in (r.status_a, r.status_b)]


def expunge_for(project_configs: Path) -> Callable[[str], tuple[ExpungeFile, str | None]]:
    """A profile -> its expunge file (empty if there is none), and the file."""
    def find(profile: str) -> tuple[ExpungeFile, str | None]:
        path = project_configs / "expunge" / f"{profile}.yaml"
        return (load_expunge(path), str(path)) if path.is_file() else (ExpungeFile(), None)
    return find


def compare(records: list[dict[str, Any]], a: str, b: str,
            expunges: Callable[[str], tuple[ExpungeFile, str | None]]) -> GateReport:
    """`records`: gate records of a run; A and B: two of its kernels (the
    same name twice: that kernel alone, each failure counted as new)."""
    by: dict[tuple[str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
    for r in records:
        g = r["gate"]
        if g["kernel"] in (a, b):  # by mode: tdp and the L1 knobs of the matrix
            by[(str(g.get("mode") or g["tdp"]), g["test"])][g["kernel"]] = r
    profiles = sorted({r["profile"] for r in records if isinstance(r.get("profile"), str)})
    report = GateReport(a, b, profiles)
    files = {p: expunges(p) for p in profiles}
    report.expunge_files = [f for _, f in files.values() if f]
    for (mode, test), sides in sorted(by.items()):
        tdp = mode.split(" ", 1)[0]
        reason = next((why for ex, _ in files.values() if (why := expunge_reason(ex, test, tdp))), None)
        side_a = sides.get(a) if a != b else None
        report.rows.append(Row(mode, test, side_a, sides.get(b), reason))
    for kernel in dict.fromkeys((a, b)):
        mine = [r for r in records if r["gate"]["kernel"] == kernel]
        report.counts[kernel] = dict(Counter(r["status"] for r in mine))
        report.seconds[kernel] = round(sum(float(r.get("seconds") or 0) for r in mine), 1)
    return report


def run_reports(records: list[dict[str, Any]], kernels: list[str],
                expunges: Callable[[str], tuple[ExpungeFile, str | None]]) -> list[GateReport]:
    """The reports of a run: its first kernel against each other one (or
    against itself, alone)."""
    if not kernels:
        return []
    a = kernels[0]
    return [compare(records, a, b, expunges) for b in (kernels[1:] or [a])]
