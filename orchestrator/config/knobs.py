"""Cross-checks of an experiment's knobs (`knobs:` and `matrix.knobs:`):
each name a knob of the registry, each value one it takes, no knob set
both ways, none named like a param or a dimension. Failures name the key."""

from __future__ import annotations

from typing import Any, Protocol

from orchestrator import knobs
from orchestrator.config.schema import Experiment

# `tdp` is spelled `matrix.tdp` in configs, though in code it is a knob
RESERVED = ("kernel", "tdp", "workload", "rep")


class Checker(Protocol):
    def fail(self, loc: tuple[Any, ...], message: str) -> Any: ...


def check_knobs(chk: Checker, exp: Experiment) -> None:
    for name, value in exp.knobs.items():
        _check_one(chk, ("knobs", name), name, [value], exp)
        if name in exp.matrix.knobs:
            chk.fail(("knobs", name), f"{name} is set here and in matrix.knobs: give it in one place")
    for name, values in exp.matrix.knobs.items():
        _check_one(chk, ("matrix", "knobs", name), name, list(values), exp)


def _check_one(chk: Checker, loc: tuple[Any, ...], name: str, values: list[Any], exp: Experiment) -> None:
    if name in RESERVED:
        chk.fail(loc, f"{name!r} is a matrix dimension of its own (matrix.{name}), not a knob")
    if name in exp.matrix.params:
        chk.fail(loc, f"{name!r} is also a param: a coordinate has one name")
    many = len(loc) == 3
    for i, value in enumerate(values):
        bad = knobs.problem(name, value)
        if bad:
            chk.fail((*loc, i) if many and name in knobs.BY_NAME else loc, bad)
