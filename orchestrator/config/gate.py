"""The gate's default tests and the expunge files, validated on load.

The default set covers KVM's MMU (memory slots, demand paging, dirty
logging, page tables, accessed bits, nested paging) with arguments small
enough to finish in L1 under TCG; what each one drives is said beside it.

An expunge file lists the tests known to fail on a host profile (e.g.
TCG/SVM: hardware that TCG does not emulate), each with its reason: they are
reported, never counted as failures.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from pydantic import Field

from orchestrator.config.guard import last_resort
from orchestrator.config.load import validate
from orchestrator.config.marked import load_with_extends
from orchestrator.config.schema import Gate, GateTest, Model, OnOff, TestName
from orchestrator.errors import ConfigError
from orchestrator.paths import display

# 256 MiB per vCPU, not the suites' 1 GiB: TCG touches every page in software
MEM = ("-b", "256M")

# Measured in L1 under TCG (6.1, 1 vCPU): each ends within a minute with
# tdp off, the slow mode. Not here: memslot_perf_test (starves L1's only
# vCPU until its SSH drops), max_guest_memory_test (needs 2 vCPUs in L1).
DEFAULT_TESTS: Mapping[str, GateTest] = MappingProxyType({
    # slots added, moved and deleted under a running vCPU: the zap of a gone slot
    "set_memory_region_test": GateTest(timeout_s=600),
    # every page of guest memory faulted in through userfaultfd: the fault path
    "demand_paging_test": GateTest(args=MEM, timeout_s=600),
    # write protection and dirty logging over the MMU
    "dirty_log_perf_test": GateTest(args=("-b", "128M", "-i", "2"), timeout_s=600),
    # page tables built, updated and adjusted across memory stages
    "kvm_page_table_test": GateTest(args=MEM, timeout_s=600),
    # memslots modified while vCPUs fault: the invalidation path
    "memslot_modification_stress_test": GateTest(args=(*MEM, "-i", "100"), timeout_s=600),
    # accessed bits (what prefetch keys on) through idle page tracking
    "access_tracking_perf_test": GateTest(args=MEM, timeout_s=600),
    # KVM's binary statistics, the counters this tool reads
    "kvm_binary_stats_test": GateTest(timeout_s=300),
    # SMM and vCPU state save/restore, nested state included
    "smm_test": GateTest(timeout_s=300),
    "state_test": GateTest(timeout_s=300),
    # nested SVM in L1's KVM: its nested page tables (NPT over NPT)
    "svm_vmcall_test": GateTest(timeout_s=300),
    "svm_int_ctl_test": GateTest(timeout_s=300),
    "svm_nested_shutdown_test": GateTest(timeout_s=300),
    "svm_nested_soft_inject_test": GateTest(timeout_s=300),
    "nested_exceptions_test": GateTest(timeout_s=300),
    "triple_fault_event_test": GateTest(timeout_s=300),
})


def tests_of(gate: Gate) -> Mapping[str, GateTest]:
    """The tests a gate runs: its own, or the default set."""
    return gate.tests if gate.tests is not None else DEFAULT_TESTS


def timeout_of(gate: Gate, test: GateTest) -> float:
    return test.timeout_s if test.timeout_s is not None else gate.timeout_s


class Expunged(Model):
    test: TestName
    reason: str = Field(min_length=1, max_length=2000)
    tdp: OnOff | None = None  # None: in both modes


class ExpungeFile(Model):
    description: str = ""
    expunged: tuple[Expunged, ...] = ()


def load_expunge(path: Path) -> ExpungeFile:
    """An expunge file, every problem named by file, line and key."""
    name = display(path)
    if not path.is_file():
        raise ConfigError(name, None, "", "file not found")
    with last_resort(name):
        doc = load_with_extends(path)
        loaded = validate(ExpungeFile, doc, name)
    seen: set[tuple[str, str | None]] = set()
    for i, e in enumerate(loaded.expunged):
        if (e.test, e.tdp) in seen:
            raise ConfigError(name, None, f"expunged[{i}]", f"{e.test} (tdp {e.tdp or 'any'}) is listed twice")
        seen.add((e.test, e.tdp))
    return loaded


def expunge_reason(expunge: ExpungeFile, test: str, tdp: str) -> str | None:
    for e in expunge.expunged:
        if e.test == test and e.tdp in (None, tdp):
            return e.reason
    return None
