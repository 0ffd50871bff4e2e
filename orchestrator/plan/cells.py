"""Expand an experiment into cells: kernel x tdp x workload x params x knobs x rep.

The kernel is the innermost loop, so the variants alternate and slow drift
of the host (thermal, page cache, noisy neighbours) hits both alike.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from orchestrator import failpoints
from orchestrator.config.schema import Experiment, Scalar
from orchestrator.errors import UserError

_SAFE = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True)
class Cell:
    kernel: str
    tdp: str
    workload: str
    rep: int
    params: tuple[tuple[str, Scalar], ...] = ()
    knobs: tuple[tuple[str, Scalar], ...] = ()  # the matrix's knobs (tdp is a field of its own)
    index: int = field(default=0, compare=False)  # position in the unfiltered plan

    @property
    def coords(self) -> dict[str, str]:
        """Every coordinate as text, for filters and records."""
        out = {"kernel": self.kernel, "tdp": self.tdp, "workload": self.workload, "rep": str(self.rep)}
        out.update({k: _text(v) for k, v in (*self.params, *self.knobs)})
        return out

    @property
    def group(self) -> tuple[tuple[str, str], ...]:
        """What must match for two cells to be compared: all but kernel and rep."""
        return tuple((k, v) for k, v in self.coords.items() if k not in ("kernel", "rep"))

    @property
    def id(self) -> str:
        """A stable, file-name-safe identifier."""
        parts = [f"r{self.rep:03d}", f"tdp-{self.tdp}", self.workload]
        for k, v in (*self.params, *self.knobs):
            text = _text(v)
            parts.append(f"{k}-{text}" if _SAFE.match(text) else f"{k}-{hashlib.sha256(text.encode()).hexdigest()[:10]}")
        parts.append(self.kernel)
        return ".".join(parts)

    def describe(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.coords.items())


def _text(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class Plan:
    experiment: str
    cells: tuple[Cell, ...]
    total: int  # cells in the whole plan, before filters and sharding
    shard: tuple[int, int] | None = None
    repetitions: int = 0  # planned per group (the config's, or --repeat)

    def __len__(self) -> int:
        return len(self.cells)


def parse_only(items: Sequence[str]) -> dict[str, set[str]]:
    """`--only k=v` items: the same key given twice means either value."""
    out: dict[str, set[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise UserError(f"--only {item!r}: expected KEY=VALUE, e.g. --only tdp=off")
        out.setdefault(key.strip(), set()).add(value.strip())
    return out


def parse_shard(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)/(\d+)", text.strip())
    if not m:
        raise UserError(f"--shard {text!r}: expected I/N, e.g. --shard 1/4")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 1 <= i <= n:
        raise UserError(f"--shard {text!r}: need 1 <= I <= N")
    return i, n


def _combos(table: Mapping[str, Sequence[Scalar]]) -> list[tuple[tuple[str, Scalar], ...]]:
    names = list(table)
    return [tuple(zip(names, combo)) for combo in itertools.product(*(table[n] for n in names))] or [()]


def _expand(exp: Experiment, repetitions: int) -> list[Cell]:
    params, knobs = _combos(exp.matrix.params), _combos(exp.matrix.knobs)
    cells = []
    for rep in range(1, repetitions + 1):
        for tdp in exp.matrix.tdp:
            for workload in exp.matrix.workload:
                for knob in knobs:
                    for param in params:
                        for kernel in exp.kernels:
                            cells.append(Cell(kernel, tdp, workload, rep, param, knob, len(cells)))
    return cells


def _filter(cells: list[Cell], only: Mapping[str, set[str]]) -> list[Cell]:
    if not only:
        return cells
    known: dict[str, set[str]] = {}
    for cell in cells:
        for k, v in cell.coords.items():
            known.setdefault(k, set()).add(v)
    for key, values in only.items():
        if key not in known:
            raise UserError(f"--only {key}=...: unknown key; known: {', '.join(known)}")
        missing = sorted(values - known[key])
        if missing:
            raise UserError(
                f"--only {key}={missing[0]}: no cell has that value; values: {', '.join(sorted(known[key]))}"
            )
    return [c for c in cells if all(c.coords[k] in vs for k, vs in only.items())]


def make_plan(
    exp: Experiment,
    *,
    only: Mapping[str, set[str]] | None = None,
    repeat: int | None = None,
    shard: tuple[int, int] | None = None,
) -> Plan:
    if repeat is not None and repeat < 1:
        raise UserError("--repeat must be at least 1")
    failpoints.stall("plan")
    full = _expand(exp, repeat or exp.repetitions)
    cells = _filter(full, only or {})
    if shard:
        i, n = shard
        cells = [c for pos, c in enumerate(cells) if pos % n == i - 1]
    return Plan(exp.name, tuple(cells), len(full), shard, repeat or exp.repetitions)


def lines(plan: Plan) -> Iterable[str]:
    for cell in plan.cells:
        yield f"{cell.index:4d}  {cell.describe()}"
