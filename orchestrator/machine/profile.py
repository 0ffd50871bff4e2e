"""The host profile: what differs between SVM and VMX, and between TCG and
KVM as L0, in one place.

- L1's CPU model: TCG emulates AMD SVM with NPT (`-cpu max`); KVM passes
  the host's CPU through.
- The tdp parameter's name: `kvm_amd.npt` or `kvm_intel.ept`.
- Under KVM, nested virtualization must be on in L0's KVM module: checked
  once for the run, so a host without it is named at once, not per cell.
- Workarounds only TCG needs, e.g. L2's `lapic=notscdeadline` (nested/l2.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import UserError
from orchestrator.machine.host import TCG_CPU_MODEL, AccelChoice, CpuInfo, read_cpuinfo

MODULES = {"svm": ("kvm_amd", "npt"), "vmx": ("kvm_intel", "ept")}
# When L1's early TSC calibration comes out low under TCG, L2's QEMU asks
# L1's KVM for a TSC rate below the hardware's, which it cannot scale, and
# L2's TSC-deadline timer then fires late or never (an RCU stall in early
# boot). The APIC's one-shot mode does not depend on the TSC.
TCG_L2_CMDLINE = ("lapic=notscdeadline",)


@dataclass(frozen=True)
class HostProfile:
    virt: str  # svm or vmx, as L1 sees its CPU
    accel: str  # L0's accelerator for L1: tcg or kvm
    cpu_model: str

    @property
    def tdp_module(self) -> str:
        return MODULES[self.virt][0]

    @property
    def tdp_param(self) -> str:
        return MODULES[self.virt][1]

    @property
    def l2_cmdline(self) -> tuple[str, ...]:
        return TCG_L2_CMDLINE if self.accel == "tcg" else ()

    def nested_problem(self, sys_module: Path = Path("/sys/module")) -> str | None:
        """Why L0 cannot run L1's nested guests, if it cannot (KVM only)."""
        if self.accel != "kvm":
            return None
        path = sys_module / self.tdp_module / "parameters" / "nested"
        try:
            value = path.read_text().strip()
        except OSError:
            return f"{path} is missing: {self.tdp_module} is not loaded on this host"
        if value not in ("Y", "1"):
            return (f"{path} is {value}: nested virtualization is off on this host "
                    f"(load {self.tdp_module} with nested=1)")
        return None


def profile_for(accel: AccelChoice, cpu: CpuInfo | None = None) -> HostProfile:
    if accel.accel != "kvm":
        return HostProfile("svm", "tcg", accel.cpu_model or TCG_CPU_MODEL)
    virt = (cpu or read_cpuinfo()).virt
    if virt is None:
        raise UserError("KVM was chosen, but the host CPU shows neither vmx nor svm")
    return HostProfile(virt, "kvm", accel.cpu_model)


def checked_profile(accel: AccelChoice, cpu: CpuInfo | None = None, sys_module: Path = Path("/sys/module")) -> HostProfile:
    """The profile, refused at once where L0 cannot nest."""
    profile = profile_for(accel, cpu)
    problem = profile.nested_problem(sys_module)
    if problem:
        raise UserError(problem)
    return profile
