"""A user-defined command: argv from the config, run as-is in L2.

The metric is the command's wall time measured in L2, unless it prints a
`RESULT {json}` line of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.workloads.base import (
    Arg, Metric, Workload, WorkloadOutputError, parse_result_line, result_metric,
)

SECONDS = Metric("seconds", "s", "lower")
_TIMER_PREFIX = "ORCH-ELAPSED "


def _build(args: Mapping[str, Any]) -> list[str]:
    # The wrapper is a fixed script; the user's argv follows as "$@", so
    # nothing from the config is ever parsed by a shell.
    script = (
        's=$(date +%s.%N); "$@"; rc=$?; e=$(date +%s.%N); '
        f'echo "{_TIMER_PREFIX}$s $e"; exit $rc'
    )
    return ["sh", "-c", script, "orch-command", *args["argv"]]


def _parse(output: str) -> dict[str, float]:
    try:
        parse_result_line(output)
        return result_metric(SECONDS)(output)
    except WorkloadOutputError:
        pass
    for line in reversed(output.splitlines()):
        if line.startswith(_TIMER_PREFIX):
            start, end = (float(x) for x in line[len(_TIMER_PREFIX):].split())
            return {SECONDS.name: end - start}
    raise WorkloadOutputError("no timing line in the command's output")


WORKLOAD = Workload(
    name="command",
    summary="a command of your own, given as argv in the config",
    args=(Arg("argv", tuple, None, "the command and its arguments"),),
    metric=SECONDS,
    timeout_s=600,
    build_argv=_build,
    parse=_parse,
)
