"""Accelerator choice: from CPU flags and a bounded probe, never /dev/kvm alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import UserError
from orchestrator.machine import host

NO_VIRT = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 lm\n\n"
SVM = NO_VIRT.replace("lm\n", "lm svm npt\n")


def test_cpuinfo_parse():
    cpu = host.read_cpuinfo(SVM)
    assert cpu.vendor == "AuthenticAMD" and cpu.virt == "svm" and "npt" in cpu.flags
    assert host.read_cpuinfo(NO_VIRT).virt is None


def test_auto_without_flags_is_tcg_even_with_dev_kvm(monkeypatch):
    monkeypatch.setattr(host, "kvm_usable", lambda: (True, "/dev/kvm is usable"))
    choice = host.choose_accel("auto", host.read_cpuinfo(NO_VIRT))
    assert choice.accel == "tcg" and choice.cpu_model == "max"
    assert "no vmx/svm" in choice.reason


def test_kvm_requested_where_impossible_is_an_error(monkeypatch):
    monkeypatch.setattr(host, "kvm_usable", lambda: (True, "/dev/kvm is usable"))
    with pytest.raises(UserError):
        host.choose_accel("kvm", host.read_cpuinfo(NO_VIRT))


def test_tcg_requested():
    assert host.choose_accel("tcg", host.read_cpuinfo(SVM)).accel == "tcg"


def _fake_qemu(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "qemu"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o755)
    return script


def test_probe_that_hangs_is_a_no(tmp_path, monkeypatch):
    fake = _fake_qemu(tmp_path, "echo SeaBIOS; sleep 60")
    ok, why = host.probe_kvm(tmp_path / "bzImage", timeout=2, binary=str(fake))
    assert not ok and "nothing from the kernel" in why


def test_probe_that_boots_is_a_yes(tmp_path):
    fake = _fake_qemu(tmp_path, "echo 'Linux version 6.1.0'; sleep 60")
    ok, _ = host.probe_kvm(tmp_path / "bzImage", timeout=2, binary=str(fake))
    assert ok


def test_auto_with_flags_falls_back_when_the_probe_hangs(monkeypatch, tmp_path):
    monkeypatch.setattr(host, "kvm_usable", lambda: (True, "/dev/kvm is usable"))
    monkeypatch.setattr(host, "probe_kvm", lambda kernel: (False, "probe printed nothing"))
    choice = host.choose_accel("auto", host.read_cpuinfo(SVM), probe_kernel=tmp_path / "bz")
    assert choice.accel == "tcg" and "probe printed nothing" in choice.reason
    with pytest.raises(UserError):
        host.choose_accel("kvm", host.read_cpuinfo(SVM), probe_kernel=tmp_path / "bz")
    monkeypatch.setattr(host, "probe_kvm", lambda kernel: (True, "ok"))
    assert host.choose_accel("auto", host.read_cpuinfo(SVM), probe_kernel=tmp_path / "bz").accel == "kvm"
