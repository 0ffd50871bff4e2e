"""Where a run's numbers come from, as every report opens with it: the
accelerator and why, the host CPU, QEMU, and each kernel with its key and
patch subjects. Two runs' provenance compared says where they differ."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
    others: dict[str, str] = field(default_factory=dict)  # L2 kernel, images: name -> key

    @property
    def emulated(self) -> bool:
        """Time under TCG is the emulator's; an unrecorded accelerator is
        treated as TCG too: nothing proves the timings are the hardware's."""
        return self.accel != "kvm"


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) and value else UNKNOWN


def _kernel(k: Any) -> KernelInfo:
    k = _obj(k)
    patches = k.get("patches") if isinstance(k.get("patches"), list) else []
    return KernelInfo(_text(k.get("recipe")), _text(k.get("key")),
                      tuple(_text(_obj(p).get("subject") or _obj(p).get("file")) for p in patches))


def of(run_id: str, manifest: dict[str, Any]) -> RunInfo:
    accel, art = _obj(manifest.get("accel")), _obj(manifest.get("artifacts"))
    kernels = {str(v): _kernel(k) for v, k in _obj(art.get("kernels")).items()}
    others = {"L2 kernel": _text(_obj(art.get("l2_kernel")).get("key"))}
    others.update({f"image {n}": _text(_obj(i).get("key")) for n, i in _obj(art.get("images")).items()})
    return RunInfo(run_id, _text(accel.get("accel")), _text(accel.get("reason")),
                   _text(_obj(manifest.get("host")).get("cpu")), _text(manifest.get("qemu_version")), kernels, others)


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


def differences(a: RunInfo, b: RunInfo) -> list[str]:
    """What differs between two runs' provenance, one line per field."""
    out = []
    for what, x, y in (("accelerator", a.accel, b.accel), ("host CPU", a.host_cpu, b.host_cpu),
                       ("QEMU", a.qemu_version, b.qemu_version)):
        if x != y:
            out.append(f"{what}: {x} / {y}")
    ka = {f"kernel {v} key": k.key for v, k in a.kernels.items()} | a.others
    kb = {f"kernel {v} key": k.key for v, k in b.kernels.items()} | b.others
    for name in sorted(set(ka) | set(kb)):
        if ka.get(name) != kb.get(name):
            out.append(f"{name}: {ka.get(name, 'absent')[:12]} / {kb.get(name, 'absent')[:12]}")
    return out
