"""Each kind of knob, for real, in one pair of machines: set through the
one path to a pair (nested/pair.py), shown in force, and a wrong value of
each kind refused by the same read-backs that refuse a cell. The same pair
runs a workload uploaded at run time, in L2 and in L1. A second pair backs
L2's memory with hugetlbfs pages reserved in L1, with KSM running."""

from __future__ import annotations

import pytest

from orchestrator import knobs
from orchestrator.config.schema import HostFile, L1Machine, L2Machine
from orchestrator.experiment.uploads import sha256, upload
from orchestrator.knobs.l2_memory import HUGEPAGES_MOUNT, meminfo
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
    ("thp.enabled", "never"), ("ksm.pages_to_scan", 200),  # l1-sysfs (KSM stays off: run=0)
    ("l2.memory_mib", 256), ("l2.prealloc", True), ("l2.backing", "anon"), ("l2.cpus", 2),  # l2-memory
    ("l2.cmdline", "orch.knob=42"),  # l2-cmdline
)
WRONG_L1 = [("tdp", "off"), ("kvm.tdp_mmu", "Y"), ("thp.enabled", "always"), ("ksm.pages_to_scan", 100)]
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
    assert l1.state == "stopped" and l2.state == "stopped"


HUGETLB = (("tdp", "on"), ("l2.memory_mib", 256), ("l2.prealloc", True), ("l2.backing", "hugetlb"),
           ("ksm.run", 1))
HUGEPAGES = 256 // 2  # 2 MiB pages for L2's 256 MiB


def test_hugetlb_backed_l2_and_ksm_in_force(built, no_qemu_left):
    """L2's memory on hugetlbfs in L1: the pages are reserved in L1
    (nr_hugepages, /proc/meminfo), preallocated into L2's QEMU (no longer
    free), and L2's QEMU shows a file backend on the hugetlbfs mount. KSM
    runs in L1 meanwhile (hugetlb pages are not mergeable, so it idles)."""
    folder = no_qemu_left
    accel = choose_accel("auto")
    art = L1Artifacts(built.baseline.bzimage, built.l1.rootfs, built.payload.disk)
    spec = pair_spec(art, L1Machine(), L2Machine(), HUGETLB, accel, checked_profile(accel),
                     ssh.generate_keys(folder / "keys"))
    notes: dict = {}
    with boot_pair(spec, folder / "l1", notes, l2_folder=folder / "l2") as (l1, l2):
        seen = notes["knobs_in_force"]
        assert set(seen) == {k for k, _ in HUGETLB}, seen
        assert seen["ksm.run"] == "/sys/kernel/mm/ksm/run=1"
        assert seen["l2.backing"] == f"l2.backing=hugetlb ({HUGEPAGES} hugetlb pages in L1)", seen
        info = meminfo(l1)
        assert info["Hugepagesize"] == 2048 and info["HugePages_Total"] == HUGEPAGES, info
        assert info["HugePages_Free"] == 0, info  # all of them preallocated by L2's QEMU
        assert l1.run(["cat", "/proc/sys/vm/nr_hugepages"]).stdout.strip() == str(HUGEPAGES)
        (dev,) = l2.qmp("query-memdev")
        assert dev["size"] == 256 << 20 and dev["prealloc"] is True, dev
        assert l2.qmp("qom-get", path=f"/objects/{dev['id']}", property="mem-path") == HUGEPAGES_MOUNT
        assert "hugetlbfs" in l1.run(["findmnt", "-n", "-o", "FSTYPE", HUGEPAGES_MOUNT]).stdout
        for knob in [("ksm.run", 0), ("ksm.run", 2)]:
            with pytest.raises(MachineError, match="ksm/run is 1 after writing"):
                knobs.in_force_l1(l1, (knob,), spec.profile)
        for knob in [("l2.backing", "anon"), ("l2.backing", "thp")]:
            with pytest.raises(MachineError, match="needs memory-backend-ram") as err:
                knobs.in_force_l2(l1, l2, (knob,), spec.l2)
            assert err.value.cause == "knob"
        # 512 MiB of hugetlb would need 256 pages: L1 holds 128, all in use
        with pytest.raises(MachineError, match="shows 128 2 MiB pages in use or reserved, L2's memory needs 256"):
            knobs.in_force_l2(l1, l2, (("l2.backing", "hugetlb"),), spec.l2.model_copy(update={"memory_mib": 512}))
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
