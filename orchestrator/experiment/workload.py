"""A cell's workload, resolved from the experiment: its registry kind, its
arguments (the config's and the matrix's params), its argv and timeout,
and the level it runs in."""

from __future__ import annotations

from typing import Any

from orchestrator.config.schema import Experiment
from orchestrator.plan import Cell
from orchestrator.workloads import REGISTRY as WORKLOADS


def kind_of(exp: Experiment, workload: str) -> str:
    """The registry kind of a workload named in the matrix."""
    wdef = exp.workloads.get(workload)
    return wdef.kind if wdef and wdef.kind else workload


def workload_args(exp: Experiment, cell: Cell) -> tuple[str, dict[str, Any]]:
    """The cell's workload kind and its arguments (the config's, the matrix's params)."""
    wdef = exp.workloads.get(cell.workload)
    kind = kind_of(exp, cell.workload)
    args = dict(wdef.args) if wdef else {}
    args.update({k: v for k, v in cell.params if WORKLOADS[kind].arg(k) is not None})
    return kind, args


def workload_of(exp: Experiment, cell: Cell) -> tuple[str, list[str], float]:
    wdef = exp.workloads.get(cell.workload)
    kind, args = workload_args(exp, cell)
    workload = WORKLOADS[kind]
    timeout = (wdef.timeout_s if wdef and wdef.timeout_s else None) or workload.timeout_s
    return kind, workload.argv(args), timeout


def level_of(exp: Experiment, cell: Cell) -> str:
    """Where the workload runs: the config's `level`, else the workload's own, else L2."""
    wdef = exp.workloads.get(cell.workload)
    return (wdef.level if wdef is not None else None) or WORKLOADS[kind_of(exp, cell.workload)].level or "l2"
