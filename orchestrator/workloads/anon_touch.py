"""First touch of N MiB of anonymous memory: one fault per page."""

from orchestrator.workloads.base import Arg, Metric, Workload, flag_argv, result_metric

SECONDS = Metric("seconds", "s", "lower")

WORKLOAD = Workload(
    name="anon-touch",
    summary="write one byte to every page of N MiB of fresh anonymous memory",
    args=(Arg("mib", int, 64, "MiB to touch", minimum=1),),
    metric=SECONDS,
    timeout_s=300,
    build_argv=flag_argv("anon-touch", ["mib"]),
    parse=result_metric(SECONDS),
)
