"""Knobs: names and values checked at load (file, line, key), cells and ids
from matrix knobs, what each kind does to a pair of machines (with fake
guests), warm-start keys, and the host profiles (the Intel/KVM one with fakes)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from orchestrator import knobs
from orchestrator.config import load_experiment
from orchestrator.config.schema import L2Machine
from orchestrator.errors import ConfigError, UserError
from orchestrator.machine.host import AccelChoice, CpuInfo
from orchestrator.machine.profile import HostProfile, checked_profile, profile_for
from orchestrator.nested.l2 import l2_spec
from orchestrator.plan import make_plan, parse_only

SVM_TCG = HostProfile("svm", "tcg", "max")
VMX_KVM = HostProfile("vmx", "kvm", "host")


def write_config(tmp_path: Path, test_project: Path, body: str) -> Path:
    project = tmp_path / "project"
    shutil.copytree(test_project, project)
    path = project / "configs" / "knobs.yaml"
    path.write_text("extends: base.yaml\nname: knobs\n" + body)
    return path


MATRIX = "matrix:\n  tdp: [on]\n  workload: [anon-touch]\n"


def test_matrix_knobs_are_coordinates(tmp_path, test_project):
    path = write_config(tmp_path, test_project, MATRIX + "  knobs:\n    kvm.tdp_mmu: [N, Y]\n"
                        "knobs:\n  l2.prealloc: true\n  thp.enabled: never\n"
                        "expectations:\n  - {metric: kvm.pf_fixed, when: {kvm.tdp_mmu: N}, change: decrease}\n")
    exp = load_experiment(path).experiment
    assert exp.knobs["l2.prealloc"] is True and exp.matrix.knobs["kvm.tdp_mmu"] == ("N", "Y")
    plan = make_plan(exp, repeat=1)
    assert len(plan) == 2 * len(exp.kernels)
    cell = plan.cells[0]
    assert cell.coords["kvm.tdp_mmu"] == "N" and "kvm.tdp_mmu-N" in cell.id
    assert ("kvm.tdp_mmu", "N") in cell.group
    only = make_plan(exp, repeat=1, only=parse_only(["kvm.tdp_mmu=Y"]))
    assert {c.coords["kvm.tdp_mmu"] for c in only.cells} == {"Y"}


@pytest.mark.parametrize("body, key, words", [
    ("knobs:\n  kvm.tdp_mm: N\n", "knobs.kvm.tdp_mm", "did you mean 'kvm.tdp_mmu'"),
    ("knobs:\n  kvm.tdp_mmu: 0\n", "knobs.kvm.tdp_mmu", "must be one of Y, N"),
    ("knobs:\n  l2.prealloc: yes\n", "knobs.l2.prealloc", "true or false"),
    ("knobs:\n  l2.cmdline: 'a;reboot'\n", "knobs.l2.cmdline", "not a plain command-line word"),
    ("knobs:\n  l2.memory_mib: [512]\n", "knobs.l2.memory_mib", ""),
    ("knobs:\n  tdp: on\n", "knobs.tdp", "matrix dimension"),
    ("knobs:\n  Bad-Name: 1\n", "knobs", ""),
])
def test_bad_experiment_knobs_exit_2_naming_file_line_key(tmp_path, test_project, body, key, words):
    path = write_config(tmp_path, test_project, MATRIX + body)
    with pytest.raises(ConfigError) as err:
        load_experiment(path)
    assert err.value.exit_code == 2
    text = str(err.value)
    assert text.startswith(f"{path.name}:") or "knobs.yaml:" in text, text
    assert key in text and words in text, text


def test_bad_matrix_knob_value_names_its_item(tmp_path, test_project):
    path = write_config(tmp_path, test_project, MATRIX + "  knobs:\n    thp.enabled: [always, sometimes]\n")
    with pytest.raises(ConfigError) as err:
        load_experiment(path)
    assert ":7: matrix.knobs.thp.enabled[1]:" in str(err.value) or "matrix.knobs.thp.enabled" in str(err.value)
    assert "sometimes" in str(err.value)


def test_a_knob_in_both_places_is_refused(tmp_path, test_project):
    path = write_config(tmp_path, test_project, MATRIX + "  knobs:\n    kvm.tdp_mmu: [N]\nknobs:\n  kvm.tdp_mmu: Y\n")
    with pytest.raises(ConfigError, match="in one place"):
        load_experiment(path)


def test_expectation_on_an_unknown_knob_value(tmp_path, test_project):
    path = write_config(tmp_path, test_project, MATRIX + "  knobs:\n    kvm.tdp_mmu: [N]\n"
                        "expectations:\n  - {metric: kvm.pf_fixed, when: {kvm.tdp_mmu: X}, change: none}\n")
    with pytest.raises(ConfigError, match="not a kvm.tdp_mmu value"):
        load_experiment(path)


def test_stages_and_warm_keys():
    cell = (("tdp", "on"), ("kvm.tdp_mmu", "N"), ("thp.enabled", "never"), ("ksm.run", 1), ("l2.prealloc", True))
    assert knobs.at_boot(cell) == cell[:3] + cell[4:]
    assert knobs.live(cell) == (("ksm.run", 1),)
    assert knobs.l1_cmdline(cell, SVM_TCG) == ("kvm_amd.npt=1", "kvm.tdp_mmu=N")
    assert knobs.l1_cmdline(cell[:1], VMX_KVM) == ("kvm_intel.ept=1",)


def test_l2_settings_and_qemu_options():
    cfg = knobs.l2_config(L2Machine(cmdline=("a=1",)), (("l2.prealloc", True), ("l2.cpus", 2),
                                                        ("l2.cmdline", "b=2 c"), ("l2.backing", "hugetlb")))
    assert cfg.prealloc and cfg.cpus == 2 and cfg.cmdline == ("a=1", "b=2", "c") and cfg.backing == "hugetlb"
    argv = l2_spec(cfg, workarounds=()).argv()
    assert "memory-backend-file,id=l2mem,size=512M,mem-path=/dev/hugepages,prealloc=on" in argv
    assert argv[argv.index("-machine") + 1] == "memory-backend=l2mem"
    assert "lapic=notscdeadline" not in " ".join(argv)
    plain = l2_spec(L2Machine()).argv()  # no knob: the QEMU line of old, TCG's workaround on
    assert "-object" not in plain and "lapic=notscdeadline" in " ".join(plain)


@dataclass
class Result:
    stdout: str = ""
    stderr: str = ""
    exit_code: int = 0


class Failed(Exception):
    pass


@dataclass
class FakeGuest:
    """Files to read, a log of writes, QMP answers."""

    level: str = "L1"
    files: dict[str, str] = field(default_factory=dict)
    qmp_answers: dict[str, Any] = field(default_factory=dict)
    writes: list[tuple[str, str]] = field(default_factory=list)
    pid: int = 42

    def run(self, argv, *, timeout=300, check=False):
        if argv[0] == "cat":
            return Result(self.files[argv[1]] + "\n") if argv[1] in self.files else Result(stderr="No such file", exit_code=1)
        if argv[:2] == ["sh", "-c"]:
            value, path = argv[4], argv[5]
            self.writes.append((path, value))
            self.files[path] = value
            return Result()
        if argv[0] == "grep":
            return Result(self.files.get("virt", "svm") + "\n")
        return Result()

    def qmp(self, command, **args):
        return self.qmp_answers[command]

    def fail(self, cause, message):
        return Failed(f"{cause}: {message}")


def test_read_back_refuses_a_mismatch():
    l1 = FakeGuest(files={"/sys/module/kvm/parameters/tdp_mmu": "Y", "/sys/module/kvm_amd/parameters/npt": "Y"})
    with pytest.raises(Failed, match="tdp_mmu is Y, the cell asks for kvm.tdp_mmu=N"):
        knobs.in_force_l1(l1, (("tdp", "on"), ("kvm.tdp_mmu", "N")), SVM_TCG)
    l1.files["/sys/module/kvm/parameters/tdp_mmu"] = "N"
    seen = knobs.in_force_l1(l1, (("tdp", "on"), ("kvm.tdp_mmu", "N")), SVM_TCG)
    assert seen["tdp"].startswith("/sys/module/kvm_amd/parameters/npt=Y")
    with pytest.raises(Failed, match="not the KVM in force"):
        knobs.in_force_l1(l1, (("kvm_intel.eptad", "Y"),), SVM_TCG)


def test_sysfs_knobs_are_written_then_read_back():
    thp = "/sys/kernel/mm/transparent_hugepage/enabled"
    l1 = FakeGuest(files={thp: "[always] madvise never"})
    knobs.apply(l1, (("thp.enabled", "never"),), L2Machine())
    assert l1.writes == [(thp, "never")]
    assert knobs.in_force_l1(l1, (("thp.enabled", "never"),), SVM_TCG)["thp.enabled"] == f"{thp}=never"
    with pytest.raises(Failed, match="has no /sys/kernel/mm/ksm/run"):
        knobs.apply(l1, (("ksm.run", 1),), L2Machine())


def test_l2_memory_read_back_through_qmp():
    cfg = L2Machine(memory_mib=512, cpus=2, prealloc=True)
    l1 = FakeGuest(files={"/proc/42/status": "RssAnon:\t530000 kB"})
    l2 = FakeGuest(level="L2", qmp_answers={
        "query-memdev": [{"id": "l2mem", "size": 512 << 20, "prealloc": True}],
        "query-cpus-fast": [{}, {}], "qom-get": "memory-backend-ram"})
    seen = knobs.in_force_l2(l1, l2, (("l2.prealloc", True), ("l2.cpus", 2), ("l2.memory_mib", 512),
                                      ("l2.backing", "anon")), cfg)
    assert set(seen) == {"l2.prealloc", "l2.cpus", "l2.memory_mib", "l2.backing"}
    l2.qmp_answers["query-cpus-fast"] = [{}]
    with pytest.raises(Failed, match="l2.cpus is 1"):
        knobs.in_force_l2(l1, l2, (("l2.cpus", 2),), cfg)
    l1.files["/proc/42/status"] = "RssAnon:\t1000 kB"
    with pytest.raises(Failed, match="less than the 512 MiB preallocated"):
        knobs.in_force_l2(l1, l2, (("l2.prealloc", True),), cfg)


def test_hugetlb_backing_reserves_pages_in_l1():
    cfg = L2Machine(memory_mib=256, backing="hugetlb")
    l1 = FakeGuest(files={"/proc/sys/vm/nr_hugepages": "0", "/proc/meminfo": "HugePages_Total:     128\n"})
    knobs.apply(l1, (("l2.backing", "hugetlb"),), cfg)
    assert ("/proc/sys/vm/nr_hugepages", "128") in l1.writes
    short = FakeGuest(files={"/proc/sys/vm/nr_hugepages": "0", "/proc/meminfo": "HugePages_Total:     3\n"})
    with pytest.raises(Failed, match="reserved 3 of the 128"):
        knobs.apply(short, (("l2.backing", "hugetlb"),), cfg)


def test_intel_kvm_profile(tmp_path):
    vmx = CpuInfo("GenuineIntel", "Xeon", frozenset({"vmx", "ept"}))
    kvm = AccelChoice("kvm", "host", "test")
    profile = profile_for(kvm, vmx)
    assert (profile.virt, profile.tdp_module, profile.tdp_param, profile.cpu_model) == ("vmx", "kvm_intel", "ept", "host")
    assert profile.l2_cmdline == ()  # the TSC workaround is TCG's only
    params = tmp_path / "kvm_intel" / "parameters"
    params.mkdir(parents=True)
    (params / "nested").write_text("N\n")
    with pytest.raises(UserError, match="nested virtualization is off"):
        checked_profile(kvm, vmx, sys_module=tmp_path)
    (params / "nested").write_text("Y\n")
    assert checked_profile(kvm, vmx, sys_module=tmp_path) == profile
    with pytest.raises(UserError, match="kvm_amd is not loaded"):
        checked_profile(kvm, CpuInfo("AuthenticAMD", "EPYC", frozenset({"svm"})), sys_module=tmp_path)


def test_tcg_profile_needs_no_nested_check(tmp_path):
    profile = checked_profile(AccelChoice("tcg", "max", "test"), sys_module=tmp_path)
    assert profile == SVM_TCG and profile.l2_cmdline == ("lapic=notscdeadline",)


def test_legacy_mmu_config(repo):
    exp = load_experiment(repo / "configs" / "nested-legacy-mmu.yaml").experiment
    assert exp.matrix.tdp == ("on",) and exp.matrix.knobs["kvm.tdp_mmu"] == ("N", "Y")
    assert exp.knobs["l2.prealloc"] is True and exp.knobs["transparent_hugepage"] == "never"
    assert {e.when.get("kvm.tdp_mmu") for e in exp.expectations} == {"N", "Y"}
    huge = load_experiment(repo / "configs" / "nested-legacy-mmu-hugetlb.yaml").experiment
    assert huge.matrix.knobs["kvm.tdp_mmu"] == ("N",) and huge.knobs["l2.backing"] == "hugetlb"
    assert huge.knobs["l2.prealloc"] is True and [e.change for e in huge.expectations] == ["none"]


# --- workloads with host files, and workloads in L1 ---------------------------

FILES = ("workloads:\n  mine:\n    kind: command\n    level: l1\n    args: {argv: [/opt/mine/run]}\n"
         "    files:\n      - {src: %s, dest: /opt/mine/run, mode: '0755'}\n")


def test_workload_files_are_made_absolute_and_checked(tmp_path, test_project):
    path = write_config(tmp_path, test_project, "matrix:\n  tdp: [on]\n  workload: [mine]\n" + FILES % "prog.sh")
    (path.parent / "prog.sh").write_text("#!/bin/sh\necho hi\n")
    wdef = load_experiment(path).experiment.workloads["mine"]
    assert wdef.level == "l1" and wdef.files[0].src == str((path.parent / "prog.sh").resolve())
    (path.parent / "prog.sh").unlink()
    with pytest.raises(ConfigError) as err:
        load_experiment(path)
    assert "workloads.mine.files[0].src" in str(err.value) and "file not found: prog.sh" in str(err.value)


def test_bad_level_and_dest_exit_2(tmp_path, test_project):
    body = "matrix:\n  tdp: [on]\n  workload: [mine]\n" + FILES % "prog.sh"
    for bad, key in ((body.replace("level: l1", "level: l0"), "level"), (body.replace("dest: /opt/mine/run", "dest: run"), "dest")):
        path = write_config(tmp_path / key, test_project, bad)
        with pytest.raises(ConfigError, match=key):
            load_experiment(path)


def test_upload_checks_the_copy_by_sha256(tmp_path):
    from orchestrator.config.schema import HostFile
    from orchestrator.experiment.uploads import sha256, upload

    src = tmp_path / "prog"
    src.write_bytes(b"#!/bin/sh\n")

    class Uploads(FakeGuest):
        def put(self, local, remote, mode=0o600):
            self.files[remote] = local.read_bytes()
            self.writes.append((remote, oct(mode)))

        def run(self, argv, *, timeout=300, check=False):
            if argv[0] == "sha256sum":
                import hashlib
                return Result(f"{hashlib.sha256(self.files[argv[1]]).hexdigest()}  {argv[1]}\n")
            return super().run(argv, timeout=timeout, check=check)

    guest = Uploads(level="L2")
    out = upload(guest, [HostFile(src=str(src), dest="/opt/x/prog", mode="0755")])
    assert out == [{"src": str(src), "dest": "/opt/x/prog", "sha256": sha256(src)}]
    assert guest.writes == [("/opt/x/prog", "0o755")]
    guest.files["/opt/x/prog"] = b"changed"
    guest.put = lambda local, remote, mode=0: None  # a copy that did not arrive whole
    with pytest.raises(Failed, match="has sha256"):
        upload(guest, [HostFile(src=str(src), dest="/opt/x/prog")])


def test_an_l1_workload_runs_in_l1(tmp_path, test_project):
    from orchestrator.experiment.cell import _workload_guest

    path = write_config(tmp_path, test_project, "matrix:\n  tdp: [on]\n  workload: [mine, anon-touch]\n"
                        + (FILES % "prog.sh").replace("    files:\n      - {src: prog.sh, dest: /opt/mine/run, mode: '0755'}\n", ""))
    exp = load_experiment(path).experiment
    cells = make_plan(exp, repeat=1).cells
    by_workload = {c.workload: c for c in cells}
    assert _workload_guest(exp, by_workload["mine"], "L1", "L2", lambda p: None, {}) == "L1"
    assert _workload_guest(exp, by_workload["anon-touch"], "L1", "L2", lambda p: None, {}) == "L2"


def test_list_knobs_and_shell_knob_options(capsys):
    from orchestrator.cli.main import main
    from orchestrator.cli.shell import parse_knobs

    assert main(["list", "knobs"]) == 0
    out = capsys.readouterr().out
    assert "kvm.tdp_mmu" in out and "l2.prealloc" in out and "live" in out
    assert parse_knobs(["kvm.tdp_mmu=N", "l2.prealloc=true", "l2.cpus=2"]) == {
        "kvm.tdp_mmu": "N", "l2.prealloc": True, "l2.cpus": 2}
    with pytest.raises(UserError, match="--knob kvm.tdp_mmu=0: kvm.tdp_mmu must be one of Y, N"):
        parse_knobs(["kvm.tdp_mmu=0"])
    with pytest.raises(UserError, match="expected NAME=VALUE"):
        parse_knobs(["kvm.tdp_mmu"])


def test_a_restore_writes_and_reads_back_the_cells_live_knobs(tmp_path, test_project, monkeypatch):
    """Live knobs are not in a template's key: each restored cell gets its own, read back."""
    from orchestrator.experiment import warm
    from orchestrator.experiment.cell import CellInputs

    path = write_config(tmp_path, test_project, MATRIX + "  knobs:\n    ksm.run: [0, 1]\n"
                        "knobs:\n  kvm.tdp_mmu: N\n")
    exp = load_experiment(path).experiment
    cells = make_plan(exp, repeat=1).cells
    inp = CellInputs(exp, {k: tmp_path / "bz" for k in exp.kernels}, tmp_path, tmp_path,
                     AccelChoice("tcg", "max", "test"), None)
    keys = {warm.group_of(inp, c) for c in cells}
    assert len(keys) == len(exp.kernels)  # ksm.run 0 and 1 share a template

    class L1(FakeGuest):
        def mark_console(self, text): pass
        def restore_snapshot(self, tag): return 0.1
        def disconnect_ssh(self): pass

    class L2:
        def detach(self): pass

    monkeypatch.setattr(warm.NestedMachine, "adopt", classmethod(lambda cls, *a, **kw: L2()))
    template = warm.Template(inp, cells[0], tmp_path / "t")
    template.l1 = l1 = L1(files={"/sys/kernel/mm/ksm/run": "0"})
    template.l2_pid = 7
    for cell in cells[:2 * len(exp.kernels):len(exp.kernels)]:  # ksm.run 0, then 1
        notes: dict = {}
        with template.restored(tmp_path / cell.id, lambda p: None, {}, cell, notes):
            want = dict(cell.knobs)["ksm.run"]
            assert notes["knobs_in_force"] == {"ksm.run": f"/sys/kernel/mm/ksm/run={want}"}
    assert l1.writes == [("/sys/kernel/mm/ksm/run", "0"), ("/sys/kernel/mm/ksm/run", "1")]
