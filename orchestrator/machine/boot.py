"""L1's QEMU spec from built artifacts, its sockets in a private folder.

Booting it, with every knob set and checked, is nested/pair.py's: the one
path to a pair of machines.
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
from orchestrator.machine.qemu import Drive, Endpoint, QemuSpec, kernel_cmdline


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


def l1_spec(art: L1Artifacts, cfg: L1Machine, accel: AccelChoice, sockets: Path, keys: ssh.Keys,
            extra_cmdline: tuple[str, ...] = ()) -> QemuSpec:
    """`extra_cmdline`: the cell's knobs' words (nested/pair.py), tdp's among them."""
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
