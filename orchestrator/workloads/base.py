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
    parse: Callable[[str], dict[str, float]]
    needs: tuple[str, ...] = field(default=())  # programs that must exist in L2

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
