"""Boot L1 from built artifacts: the spec for the cell, and its teardown.

EPT/NPT is set on L1's kernel command line for both vendors' modules
(only the one matching L1's CPU is in force) and verified in L1 before
anything runs there.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from orchestrator.config.schema import L1Machine
from orchestrator.machine import ssh
from orchestrator.machine.host import AccelChoice
from orchestrator.machine.guest import free_port
from orchestrator.machine.machine import Machine
from orchestrator.machine.qemu import Drive, Endpoint, QemuSpec, kernel_cmdline

TDP_PARAMS = {"svm": ("kvm_amd", "npt"), "vmx": ("kvm_intel", "ept")}


@contextlib.contextmanager
def private_dir(prefix: str = "orch-") -> Iterator[Path]:
    """A 0700 folder for QMP and console sockets; short, for AF_UNIX's limit."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@dataclass(frozen=True)
class L1Artifacts:
    kernel: Path  # bzImage
    rootfs: Path  # ext4, opened with snapshot=on: the cache entry stays pristine
    payload: Path | None = None  # ext4 with what L2 needs, read-only as /dev/vdb


def l1_spec(art: L1Artifacts, cfg: L1Machine, accel: AccelChoice, tdp: str | None,
            sockets: Path, keys: ssh.Keys, extra_cmdline: tuple[str, ...] = ()) -> QemuSpec:
    """`extra_cmdline`: the knobs' words (nested/pair.py), tdp's among them."""
    extra_cmdline = tuple(extra_cmdline)
    if tdp:
        value = "1" if tdp == "on" else "0"
        extra_cmdline += (f"kvm_amd.npt={value}", f"kvm_intel.ept={value}")
    drives = [Drive(str(art.rootfs), snapshot=True)]
    if art.payload:
        drives.append(Drive(str(art.payload), readonly=True))
    return QemuSpec(
        name="l1",
        accel=accel.accel,
        cpu=cfg.cpu_model or accel.cpu_model,
        smp=cfg.cpus,
        memory_mib=cfg.memory_mib,
        kernel=str(art.kernel),
        append=kernel_cmdline("l1", (*extra_cmdline, *cfg.cmdline)),
        console=Endpoint(path=str(sockets / "console.sock")),
        qmp=Endpoint(path=str(sockets / "qmp.sock")),
        watch=Endpoint(path=str(sockets / "watch.sock")),
        spare=Endpoint(path=str(sockets / "spare.sock")),
        ssh_port=free_port(),
        drives=tuple(drives),
        fw_cfg=(("authorized_keys", str(keys.client_pub)), ("ssh_host_ed25519_key", str(keys.host))),
    )


def tdp_in_force(machine: Machine) -> tuple[str, str, str]:
    """(virtualization flag, parameter file, value) as L1 sees them."""
    flags = machine.run(["grep", "-m1", "-o", "-w", "-E", "svm|vmx", "/proc/cpuinfo"]).stdout.strip()
    if flags not in TDP_PARAMS:
        raise machine.fail("tdp", "L1's CPU shows neither svm nor vmx: nested KVM is impossible")
    module, param = TDP_PARAMS[flags]
    path = f"/sys/module/{module}/parameters/{param}"
    value = machine.run(["cat", path], check=True).stdout.strip()
    return flags, path, value


def verify_tdp(machine: Machine, tdp: str) -> str:
    """Abort the cell unless L1's KVM runs with the EPT/NPT mode asked for."""
    _, path, value = tdp_in_force(machine)
    want = "Y" if tdp == "on" else "N"
    if value not in (want, "1" if want == "Y" else "0"):
        raise machine.fail("tdp", f"{path} is {value}, the cell asks for tdp={tdp}")
    return f"{path}={value}"


@contextlib.contextmanager
def boot_l1(art: L1Artifacts, cfg: L1Machine, accel: AccelChoice, tdp: str | None,
            folder: Path, keys: ssh.Keys) -> Iterator[Machine]:
    """L1 booted to SSH-ready (and its tdp checked), stopped on the way out."""
    folder.mkdir(parents=True, exist_ok=True)
    with private_dir() as sockets:
        spec = l1_spec(art, cfg, accel, tdp, sockets, keys)
        machine = Machine(spec, folder, keys, ready_timeout=cfg.boot_timeout_s)
        try:
            machine.launch()
            machine.wait_ready()
            if tdp:
                verify_tdp(machine, tdp)
            yield machine
        finally:
            machine.shutdown()
