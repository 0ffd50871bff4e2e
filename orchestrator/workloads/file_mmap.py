"""Map a page-cache file and read every page, R rounds.

The guest's fault-around maps up to 16 neighbouring file pages as young,
which is exactly what pte prefetch can use.
"""

from orchestrator.workloads.base import Arg, Metric, Workload, flag_argv, result_metric

SECONDS = Metric("seconds", "s", "lower")

WORKLOAD = Workload(
    name="file-mmap",
    summary="mmap a tmpfs file of N MiB and read every page, R rounds",
    args=(
        Arg("mib", int, 32, "file size in MiB", minimum=1),
        Arg("rounds", int, 4, "map, read everything, unmap: this many times", minimum=1),
        Arg("dir", str, "/dev/shm", "folder for the file (tmpfs: page cache only)"),
    ),
    metric=SECONDS,
    timeout_s=300,
    build_argv=flag_argv("file-mmap", ["mib", "rounds", "dir"]),
    parse=result_metric(SECONDS),
)
