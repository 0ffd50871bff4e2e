"""What a metric is, from its name: its better direction, its family, and
whether it measures time (and so, under TCG, emulated time)."""

from __future__ import annotations

from orchestrator.workloads import REGISTRY

HEADLINE = ("kvm.pf_fixed", "kvm.exits", "kvm.pf_taken", "kvm.mmu_cache_miss", "perf.kvm:kvm_exit")
# the sizes a workload's RESULT line reports -> the unit of its per-unit
# metrics: MiB touched (file-mmap, fork-read, anon-touch), execs (exec-storm)
SIZES = {"workload.mib": "mib", "workload.count": "exec"}
PER_UNIT = ("kvm.pf_fixed", "kvm.exits")
TIME_UNITS = ("s", "ms", "us", "ns")


# every metric a workload of the registry reports, by its full name
# (workload.seconds, selftest.demand_paging_test.vcpu_paging_rate)
KNOWN = {name: m for w in REGISTRY.values() for name, m in w.metrics().items()}


def unit_of(metric: str) -> str:
    """The metric's unit where a workload declares it, else ""."""
    known = KNOWN.get(metric)
    return known.unit if known is not None else ""


def labelled(metric: str) -> str:
    """The metric's name with its unit, as the reports show it."""
    unit = unit_of(metric)
    return f"{metric} ({unit})" if unit else metric


def better_of(metric: str) -> str:
    known = KNOWN.get(metric)
    if known is not None:
        return known.better
    if metric.startswith("workload."):
        return "higher" if metric.endswith(("per_s", "per_sec")) else "lower"
    return "lower"  # faults, exits, events and seconds: fewer is better


def is_time(metric: str) -> bool:
    """Seconds, or a rate per second: under TCG every one of them is the
    emulator's time, not the hardware's (see the README, "Timing")."""
    if metric.startswith("time."):
        return True
    known = KNOWN.get(metric)
    if known is not None and (known.unit in TIME_UNITS or "/s" in known.unit):
        return True
    name = metric.split(".", 1)[-1]
    return name.endswith(("seconds", "_s", "per_s", "per_sec", "_ms", "_us", "_ns"))


def family(metric: str) -> str:
    """The metric's family for the A/A false-positive rate: its prefix
    (kvm, kvm_stat, perf, workload, time), with per-unit metrics apart."""
    head = metric.split(".", 1)[0]
    if "_per_" in metric and not is_time(metric):
        return f"{head} per unit"
    return "time" if is_time(metric) and head in ("workload", "selftest") else head


def per_unit(metrics: dict[str, float]) -> dict[str, float]:
    """pf_fixed per MiB and the like, for a workload that reports its size,
    so that workloads of different sizes compare."""
    out = {}
    for size, unit in SIZES.items():
        n = metrics.get(size)
        if isinstance(n, (int, float)) and not isinstance(n, bool) and n > 0:
            out |= {f"{m}_per_{unit}": metrics[m] / n for m in PER_UNIT if isinstance(metrics.get(m), (int, float))}
    return out


def wanted(metric: str, everything: bool) -> bool:
    if everything:
        return True
    return metric in HEADLINE or metric.startswith("l0.") or metric in KNOWN


def is_per_unit(metric: str) -> bool:
    return any(metric.startswith(f"{m}_per_") for m in PER_UNIT)
