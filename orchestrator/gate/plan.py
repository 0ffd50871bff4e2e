"""The gate's cells: kernel x tdp x L1's knobs x test, grouped by the L1
they share.

The matrix's kernels, tdp modes and combinations of the knobs that reach
L1 (its command line or sysfs: `kvm.tdp_mmu`, THP; not L2's own), each
with every test of the gate: one L1 boot per group runs all of its tests,
one after the other.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from orchestrator import knobs as knob_registry
from orchestrator.knobs import l1_param, l1_sysfs
from orchestrator.config.gate import tests_of, timeout_of
from orchestrator.config.schema import Experiment, Gate, Scalar

# the statuses (of results/gate.py's STATUSES) that count as failures
FAILING = frozenset({"fail", "timeout", "crash"})
KSFT_SKIP = 4  # the kselftest exit code of a test that cannot run here
_SAFE = re.compile(r"^[A-Za-z0-9._-]+$")
Knobs = tuple[tuple[str, Scalar], ...]
# the kinds of knob that set L1 itself (its command line, its sysfs: what
# its KVM and the selftests' guests run under); L2's own do not matter here
L1_KINDS = (l1_param.KIND, l1_sysfs.KIND)


@dataclass(frozen=True)
class GateCell:
    kernel: str
    tdp: str
    test: str
    args: tuple[str, ...]
    timeout_s: float
    knobs: Knobs = ()  # the matrix's knobs that reach L1, this cell's values

    @property
    def id(self) -> str:
        return ".".join([f"tdp-{self.tdp}", *(word(k, v) for k, v in self.knobs), self.test, self.kernel])

    @property
    def group(self) -> tuple[str, str, Knobs]:
        """The L1 it runs in: (kernel, tdp, knobs)."""
        return (self.kernel, self.tdp, self.knobs)

    @property
    def mode(self) -> str:
        """tdp and the knobs, as the report groups results."""
        return " ".join([self.tdp, *(f"{k}={knob_registry.text(v)}" for k, v in self.knobs)])

    def describe(self) -> str:
        return f"kernel={self.kernel} tdp={self.tdp} {knob_registry.describe(self.knobs)} test={self.test}".replace("  ", " ")


def word(knob: str, value: Scalar) -> str:
    """A knob setting as part of a file name (a hash if it cannot be one)."""
    text = f"{knob}-{knob_registry.text(value)}"
    return text if _SAFE.match(text) else f"{knob}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


def l1_knob_combos(exp: Experiment) -> list[Knobs]:
    """The combinations of the matrix's knobs that reach L1 ([()] if none)."""
    table = {k: v for k, v in exp.matrix.knobs.items() if knob_registry.BY_NAME.get(k) in L1_KINDS}
    return [tuple(zip(table, combo)) for combo in itertools.product(*table.values())] or [()]


def gate_of(exp: Experiment) -> Gate:
    """The experiment's gate, or the default one (for `orchestrator gate`
    on a config that has no `gate:`)."""
    return exp.gate if exp.gate is not None else Gate()


def make_cells(exp: Experiment, only: Mapping[str, set[str]] | None = None) -> list[GateCell]:
    """Every gate cell, kernels innermost (as the matrix) so a partial run
    still has both sides of most tests; `only`: kernel/tdp/test filters."""
    gate = gate_of(exp)
    cells = [
        GateCell(kernel, tdp, name, tuple(test.args), timeout_of(gate, test), combo)
        for tdp in exp.matrix.tdp for combo in l1_knob_combos(exp)
        for name, test in tests_of(gate).items() for kernel in exp.kernels
    ]
    only = only or {}
    return [c for c in cells if all(getattr(c, k) in v for k, v in only.items())]


def groups(cells: Iterable[GateCell]) -> dict[tuple[str, str, Knobs], list[GateCell]]:
    """The cells by the L1 they share, in the order of their first cell."""
    out: dict[tuple[str, str, Knobs], list[GateCell]] = {}
    for c in cells:
        out.setdefault(c.group, []).append(c)
    return out


def status_of(exit_code: int, timed_out: bool) -> str:
    if timed_out:
        return "timeout"
    if exit_code == 0:
        return "pass"
    return "skip" if exit_code == KSFT_SKIP else "fail"
