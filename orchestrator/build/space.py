"""Free disk space a build needs, checked before it starts.

A build that fills the disk fails late (make at the link step, mke2fs at
the end), leaves a half-written work tree behind and says "No space left
on device" about some object file. Refusing at the start instead names the
folder and both figures.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from orchestrator.errors import InfraError

MIB = 1 << 20
GIB = 1 << 30

# Measured with `du -s` in a real cache (linux-source-6.1, the L1 and L2
# configs of kernels/, Debian 12, December 2026):
# - a work tree is 1.62 GiB (1.5 GiB source, 225 MiB objects); with room
#   for a config that builds more
KERNEL_WORK_TREE_BYTES = 2 * GIB
# - a `git:` source is first written as an uncompressed archive (1.3 GiB for
#   6.1) next to the tree it unpacks to
KERNEL_GIT_ARCHIVE_BYTES = 1536 * MIB
# - a build of a tree that is there writes a 3.5 MiB entry, its log, the
#   objects a patch touches and vmlinux again (~100 MiB) and new ccache
#   objects (ccache grew 59 MiB over three builds): with room to spare
KERNEL_INCREMENTAL_BYTES = 512 * MIB
# - an image build holds the mmdebstrap folder and the ext4 made from it at
#   once: l1's rootfs.ext4 is 467 MiB (289 MiB on disk) from a ~310 MiB
#   folder, so ~600 MiB at the peak; l2's is smaller. With room for more packages
IMAGE_BUILD_BYTES = 1 * GIB
# mke2fs adds this to what a payload holds (payload.py)
PAYLOAD_SLACK_BYTES = 64 * MIB


def kernel_need(tree_exists: bool, from_git: bool = False) -> int:
    """A kernel build's need: a whole work tree the first time."""
    if tree_exists:
        return KERNEL_INCREMENTAL_BYTES
    return KERNEL_INCREMENTAL_BYTES + KERNEL_WORK_TREE_BYTES + (KERNEL_GIT_ARCHIVE_BYTES if from_git else 0)


def _existing(folder: Path) -> Path:
    """`folder` or its nearest parent that exists (a cache not made yet)."""
    for cand in (folder, *folder.parents):
        if cand.is_dir():
            return cand
    return Path("/")


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def require(folder: Path, need: int, what: str) -> None:
    """Raise InfraError (exit 3) unless `folder`'s file system has `need`
    bytes free for `what`; called before the build starts anything."""
    free = shutil.disk_usage(_existing(folder)).free
    if free < need:
        raise InfraError(
            f"not enough disk space to build {what} in {folder}: it needs about {human(need)}, "
            f"{human(free)} is free (`orchestrator cache gc` removes what is unused)"
        )
