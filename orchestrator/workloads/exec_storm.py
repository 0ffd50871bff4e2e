"""fork and exec the same static binary N times: fresh page tables each time."""

from orchestrator.workloads.base import Arg, Metric, Workload, flag_argv, result_metric

SECONDS = Metric("seconds", "s", "lower")

WORKLOAD = Workload(
    name="exec-storm",
    summary="fork and exec the same static binary N times",
    args=(Arg("count", int, 300, "number of fork+exec", minimum=1),),
    metric=SECONDS,
    timeout_s=600,
    build_argv=flag_argv("exec-storm", ["count"]),
    parse=result_metric(SECONDS),
)
