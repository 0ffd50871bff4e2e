#!/usr/bin/env python3
"""Boot times under this host's accelerator: L1 to SSH-ready with the
baseline kernel, then L2 (npt/ept on) inside it to SSH-ready.

    .venv/bin/python bench/boot.py [--runs 3]

Builds whatever is missing first (not timed). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import common  # noqa: F401  (sets sys.path)

from orchestrator.build.image import ImageBuilder
from orchestrator.build.kernel import KernelBuilder
from orchestrator.build.payload import build_payload
from orchestrator.config.schema import L1Machine, L2Machine
from orchestrator.machine import ssh
from orchestrator.machine.boot import L1Artifacts
from orchestrator.machine.host import choose_accel
from orchestrator.machine.profile import checked_profile
from orchestrator.nested.pair import boot_pair, pair_spec
from orchestrator.paths import Project


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    project = Project(Path(__file__).resolve().parents[1])
    kernels, images = KernelBuilder(project), ImageBuilder(project)
    baseline, upstream = kernels.build("baseline"), kernels.build("upstream")
    l1img, l2img = images.build("l1"), images.build("l2")
    payload = build_payload(l2img, upstream)
    accel = choose_accel("auto")
    print(f"accelerator: {accel.accel} ({accel.reason})")
    art = L1Artifacts(baseline.bzimage, l1img.rootfs, payload.disk)
    l1_ready, l1_console, l2_ready, l2_console, teardown = [], [], [], [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="bench-boot-") as tmp:
            folder = Path(tmp)
            keys = ssh.generate_keys(folder / "keys")
            spec = pair_spec(art, L1Machine(), L2Machine(), (("tdp", "on"),), accel, checked_profile(accel), keys)
            timings: dict[str, float] = {}
            with boot_pair(spec, folder / "l1", {}, l2_folder=folder / "l2", timings=timings) as (l1, l2):
                l1_ready.append(l1.timings["ready_s"])
                l1_console.append(l1.timings["console_ready_s"])
                l2_ready.append(timings["l2_boot_s"])
                l2_console.append(l2.timings["console_ready_s"])
            teardown.append(l1.timings.get("teardown_s", 0.0))
    common.report("boot to SSH-ready (launch included)", {
        "L1 ready (console marker)": l1_console,
        "L1 ready (SSH answers)": l1_ready,
        "L2 in L1, npt/ept=1 (console marker)": l2_console,
        "L2 in L1, npt/ept=1 (SSH answers)": l2_ready,
        "L1 teardown": teardown,
    })


if __name__ == "__main__":
    main()
