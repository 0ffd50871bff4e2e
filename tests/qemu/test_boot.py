"""L1 boots from the built image with the baseline kernel; EPT/NPT is in
force as asked; L2 starts inside it under KVM (both through the one path
to a pair, nested/pair.py); everything is torn down."""

from __future__ import annotations

import contextlib

import pytest

from orchestrator.config.schema import L1Machine, L2Machine
from orchestrator.machine import ssh
from orchestrator.machine.boot import L1Artifacts
from orchestrator.machine.host import choose_accel
from orchestrator.machine.profile import checked_profile
from orchestrator.nested.pair import boot_pair, pair_spec, start_l1, start_l2
from orchestrator.workloads import REGISTRY

from .conftest import qemu_processes_mentioning


def _pair(built, keys, tdp):
    accel = choose_accel("auto")
    art = L1Artifacts(built.baseline.bzimage, built.l1.rootfs, built.payload.disk)
    return pair_spec(art, L1Machine(), L2Machine(), (("tdp", tdp),), accel, checked_profile(accel), keys)


@pytest.mark.parametrize("tdp, want", [("off", "N"), ("on", "Y")])
def test_l1_tdp_in_force(built, no_qemu_left, tdp, want):
    folder = no_qemu_left
    keys = ssh.generate_keys(folder / "keys")
    notes: dict = {}
    with boot_pair(_pair(built, keys, tdp), folder / "l1", notes, with_l2=False) as (l1, _):
        assert notes["tdp_in_force"] == f"/sys/module/kvm_amd/parameters/npt={want} (svm)"
        assert l1.run(["cat", "/sys/module/kvm_amd/parameters/npt"]).stdout.strip() == want
        assert l1.run(["uname", "-r"]).stdout.startswith("6.1.")
        assert l1.timings["ready_s"] > 0
    assert l1.state == "stopped" and not l1.alive()
    assert (folder / "l1" / "l1-console.log").read_text().count("ORCHESTRATOR-READY") == 1


def test_l2_inside_l1(built, no_qemu_left):
    folder = no_qemu_left
    keys = ssh.generate_keys(folder / "keys")
    spec = _pair(built, keys, "on")
    with contextlib.ExitStack() as stack:
        l1 = start_l1(spec, folder / "l1", stack, {})
        l2 = start_l2(l1, spec, folder / "l2", {})
        try:
            out = l2.run(["uname", "-a"], check=True).stdout
            assert out.startswith("Linux l2 6.1.")
            assert l2.qmp("query-status")["status"] == "running"
            kvm = l1.run(["ls", "/sys/kernel/debug/kvm"]).stdout.split()
            assert any("-" in entry for entry in kvm), kvm  # L2's VM directory exists
            # the registry's workloads run for real in L2 and their output parses
            for name, args in (("stress-vm", {"ops": 50, "bytes": "4M"}), ("stress-fork", {"ops": 50}),
                               ("stress-mmap", {"ops": 20, "bytes": "4M"}), ("anon-touch", {"mib": 4}),
                               ("fork-read", {"mib": 4, "children": 2}), ("exec-storm", {"count": 5}),
                               ("command", {"argv": ("sh", "-c", "echo $((6*7))")})):
                workload = REGISTRY[name]
                r = l2.run(workload.argv(args), timeout=300)
                assert r.exit_code == 0, (name, r.stderr)
                metrics = workload.parse(r.stdout + r.stderr)
                assert metrics[workload.metric.name] > 0, (name, metrics)
            pid = l2.pid
        finally:
            l2.shutdown()
        assert l2.state == "stopped"
        assert l1.run(["kill", "-0", str(pid)]).exit_code != 0  # L2's QEMU is gone
    assert not qemu_processes_mentioning(str(folder))
