"""L1 kernel command-line and KVM module parameters: `kvm.tdp_mmu: N`,
`kvm_amd.avic: Y`, `transparent_hugepage: never`...

Given on L1's kernel command line (KVM is built in, so module parameters
are command-line words too) and read back in L1, from
/sys/module/<module>/parameters/<param> or the sysfs file that shows the
setting. A parameter of the other vendor's module is refused: it would be
readable in sysfs, and in force nowhere.
"""

from __future__ import annotations

from orchestrator.knobs.base import Y_N, Guest, Kind, Profile, Scalar, Stage, Values, read, selected, text

THP = "/sys/kernel/mm/transparent_hugepage"
# name -> (values, the file that shows it in L1). Add a line to add a parameter.
PARAMS: dict[str, tuple[Values, str]] = {
    "kvm.tdp_mmu": (Y_N, "/sys/module/kvm/parameters/tdp_mmu"),
    "kvm.mmio_caching": (Y_N, "/sys/module/kvm/parameters/mmio_caching"),
    "kvm.eager_page_split": (Y_N, "/sys/module/kvm/parameters/eager_page_split"),
    "kvm.halt_poll_ns": (Values(integer=(0, 10**9)), "/sys/module/kvm/parameters/halt_poll_ns"),
    "kvm_amd.avic": (Y_N, "/sys/module/kvm_amd/parameters/avic"),
    "kvm_amd.nested": (Values(integer=(0, 1)), "/sys/module/kvm_amd/parameters/nested"),
    "kvm_intel.eptad": (Y_N, "/sys/module/kvm_intel/parameters/eptad"),
    "kvm_intel.pml": (Y_N, "/sys/module/kvm_intel/parameters/pml"),
    "kvm_intel.nested": (Y_N, "/sys/module/kvm_intel/parameters/nested"),
    "kvm_intel.enable_shadow_vmcs": (Y_N, "/sys/module/kvm_intel/parameters/enable_shadow_vmcs"),
    "transparent_hugepage": (Values(choices=("always", "madvise", "never")), f"{THP}/enabled"),
}
VENDOR_MODULES = {"kvm_amd": "svm", "kvm_intel": "vmx"}


class L1Param(Kind):
    name = "l1-param"

    def names(self) -> tuple[str, ...]:
        return tuple(PARAMS)

    def values(self, knob: str) -> Values:
        return PARAMS[knob][0]

    def stage(self, knob: str) -> Stage:
        return "l1-boot"

    def l1_cmdline(self, knob: str, value: Scalar, profile: Profile) -> tuple[str, ...]:
        return (f"{knob}={text(value)}",)

    def in_force_l1(self, l1: Guest, knob: str, value: Scalar, profile: Profile) -> str:
        module = knob.split(".", 1)[0]
        if VENDOR_MODULES.get(module, profile.virt) != profile.virt:
            raise l1.fail("knob", f"{knob}: L1's CPU is {profile.virt}, so {module} is not the KVM in force")
        path = PARAMS[knob][1]
        got = selected(read(l1, path))
        if got != text(value):
            raise l1.fail("knob", f"{path} is {got}, the cell asks for {knob}={text(value)}")
        return f"{path}={got}"


KIND = L1Param()
