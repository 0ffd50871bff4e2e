"""The workload registry: one small module per workload."""

from __future__ import annotations

from orchestrator.workloads import anon_touch, command, exec_storm, file_mmap, fork_read, selftest_perf, stress_ng
from orchestrator.workloads.base import Arg, Metric, Workload, WorkloadOutputError

REGISTRY: dict[str, Workload] = {
    w.name: w
    for w in (
        anon_touch.WORKLOAD,
        fork_read.WORKLOAD,
        exec_storm.WORKLOAD,
        file_mmap.WORKLOAD,
        *stress_ng.WORKLOADS,
        command.WORKLOAD,
        *selftest_perf.WORKLOADS,
    )
}

# Our own C programs, compiled static into the L2 image.
BUILTIN_PROGRAMS = ("anon-touch", "fork-read", "exec-storm", "file-mmap")

__all__ = ["Arg", "Metric", "REGISTRY", "BUILTIN_PROGRAMS", "Workload", "WorkloadOutputError"]
