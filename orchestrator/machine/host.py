"""What this host can do: CPU virtualization flags, /dev/kvm, QEMU, tools.

`/dev/kvm` existing proves nothing: on a paravirtual KVM (feasibility.md)
KVM_CREATE_VM works but a guest hangs at kernel entry. So KVM is only
considered where the CPU flags show vmx or svm.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from orchestrator import proc
from orchestrator.errors import OrchestratorError, UserError

# TCG emulates AMD SVM with nested paging, not Intel VMX.
TCG_CPU_MODEL = "max"


@dataclass(frozen=True)
class CpuInfo:
    vendor: str
    model_name: str
    flags: frozenset[str]

    @property
    def virt(self) -> str | None:
        if "vmx" in self.flags:
            return "vmx"
        if "svm" in self.flags:
            return "svm"
        return None


def read_cpuinfo(text: str | None = None) -> CpuInfo:
    if text is None:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            if fields:
                break  # first processor block is enough
            continue
        fields.setdefault(key.strip(), value.strip())
    return CpuInfo(
        vendor=fields.get("vendor_id", "unknown"),
        model_name=fields.get("model name", "unknown"),
        flags=frozenset(fields.get("flags", "").split()),
    )


@dataclass(frozen=True)
class AccelChoice:
    accel: str  # "tcg" or "kvm"
    cpu_model: str
    reason: str


def kvm_usable() -> tuple[bool, str]:
    dev = Path("/dev/kvm")
    if not dev.exists():
        return False, "/dev/kvm does not exist"
    if not os.access(dev, os.R_OK | os.W_OK):
        return False, "/dev/kvm is not readable and writable by this user"
    return True, "/dev/kvm is usable"


def probe_kvm(kernel: Path, timeout: float = 30, binary: str = "qemu-system-x86_64") -> tuple[bool, str]:
    """Boot `kernel` under KVM for a few seconds: it must print its banner.
    On a paravirtual KVM (feasibility.md) QEMU hangs silently at kernel
    entry; the timeout turns that hang into a "no"."""
    argv = [binary, "-accel", "kvm", "-cpu", "host", "-m", "256", "-display", "none", "-nodefaults",
            "-no-user-config", "-serial", "stdio", "-no-reboot", "-kernel", str(kernel),
            "-append", "console=ttyS0 panic=-1 earlyprintk=serial"]
    try:
        out = proc.run(argv, timeout=timeout, check=False).output
    except proc.CommandTimeout as exc:
        out = exc.tail
        if "Linux version" in out:
            return True, "probe boot under KVM reached the kernel"
        return False, f"probe boot under KVM printed nothing from the kernel within {timeout:.0f}s"
    except OrchestratorError as exc:
        return False, f"probe boot under KVM failed: {exc}"
    if "Linux version" in out:
        return True, "probe boot under KVM reached the kernel"
    return False, f"probe boot under KVM failed: {out.strip()[-300:]}"


def choose_accel(requested: str, cpu: CpuInfo | None = None, probe_kernel: Path | None = None) -> AccelChoice:
    """Decide L1's accelerator from the CPU flags, never from /dev/kvm alone,
    and, given a kernel, confirm a KVM choice with a bounded probe boot."""
    cpu = cpu or read_cpuinfo()
    ok, why = kvm_usable()
    if requested == "tcg":
        return AccelChoice("tcg", TCG_CPU_MODEL, "tcg requested in the config")
    if cpu.virt is None:
        reason = f"the host CPU has no vmx/svm flag ({why}, but that alone is not enough)"
        if requested == "kvm":
            raise UserError(f"accel: kvm was requested, but {reason}; use accel: auto or tcg")
        return AccelChoice("tcg", TCG_CPU_MODEL, f"auto: {reason}; TCG with -cpu {TCG_CPU_MODEL} (SVM+NPT)")
    if not ok:
        if requested == "kvm":
            raise UserError(f"accel: kvm was requested, but {why}")
        return AccelChoice("tcg", TCG_CPU_MODEL, f"auto: CPU has {cpu.virt} but {why}")
    how = "requested" if requested == "kvm" else f"auto: CPU has {cpu.virt} and {why}"
    if probe_kernel is not None:
        works, detail = probe_kvm(probe_kernel)
        if not works:
            if requested == "kvm":
                raise UserError(f"accel: kvm was requested, but {detail}")
            return AccelChoice("tcg", TCG_CPU_MODEL, f"auto: CPU has {cpu.virt}, but {detail}; TCG")
        how += f"; {detail}"
    return AccelChoice("kvm", "host", how)


def qemu_version(binary: str = "qemu-system-x86_64") -> str | None:
    if not shutil.which(binary):
        return None
    try:
        out = proc.run([binary, "--version"], timeout=30).output
    except OrchestratorError:
        return None
    m = re.search(r"version (\S+)", out)
    return m.group(1) if m else out.strip().splitlines()[0]


def mem_available_mib(meminfo: Path = Path("/proc/meminfo")) -> int:
    """MemAvailable in MiB (a generous guess where /proc/meminfo is missing)."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return 8192
