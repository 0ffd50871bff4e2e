"""`tdp`: two-dimensional paging (NPT/EPT) in L1's KVM, on or off.

Configs spell it `matrix.tdp`; here it is one knob among the others. The
parameter's name (`kvm_amd.npt` or `kvm_intel.ept`) is the host profile's.
"""

from __future__ import annotations

from orchestrator.knobs.base import Guest, Kind, Profile, Scalar, Stage, Values, read


class Tdp(Kind):
    name = "tdp"

    def names(self) -> tuple[str, ...]:
        return ("tdp",)

    def values(self, knob: str) -> Values:
        return Values(choices=("on", "off"))

    def stage(self, knob: str) -> Stage:
        return "l1-boot"

    def l1_cmdline(self, knob: str, value: Scalar, profile: Profile) -> tuple[str, ...]:
        return (f"{profile.tdp_module}.{profile.tdp_param}={'1' if value == 'on' else '0'}",)

    def in_force_l1(self, l1: Guest, knob: str, value: Scalar, profile: Profile) -> str:
        flags = l1.run(["grep", "-m1", "-o", "-w", "-E", "svm|vmx", "/proc/cpuinfo"], timeout=30).stdout.strip()
        if flags != profile.virt:
            raise l1.fail("tdp", f"L1's CPU shows {flags or 'neither svm nor vmx'}, the host profile expects "
                                 f"{profile.virt}: nested KVM is impossible")
        path = f"/sys/module/{profile.tdp_module}/parameters/{profile.tdp_param}"
        got = read(l1, path)
        want = ("Y", "1") if value == "on" else ("N", "0")
        if got not in want:
            raise l1.fail("tdp", f"{path} is {got}, the cell asks for tdp={value}")
        return f"{path}={got} ({flags})"


KIND = Tdp()
