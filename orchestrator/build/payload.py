"""The disk L1 carries for L2: L2's root file system and kernel.

Attached read-only to L1 as /dev/vdb, so the L1 image does not depend on
which L2 an experiment uses. Cached by the keys of the two it holds.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from orchestrator import proc
from orchestrator.build import space
from orchestrator.build.cache import Store, key_of
from orchestrator.build.image import Image
from orchestrator.build.kernel import Kernel
from orchestrator.paths import cache_root

FORMAT = 1
PAYLOAD = "payload.ext4"
L2_ROOTFS = "l2-rootfs.ext4"
L2_KERNEL = "l2-bzImage"


@dataclass(frozen=True)
class Payload:
    key: str
    path: Path
    cached: bool

    @property
    def disk(self) -> Path:
        return self.path / PAYLOAD


def build_payload(image: Image, kernel: Kernel, cache: Path | None = None) -> Payload:
    store = Store((cache or cache_root()) / "payload" / "builds")
    key = key_of({"format": FORMAT, "image": image.key, "kernel": kernel.key})
    hit = store.lookup(key)
    if hit:
        return Payload(key, hit, True)
    need = image.rootfs.stat().st_size + kernel.bzimage.stat().st_size + space.PAYLOAD_SLACK_BYTES
    space.require(store.root, need, "the L2 payload")
    start = time.monotonic()
    with store.staging(key) as stage:
        content = stage / "content"
        content.mkdir()
        for src, name in ((image.rootfs, L2_ROOTFS), (kernel.bzimage, L2_KERNEL)):
            try:
                os.link(src, content / name)
            except OSError:
                shutil.copy2(src, content / name)
        size_mib = (sum(p.stat().st_size for p in content.iterdir()) + space.PAYLOAD_SLACK_BYTES) // space.MIB
        proc.run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", "orch-payload", "-d", str(content),
                  str(stage / PAYLOAD), f"{size_mib}M"], timeout=600)
        shutil.rmtree(content)
        meta = {
            "kind": "payload", "key": key, "format": FORMAT, "image": image.key, "kernel": kernel.key,
            "files": [L2_ROOTFS, L2_KERNEL],
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "durations_s": {"total": round(time.monotonic() - start, 3)},
        }
        (stage / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
    return Payload(key, store.entry(key), False)
