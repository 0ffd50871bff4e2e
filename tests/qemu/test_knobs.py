"""Each kind of knob, for real, in one pair of machines: set through the
one path to a pair (nested/pair.py), shown in force, and a wrong value of
each kind refused by the same read-backs that refuse a cell. The same pair
runs a workload uploaded at run time, in L2 and in L1."""

from __future__ import annotations

import pytest

from orchestrator import knobs
from orchestrator.config.schema import HostFile, L1Machine, L2Machine
from orchestrator.experiment.uploads import sha256, upload
from orchestrator.machine import ssh
from orchestrator.machine.boot import L1Artifacts
from orchestrator.machine.guest import MachineError
from orchestrator.machine.host import choose_accel
from orchestrator.machine.profile import checked_profile
from orchestrator.nested.pair import boot_pair, pair_spec
from orchestrator.workloads import REGISTRY

from .conftest import REPO

SCRIPT = REPO / "tests" / "data" / "upload" / "where-am-i.sh"

SETTINGS = (
    ("tdp", "on"),
    ("kvm.tdp_mmu", "N"),  # l1-param
    ("thp.enabled", "never"),  # l1-sysfs
    ("l2.memory_mib", 256), ("l2.prealloc", True), ("l2.backing", "anon"), ("l2.cpus", 2),  # l2-memory
    ("l2.cmdline", "orch.knob=42"),  # l2-cmdline
)
WRONG_L1 = [("tdp", "off"), ("kvm.tdp_mmu", "Y"), ("thp.enabled", "always")]
WRONG_L2 = [("l2.cpus", 1), ("l2.memory_mib", 512), ("l2.prealloc", False), ("l2.backing", "thp"),
            ("l2.cmdline", "orch.knob=43")]


def test_every_kind_in_force_and_wrong_values_refused(built, no_qemu_left):
    folder = no_qemu_left
    keys = ssh.generate_keys(folder / "keys")
    accel = choose_accel("auto")
    art = L1Artifacts(built.baseline.bzimage, built.l1.rootfs, built.payload.disk)
    spec = pair_spec(art, L1Machine(), L2Machine(), SETTINGS, accel, checked_profile(accel), keys)
    notes: dict = {}
    with boot_pair(spec, folder / "l1", notes, l2_folder=folder / "l2") as (l1, l2):
        seen = notes["knobs_in_force"]
        assert set(seen) == {k for k, _ in SETTINGS}, seen
        assert seen["kvm.tdp_mmu"] == "/sys/module/kvm/parameters/tdp_mmu=N"
        assert seen["thp.enabled"].endswith("enabled=never")
        assert "kvm.tdp_mmu=N" in l1.run(["cat", "/proc/cmdline"]).stdout
        assert l2.qmp("query-memdev")[0]["prealloc"] is True
        for knob in WRONG_L1:
            with pytest.raises(MachineError) as err:
                knobs.in_force_l1(l1, (knob,), spec.profile)
            assert err.value.cause in ("knob", "tdp"), knob
        for knob in WRONG_L2:
            with pytest.raises(MachineError) as err:
                knobs.in_force_l2(l1, l2, (knob,), spec.l2)
            assert err.value.cause == "knob", knob
        _uploaded_workload_runs_in(l2, "l2", "")
        _uploaded_workload_runs_in(l1, "l1", " kvm=yes")
        # a setting this L1 kernel cannot take is named, not half-applied
        with pytest.raises(MachineError, match="/proc/sys/vm/nr_hugepages|/sys/kernel/mm/ksm"):
            knobs.apply(l1, (("l2.backing", "hugetlb"),), spec.l2)
    assert l1.state == "stopped" and l2.state == "stopped"


def _uploaded_workload_runs_in(guest, host: str, kvm: str) -> None:
    """A program of one's own, copied in at run time (the `files:` of a
    workload), checked by sha256 there, run as the `command` workload."""
    copied = upload(guest, [HostFile(src=str(SCRIPT), dest="/opt/mine/where-am-i", mode="0755")])
    assert copied == [{"src": str(SCRIPT), "dest": "/opt/mine/where-am-i", "sha256": sha256(SCRIPT)}]
    command = REGISTRY["command"]
    result = guest.run(command.argv({"argv": ("/opt/mine/where-am-i", "x y")}), timeout=120)
    assert result.exit_code == 0, result.stderr
    assert f"host={host}{kvm}" in result.stdout and "arg=x y" in result.stdout
    assert command.parse(result.stdout)["seconds"] >= 0
