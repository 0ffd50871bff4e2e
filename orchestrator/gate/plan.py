"""The gate's cells: kernel x tdp x test, grouped by the L1 they share.

The matrix's kernels and tdp modes, each with every test of the gate (one
L1 boot per kernel and tdp runs all of its tests, one after the other).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from orchestrator.config.gate import tests_of, timeout_of
from orchestrator.config.schema import Experiment, Gate

# the statuses (of results/gate.py's STATUSES) that count as failures
FAILING = frozenset({"fail", "timeout", "crash"})
KSFT_SKIP = 4  # the kselftest exit code of a test that cannot run here


@dataclass(frozen=True)
class GateCell:
    kernel: str
    tdp: str
    test: str
    args: tuple[str, ...]
    timeout_s: float

    @property
    def id(self) -> str:
        return f"tdp-{self.tdp}.{self.test}.{self.kernel}"

    @property
    def group(self) -> tuple[str, str]:
        """The L1 it runs in: (kernel, tdp)."""
        return (self.kernel, self.tdp)

    def describe(self) -> str:
        return f"kernel={self.kernel} tdp={self.tdp} test={self.test}"


def gate_of(exp: Experiment) -> Gate:
    """The experiment's gate, or the default one (for `orchestrator gate`
    on a config that has no `gate:`)."""
    return exp.gate if exp.gate is not None else Gate()


def make_cells(exp: Experiment, only: Mapping[str, set[str]] | None = None) -> list[GateCell]:
    """Every gate cell, kernels innermost (as the matrix) so a partial run
    still has both sides of most tests; `only`: kernel/tdp/test filters."""
    gate = gate_of(exp)
    cells = [
        GateCell(kernel, tdp, name, tuple(test.args), timeout_of(gate, test))
        for tdp in exp.matrix.tdp for name, test in tests_of(gate).items() for kernel in exp.kernels
    ]
    only = only or {}
    return [c for c in cells if all(getattr(c, k) in v for k, v in only.items())]


def groups(cells: Iterable[GateCell]) -> dict[tuple[str, str], list[GateCell]]:
    """The cells by the L1 they share, in the order of their first cell."""
    out: dict[tuple[str, str], list[GateCell]] = {}
    for c in cells:
        out.setdefault(c.group, []).append(c)
    return out


def status_of(exit_code: int, timed_out: bool) -> str:
    if timed_out:
        return "timeout"
    if exit_code == 0:
        return "pass"
    return "skip" if exit_code == KSFT_SKIP else "fail"
