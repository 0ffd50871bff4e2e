"""The feasibility workload: touch N MiB, then C forked children read it all.

fork clears the accessed bit in the children's PTEs, which prefetch skips,
so this is the workload where prefetch should help least.
"""

from orchestrator.workloads.base import Arg, Metric, Workload, flag_argv, result_metric

SECONDS = Metric("seconds", "s", "lower")

WORKLOAD = Workload(
    name="fork-read",
    summary="touch N MiB, then fork C children that each read every page",
    args=(
        Arg("mib", int, 32, "MiB to touch", minimum=1),
        Arg("children", int, 8, "children forked one after another", minimum=1),
    ),
    metric=SECONDS,
    timeout_s=300,
    build_argv=flag_argv("fork-read", ["mib", "children"]),
    parse=result_metric(SECONDS),
)
