"""stress-ng stressors, bounded by operation count so runs do equal work.

stress-ng prints one metrics line per stressor with --metrics-brief:
  stress-ng: metrc: [123] vm  1000  2.50  2.00  0.40  400.00  416.67
(older releases say "info:" instead of "metrc:"). We read bogo ops/s
over real time, the sixth number on that line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from orchestrator.workloads.base import Arg, Metric, Workload, WorkloadOutputError

OPS = Metric("bogo_ops_per_s", "ops/s", "higher")
_NUM = r"([0-9]+(?:\.[0-9]+)?)"


def _parser(stressor: str):
    rx = re.compile(
        rf"stress-ng: \w+:\s+\[\d+\]\s+{re.escape(stressor)}\s+{_NUM}\s+{_NUM}\s+{_NUM}\s+{_NUM}\s+{_NUM}"
    )

    def parse(output: str) -> dict[str, float]:
        for line in output.splitlines():
            m = rx.search(line)
            if m:
                ops, real, usr, sys_, ops_s = (float(g) for g in m.groups())
                return {OPS.name: ops_s, "bogo_ops": ops, "real_s": real, "usr_s": usr, "sys_s": sys_}
        raise WorkloadOutputError(f"no stress-ng metrics line for the {stressor} stressor")

    return parse


def _stressor(name: str, stressor: str, summary: str, extra: tuple[Arg, ...], extra_argv) -> Workload:
    def build(args: Mapping[str, Any]) -> list[str]:
        return [
            "stress-ng", f"--{stressor}", str(args["workers"]),
            f"--{stressor}-ops", str(args["ops"]),
            *extra_argv(args),
            "--metrics-brief", "--timeout", f"{int(args['max_seconds'])}s",
        ]

    return Workload(
        name=name,
        summary=summary,
        args=(
            Arg("workers", int, 1, "stressor instances", minimum=1),
            Arg("ops", int, 2000, "bogo operations per instance", minimum=1),
            Arg("max_seconds", int, 240, "stress-ng's own time limit", minimum=1),
            *extra,
        ),
        metric=OPS,
        timeout_s=300,
        build_argv=build,
        parse=_parser(stressor),
        needs=("stress-ng",),
    )


VM = _stressor(
    "stress-vm", "vm", "stress-ng --vm: allocate, write and check anonymous memory",
    (Arg("bytes", str, "32M", "--vm-bytes"),),
    lambda a: ["--vm-bytes", str(a["bytes"])],
)
MMAP = _stressor(
    "stress-mmap", "mmap", "stress-ng --mmap: map, touch and unmap memory",
    (Arg("bytes", str, "16M", "--mmap-bytes"),),
    lambda a: ["--mmap-bytes", str(a["bytes"])],
)
FORK = _stressor(
    "stress-fork", "fork", "stress-ng --fork: fork and exit children", (), lambda a: [],
)

WORKLOADS = (VM, MMAP, FORK)
