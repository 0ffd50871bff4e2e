"""Where a run's numbers come from, as every report opens with it: the
accelerator and why, the host CPU, QEMU, and each kernel with its key and
patch subjects. Two runs' provenance compared says where they differ."""

from __future__ import annotations

from dataclasses import dataclass, field
from orchestrator.results import models
from orchestrator.results.models import Manifest

UNKNOWN = "not recorded"


@dataclass(frozen=True)
class KernelInfo:
    recipe: str
    key: str
    patches: tuple[str, ...] = ()  # subjects (file names where a patch has none)


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    accel: str
    accel_reason: str
    host_cpu: str
    qemu_version: str
    kernels: dict[str, KernelInfo] = field(default_factory=dict)

    @property
    def emulated(self) -> bool:
        """Time under TCG is the emulator's; an unrecorded accelerator is
        treated as TCG too: nothing proves the timings are the hardware's."""
        return self.accel != "kvm"


def _text(value: str | None) -> str:
    return value or UNKNOWN


def of(run_id: str, m: Manifest) -> RunInfo:
    kernels = {v: KernelInfo(_text(k.recipe), _text(k.key), tuple(p.subject or p.file for p in k.patches))
               for v, k in m.artifacts.kernels.items()}
    return RunInfo(run_id, _text(m.accel.accel), _text(m.accel.reason), _text(m.host.cpu), _text(m.qemu_version),
                   kernels)


def header(info: RunInfo, variants: list[str] | None = None) -> list[str]:
    """The lines a report opens with for one run (its kernels limited to
    `variants` when given)."""
    lines = [f"run {info.run_id}: accelerator {info.accel} ({info.accel_reason})",
             f"host CPU: {info.host_cpu}; QEMU {info.qemu_version}"]
    for v, k in info.kernels.items():
        if variants is not None and v not in variants:
            continue
        patches = "; ".join(k.patches) if k.patches else "no patches"
        lines.append(f"kernel {v}: recipe {k.recipe}, key {k.key[:12]}, {patches}")
    return lines


def differences(a: Manifest, b: Manifest) -> list[str]:
    """What differs between two runs' provenance, keys shortened to 12."""
    def short(p: dict[str, str | None]) -> dict[str, str | None]:
        return {k: (v[:12] if v and k.endswith(" key") else v) for k, v in p.items()}
    return models.differences(short(a.provenance()), short(b.provenance()))
