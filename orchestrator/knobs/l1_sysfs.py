"""L1 sysfs settings written after L1 boots and before L2 starts: THP's
`enabled` and `defrag`, KSM. Each is read back after it is written.

THP's settings decide how L1 backs L2's memory as it is allocated, so they
are part of what L2 was started with (a warm-start template is keyed by
them); KSM's may change at any time and are applied again after a restore.
"""

from __future__ import annotations

from orchestrator.knobs.base import Guest, Kind, Profile, Scalar, Stage, Values, read, selected, text, write

THP = "/sys/kernel/mm/transparent_hugepage"
KSM = "/sys/kernel/mm/ksm"
# name -> (values, file, stage). Add a line to add a setting.
SETTINGS: dict[str, tuple[Values, str, Stage]] = {
    "thp.enabled": (Values(choices=("always", "madvise", "never")), f"{THP}/enabled", "l2-boot"),
    "thp.defrag": (Values(choices=("always", "defer", "defer+madvise", "madvise", "never")), f"{THP}/defrag", "l2-boot"),
    "thp.shmem_enabled": (Values(choices=("always", "within_size", "advise", "never", "deny", "force")),
                          f"{THP}/shmem_enabled", "l2-boot"),
    "thp.khugepaged.defrag": (Values(integer=(0, 1)), f"{THP}/khugepaged/defrag", "l2-boot"),
    "ksm.run": (Values(integer=(0, 2)), f"{KSM}/run", "live"),
    "ksm.pages_to_scan": (Values(integer=(1, 10**6)), f"{KSM}/pages_to_scan", "live"),
}


class L1Sysfs(Kind):
    name = "l1-sysfs"

    def names(self) -> tuple[str, ...]:
        return tuple(SETTINGS)

    def values(self, knob: str) -> Values:
        return SETTINGS[knob][0]

    def stage(self, knob: str) -> Stage:
        return SETTINGS[knob][2]

    def apply(self, l1: Guest, knob: str, value: Scalar, l2cfg: object) -> None:
        path = SETTINGS[knob][1]
        read(l1, path)  # a kernel without the feature is named here, not as a failed write
        write(l1, path, text(value))

    def in_force_l1(self, l1: Guest, knob: str, value: Scalar, profile: Profile) -> str:
        path = SETTINGS[knob][1]
        got = selected(read(l1, path))
        if got != text(value):
            raise l1.fail("knob", f"{path} is {got} after writing {text(value)}")
        return f"{path}={got}"


KIND = L1Sysfs()
