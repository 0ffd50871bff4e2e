"""The collector registry: names and what each gathers in L1.

Collectors snapshot before and after the workload while L2 is alive (KVM's
debugfs sums vanish when L2's QEMU exits). Their implementations land with
the experiments layer; the names are known here so configs validate now.
"""

from __future__ import annotations

KNOWN: dict[str, str] = {
    "kvm-debugfs": "KVM debugfs counters of L2's VM (/sys/kernel/debug/kvm/<pid>-<fd>/), delta",
    "kvm-stat": "the kernel's kvm_stat in batch mode, before and after",
    "perf-stat": "perf stat on the kvm: tracepoints of L2's QEMU",
    "perf-kvm-stat": "perf kvm stat record/report: exit reasons",
    "timings": "phase timings: L1 boot, L2 boot, workload, collection, teardown",
}

# Metric namespaces an expectation may name: <namespace>.<metric>.
NAMESPACES = ("kvm", "kvm_stat", "perf", "workload", "time")
