"""L1 boots from the built image with the baseline kernel; EPT/NPT is in
force as asked; L2 starts inside it under KVM; everything is torn down."""

from __future__ import annotations

import pytest

from orchestrator.config.schema import L1Machine, L2Machine
from orchestrator.machine import ssh
from orchestrator.machine.boot import L1Artifacts, boot_l1, tdp_in_force
from orchestrator.machine.host import choose_accel
from orchestrator.nested.l2 import boot_l2
from orchestrator.workloads import REGISTRY

from .conftest import qemu_processes_mentioning


def _art(built):
    return L1Artifacts(built.baseline.bzimage, built.l1.rootfs, built.payload.disk)


@pytest.mark.parametrize("tdp, want", [("off", "N"), ("on", "Y")])
def test_l1_tdp_in_force(built, no_qemu_left, tdp, want):
    folder = no_qemu_left
    keys = ssh.generate_keys(folder / "keys")
    with boot_l1(_art(built), L1Machine(), choose_accel("auto"), tdp, folder / "l1", keys) as l1:
        flag, path, value = tdp_in_force(l1)
        assert value == want, (flag, path, value)
        assert l1.run(["uname", "-r"]).stdout.startswith("6.1.")
        assert l1.timings["ready_s"] > 0
    assert l1.state == "stopped" and not l1.alive()
    assert (folder / "l1" / "l1-console.log").read_text().count("ORCHESTRATOR-READY") == 1


def test_l2_inside_l1(built, no_qemu_left):
    folder = no_qemu_left
    keys = ssh.generate_keys(folder / "keys")
    with boot_l1(_art(built), L1Machine(), choose_accel("auto"), "on", folder / "l1", keys) as l1:
        with boot_l2(l1, L2Machine(), folder / "l2", keys) as l2:
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
        assert l2.state == "stopped"
        assert l1.run(["kill", "-0", str(pid)]).exit_code != 0  # L2's QEMU is gone
    assert not qemu_processes_mentioning(str(folder))
