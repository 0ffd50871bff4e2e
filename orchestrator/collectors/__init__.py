"""The collector registry: one small module per collector.

Collectors run in L1 and snapshot before and after the workload while L2 is
alive (KVM's debugfs sums vanish when L2's QEMU exits). `timings` is not a
module: the cell runner times its own phases and stores them as time.*.
"""

from __future__ import annotations

from orchestrator.collectors import gcov, kvm_debugfs, kvm_stat, perf_kvm_stat, perf_stat

KNOWN: dict[str, str] = {
    "kvm-debugfs": "KVM debugfs counters of L2's VM (/sys/kernel/debug/kvm/<pid>-<fd>/), delta",
    "kvm-stat": "the kernel's kvm_stat in logging mode for L2's QEMU during the workload",
    "perf-stat": "perf stat on the kvm: tracepoints of L2's QEMU",
    "perf-kvm-stat": "perf kvm stat report (vmexit) over a recording of perf kvm stat record's events: exit reasons",
    "gcov": "gcov line counts of a coverage kernel's instrumented objects during the workload (orchestrator coverage)",
    "timings": "phase timings: L1 boot, L2 boot, workload, collection, teardown",
}

REGISTRY = {
    "kvm-debugfs": kvm_debugfs.KvmDebugfs,
    "kvm-stat": kvm_stat.KvmStat,
    "perf-stat": perf_stat.PerfStat,
    "perf-kvm-stat": perf_kvm_stat.PerfKvmStat,
    "gcov": gcov.Gcov,
}

# Metric namespaces an expectation may name: <namespace>.<metric>.
# (selftest: the kernel's perf selftests run as workloads, selftest.<test>.<figure>)
NAMESPACES = ("kvm", "kvm_stat", "perf", "workload", "time", "selftest")
