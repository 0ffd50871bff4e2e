"""The qemu tier: real kernels and images from the cache (built if missing),
real QEMU. Every test here is marked `qemu`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.build.image import Image, ImageBuilder
from orchestrator.build.kernel import Kernel, KernelBuilder
from orchestrator.build.payload import Payload, build_payload
from orchestrator.paths import Project

REPO = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.qemu)


@dataclass(frozen=True)
class Built:
    baseline: Kernel
    upstream: Kernel
    l1: Image
    l2: Image
    payload: Payload


@pytest.fixture(scope="session")
def built() -> Built:
    project = Project(REPO)
    kernels = KernelBuilder(project)
    images = ImageBuilder(project)
    baseline = kernels.build("baseline")
    upstream = kernels.build("upstream")
    l2 = images.build("l2")
    return Built(baseline, upstream, images.build("l1"), l2, build_payload(l2, upstream))


def qemu_processes_mentioning(text: str) -> list[str]:
    """QEMU processes on this host whose command line contains `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "qemu-system" in cmd and text in cmd:
            found.append(f"{entry.name}: {cmd[:200]}")
    return found


@pytest.fixture
def no_qemu_left(tmp_path):
    """Yields a folder; afterwards no QEMU may mention it or our sockets."""
    yield tmp_path
    assert not qemu_processes_mentioning(str(tmp_path))
    assert not [p for p in qemu_processes_mentioning("orch-") if str(os.getpid()) in p]
