"""The kernel's own KVM perf selftests as measuring workloads in L1.

Each runs in L1 (it creates a VM of its own with L1's KVM: the code a patch
changes), from the selftests built from the tree of the kernel being
measured, copied into L1 before each cell as the gate copies them. What the
test prints becomes metrics `selftest.<test>.<figure>`.

Every figure these tests print is a duration or a rate taken with L1's
clock, so under TCG each one is emulated time: the comparison shows it and
gives it no verdict unless `diff --timing` (compare/metrics.py `is_time`).

The formats are those of Debian's 6.1 and 6.12 trees (6.12 puts a tab after
some colons). 6.1's demand_paging_test prints a rate that divides the
nanoseconds by 1e8 instead of 1e9; its rates here are computed from the
test region it prints and its execution time, in every version alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from orchestrator.workloads.base import Arg, Metric, Workload, WorkloadOutputError

# where the gate and these workloads put a kernel's selftests in L1
L1_DIR = "/var/tmp/orchestrator-selftests"
_SECONDS = r"([0-9]+\.[0-9]+)s"
# kselftest's "skip": the kernel lacks what the test needs; nothing was measured
SKIP = ((4, "skipped (kselftest's exit code 4: this kernel lacks what the test needs; see its output)"),)


def _s(name: str) -> Metric:
    return Metric(name, "s", "lower")


def _seconds(output: str, label: str, required: bool = True) -> float | None:
    """The seconds on the line `label: 1.234567890s` (the last such line)."""
    found = re.findall(rf"^{re.escape(label)}\s*:\s*{_SECONDS}\s*$", output, re.M)
    if not found:
        if required:
            raise WorkloadOutputError(f"no '{label}: ...s' line in the output")
        return None
    return float(found[-1])


def _argv(test: str, extra) -> Any:
    def build(args: Mapping[str, Any]) -> list[str]:
        return [f"{L1_DIR}/{test}", "-b", f"{args['mib']}M", "-v", str(args["vcpus"]), *extra(args)]
    return build


def _common(mib: int) -> tuple[Arg, ...]:
    return (Arg("mib", int, mib, "guest memory per vCPU, MiB (-b)", minimum=1, maximum=65536),
            Arg("vcpus", int, 1, "vCPUs of the test's VM (-v)", minimum=1, maximum=512))


def _selftest(test: str, summary: str, metric: Metric, extra_metrics: tuple[Metric, ...], parse,
              args: tuple[Arg, ...], extra_argv=lambda a: [], parse_args: bool = False) -> Workload:
    return Workload(
        name=test, summary=summary, args=args, metric=metric, timeout_s=600,
        build_argv=_argv(test, extra_argv), parse=parse, namespace=f"selftest.{test}",
        extra_metrics=extra_metrics, level="l1", selftest=test, parse_args=parse_args, exit_meanings=SKIP,
    )


# --- demand_paging_test ------------------------------------------------------

_REGION = re.compile(r"^guest physical test memory: \[0x([0-9a-f]+), 0x([0-9a-f]+)\)", re.M)
_PAGE = re.compile(r"^Testing guest mode: .*?(\d+)K pages", re.M)


def parse_demand_paging(output: str, args: Mapping[str, Any]) -> dict[str, float]:
    """Pages faulted in per second: the test region's pages over the guest's
    execution time (every vCPU touches its share of the region once)."""
    seconds = _seconds(output, "Total guest execution time")
    region, page = _REGION.search(output), _PAGE.search(output)
    if region is None or page is None:
        raise WorkloadOutputError("no 'guest physical test memory' or 'Testing guest mode' line in the output")
    pages = (int(region.group(2), 16) - int(region.group(1), 16)) / (int(page.group(1)) * 1024)
    if not seconds or pages <= 0:
        raise WorkloadOutputError(f"no rate from {pages:g} pages in {seconds}s")
    rate = pages / seconds
    return {"vcpu_paging_rate": rate / int(args["vcpus"]), "paging_rate": rate, "guest_execution_s": seconds,
            "pages": pages}


DEMAND_PAGING = _selftest(
    "demand_paging_test", "KVM selftest in L1: each vCPU touches its memory once; KVM faults every page in",
    Metric("vcpu_paging_rate", "pages/s/vcpu", "higher"),
    (Metric("paging_rate", "pages/s", "higher"), _s("guest_execution_s")),
    parse_demand_paging,
    (*_common(64), Arg("uffd", str, "none", "userfaultfd mode (-u): none, or MISSING (a host thread copies each page in)",
                       choices=("none", "MISSING"))),
    lambda a: [] if a["uffd"] == "none" else ["-u", a["uffd"]],
    parse_args=True,
)


# --- dirty_log_perf_test -----------------------------------------------------

_ITER_DIRTY = re.compile(rf"^Iteration \d+ dirty memory time:\s*{_SECONDS}\s*$", re.M)
_OVER = r"^{} dirty log over \d+ iterations took " + _SECONDS


def parse_dirty_log(output: str) -> dict[str, float]:
    """Populating, then each iteration: vCPUs dirty their memory (write
    protection faults), the log is fetched and cleared."""
    dirty = [float(x) for x in _ITER_DIRTY.findall(output)]
    if not dirty:
        raise WorkloadOutputError("no 'Iteration N dirty memory time' line in the output")
    out = {"dirty_memory_s": sum(dirty), "populate_s": _seconds(output, "Populate memory time"),
           "enable_dirty_logging_s": _seconds(output, "Enabling dirty logging time"),
           "disable_dirty_logging_s": _seconds(output, "Disabling dirty logging time")}
    for what in ("Get", "Clear"):  # Clear only with KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2
        m = re.search(_OVER.format(what), output, re.M)
        if m:
            out[f"{what.lower()}_dirty_log_s"] = float(m.group(1))
    if "get_dirty_log_s" not in out:
        raise WorkloadOutputError("no 'Get dirty log over N iterations' line in the output")
    return out  # type: ignore[return-value]


DIRTY_LOG = _selftest(
    "dirty_log_perf_test", "KVM selftest in L1: vCPUs dirty their memory under dirty logging, N iterations",
    _s("dirty_memory_s"),
    tuple(_s(n) for n in ("populate_s", "enable_dirty_logging_s", "get_dirty_log_s", "clear_dirty_log_s",
                          "disable_dirty_logging_s")),
    parse_dirty_log,
    (*_common(64), Arg("iterations", int, 3, "dirty-log iterations (-i)", minimum=1, maximum=10000)),
    lambda a: ["-i", str(a["iterations"])],
)


# --- kvm_page_table_test -----------------------------------------------------

_STAGES = {"create_mappings_s": "KVM_CREATE_MAPPINGS", "update_mappings_s": "KVM_UPDATE_MAPPINGS",
           "adjust_mappings_s": "KVM_ADJUST_MAPPINGS"}


def parse_page_table(output: str) -> dict[str, float]:
    return {name: _seconds(output, f"{stage}: total execution time") for name, stage in _STAGES.items()}  # type: ignore[misc]


PAGE_TABLE = _selftest(
    "kvm_page_table_test", "KVM selftest in L1: guest page tables created, updated (writes) and adjusted",
    _s("create_mappings_s"), (_s("update_mappings_s"), _s("adjust_mappings_s")),
    parse_page_table, _common(64),
)


# --- access_tracking_perf_test -------------------------------------------------

_ACCESS = {"populate_s": "Populating memory", "write_populated_s": "Writing to populated memory",
           "read_populated_s": "Reading from populated memory", "mark_idle_s": "Mark memory idle",
           "write_idle_s": "Writing to idle memory", "read_idle_s": "Reading from idle memory"}


def parse_access_tracking(output: str) -> dict[str, float]:
    return {name: _seconds(output, label) for name, label in _ACCESS.items()}  # type: ignore[misc]


ACCESS_TRACKING = _selftest(
    "access_tracking_perf_test",
    "KVM selftest in L1: memory marked idle (page_idle: KVM clears accessed bits), then touched again; "
    "needs CONFIG_IDLE_PAGE_TRACKING in L1 (else it skips)",
    _s("mark_idle_s"), tuple(_s(n) for n in _ACCESS if n != "mark_idle_s"),
    parse_access_tracking, _common(64),
)

WORKLOADS = (DEMAND_PAGING, DIRTY_LOG, PAGE_TABLE, ACCESS_TRACKING)
