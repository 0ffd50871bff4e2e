"""Real gcov counters from L1: the patched kernel's coverage kernel boots,
L2 runs a workload under shadow paging, and the gcov collector's data,
read with the entry's notes, shows FNAME(pte_prefetch)'s changed lines
running; reset really zeroes them."""

from __future__ import annotations

import pytest

from orchestrator.build.coverage import build_coverage
from orchestrator.collectors.base import Context
from orchestrator.collectors.gcov import OUT, Gcov
from orchestrator.config.schema import L1Machine, L2Machine
from orchestrator.coverage import tally
from orchestrator.machine import ssh
from orchestrator.machine.boot import L1Artifacts
from orchestrator.machine.host import choose_accel
from orchestrator.machine.profile import checked_profile
from orchestrator.nested.pair import boot_pair, pair_spec
from orchestrator.paths import Project
from orchestrator.workloads import REGISTRY

from .conftest import REPO

PREFETCH = "arch/x86/kvm/mmu/paging_tmpl.h:FNAME(pte_prefetch)"


@pytest.fixture(scope="module")
def coverage_kernels():
    return build_coverage(Project(REPO), {"baseline": "baseline", "patched": "patched"})


def _workload(l2, mib: int) -> None:
    w = REGISTRY["anon-touch"]
    r = l2.run(w.argv({"mib": mib}), timeout=600)
    assert r.exit_code == 0, r.stderr


def test_gcov_counts_of_the_patched_code_in_l1(built, coverage_kernels, no_qemu_left):
    folder = no_qemu_left
    kernel = coverage_kernels["patched"]
    accel = choose_accel("auto")
    art = L1Artifacts(kernel.bzimage, built.l1.rootfs, built.payload.disk)
    spec = pair_spec(art, L1Machine(), L2Machine(), (("tdp", "off"),), accel, checked_profile(accel),
                     ssh.generate_keys(folder / "keys"))
    changed = tally.changed_lines({k: v.path for k, v in coverage_kernels.items()},
                                  tally.targets_files(kernel.path))["patched"]
    with boot_pair(spec, folder / "l1", {}) as (l1, l2):
        ctx = Context(l1, l2.pid, folder)
        gcov = Gcov()
        gcov.start(ctx)  # reset
        quiet = gcov.stop(ctx)  # nothing ran in L2 in between: (almost) nothing counted
        idle = tally.tally(kernel.path, changed, tally.counts(kernel.path, folder / OUT))
        gcov.start(ctx)
        _workload(l2, 16)
        busy = gcov.stop(ctx)
        ran = tally.tally(kernel.path, changed, tally.counts(kernel.path, folder / OUT))
    assert quiet.notes["gcov_files"] >= 1 and busy.files == [OUT]
    prefetch = ran["functions"][PREFETCH]
    # 16 MiB first-touched under shadow paging: thousands of faults, each prefetching
    assert prefetch["ran"] > 0 and prefetch["max_count"] > 1000, prefetch
    assert ran["executions"] > 10 * max(idle["executions"], 1), (idle["executions"], ran["executions"])
