"""What a workload is: its arguments, how it runs in L2, how its metric is read.

One small module per workload registers an instance of `Workload`; the
config loader validates arguments against `args` before anything boots.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

RESULT_PREFIX = "RESULT "


class WorkloadOutputError(ValueError):
    """The workload ran but its output has no usable metric."""


@dataclass(frozen=True)
class Arg:
    name: str
    type: type
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] | None = None  # the only values allowed

    def check(self, value: Any) -> str | None:
        """None if `value` fits, else what is wrong with it."""
        if self.type is tuple:
            if not isinstance(value, tuple) or not value or not all(isinstance(v, str) for v in value):
                return "must be a non-empty list of strings"
            return None
        ok = isinstance(value, self.type) and not isinstance(value, bool)
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            return f"must be {self.type.__name__}, got {type(value).__name__}"
        if self.minimum is not None and value < self.minimum:
            return f"must be >= {self.minimum}"
        if self.maximum is not None and value > self.maximum:
            return f"must be <= {self.maximum}"
        if self.choices is not None and value not in self.choices:
            return f"must be one of {', '.join(map(repr, self.choices))}, got {value!r}"
        return None


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    better: Literal["lower", "higher"]


@dataclass(frozen=True)
class Workload:
    name: str
    summary: str
    args: tuple[Arg, ...]
    metric: Metric
    timeout_s: float
    build_argv: Callable[[Mapping[str, Any]], list[str]]
    parse: Callable[..., dict[str, float]]  # (output) or, with parse_args, (output, args)
    needs: tuple[str, ...] = field(default=())  # programs that must exist in L2
    # its metrics are <namespace>.<name>: workload.seconds, selftest.demand_paging_test.paging_rate
    namespace: str = "workload"
    extra_metrics: tuple[Metric, ...] = ()  # what its output reports beside `metric`
    level: Literal["l1", "l2"] | None = None  # where it must run; None: as the config says (L2 by default)
    selftest: str | None = None  # the kernel's own selftest program it runs, copied into L1 per cell
    parse_args: bool = False  # `parse(output, args)`: its figures need the arguments it ran with
    exit_meanings: tuple[tuple[int, str], ...] = ()  # what a non-zero exit code of its own says

    def exited(self, code: int) -> str:
        """Why the cell failed, for a non-zero exit code."""
        meaning = dict(self.exit_meanings).get(code)
        return f"{self.name} exited {code}" + (f": {meaning}" if meaning else "")

    def arg(self, name: str) -> Arg | None:
        return next((a for a in self.args if a.name == name), None)

    def resolve(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults filled in; assumes `given` was validated."""
        out = {a.name: a.default for a in self.args}
        out.update(given)
        missing = [k for k, v in out.items() if v is None]
        if missing:
            raise ValueError(f"workload {self.name}: missing argument(s) {', '.join(missing)}")
        return out

    def argv(self, given: Mapping[str, Any]) -> list[str]:
        return self.build_argv(self.resolve(given))

    def read(self, output: str, given: Mapping[str, Any]) -> dict[str, float]:
        """Its figures from its output (raises WorkloadOutputError)."""
        return self.parse(output, self.resolve(given)) if self.parse_args else self.parse(output)  # type: ignore[call-arg]

    def metrics(self) -> dict[str, Metric]:
        """Every metric it reports, by its full name, with unit and better direction."""
        return {f"{self.namespace}.{m.name}": m for m in (self.metric, *self.extra_metrics)}


def flag_argv(program: str, names: Sequence[str]) -> Callable[[Mapping[str, Any]], list[str]]:
    """argv as `program --name value ...` for our own C workloads."""

    def build(args: Mapping[str, Any]) -> list[str]:
        argv = [program]
        for name in names:
            argv += [f"--{name.replace('_', '-')}", str(args[name])]
        return argv

    return build


def parse_result_line(output: str) -> dict[str, Any]:
    """The last `RESULT {json}` line our workload programs print."""
    for line in reversed(output.splitlines()):
        if line.startswith(RESULT_PREFIX):
            try:
                data = json.loads(line[len(RESULT_PREFIX):])
            except json.JSONDecodeError as exc:
                raise WorkloadOutputError(f"malformed RESULT line: {exc}") from None
            if not isinstance(data, dict) or not isinstance(data.get("value"), (int, float)):
                raise WorkloadOutputError("RESULT line has no numeric 'value'")
            return data
    raise WorkloadOutputError("no RESULT line in the output")


def result_metric(metric: Metric) -> Callable[[str], dict[str, float]]:
    def parse(output: str) -> dict[str, float]:
        data = parse_result_line(output)
        out = {metric.name: float(data["value"])}
        for key, value in data.items():
            if key != "value" and isinstance(value, (int, float)) and not isinstance(value, bool):
                out.setdefault(key, float(value))
        return out

    return parse
