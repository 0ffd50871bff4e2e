"""A real SIGTERM (and SIGINT) in the phases that run real programs: a cold
kernel build (make and its compilers), an image build (mmdebstrap), the
accelerator's probe boot, booting L1 and L2. Each ends `orchestrator`
within 5 s with exit 130, leaves no child process and no partial cache
entry or record. The phases without machines are in
tests/unit/test_interrupts.py; measuring is in tests/qemu/test_faults.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.errors import EXIT_INTERRUPTED
from orchestrator.supervisor import descendants

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "tests" / "qemu" / "faults.yaml"
BOUND_S = 5.0


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return ""


class Child:
    """`orchestrator ARGS` (through the console script's supervisor), and
    every process ever seen below it."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None, code: str | None = None):
        argv = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "orchestrator.cli.main", *args]
        self.log = open(log, "w")
        self.proc = subprocess.Popen(argv, cwd=REPO, env={**os.environ, **(env or {})},
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.seen: dict[int, str] = {}

    def wait_for(self, want, timeout: float = 900) -> None:
        """Until a process below us satisfies `want(argv0)`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, Path(self.log.name).read_text()[-3000:]
            for pid in descendants(self.proc.pid):
                comm = _comm(pid)  # read again: a child seen between fork and exec shows its parent's
                if comm:
                    self.seen[pid] = comm
                if want(comm):
                    return
            time.sleep(0.1)
        pytest.fail(f"nothing wanted appeared within {timeout:.0f}s")

    def signal(self, sig: int = signal.SIGTERM) -> tuple[int, float]:
        for pid in descendants(self.proc.pid):  # everything alive at the signal must go
            comm = _comm(pid)
            if comm:
                self.seen[pid] = comm
        t = time.monotonic()
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.log.close()
        return code, time.monotonic() - t

    def left(self) -> list[str]:
        """Processes we saw that still run (not zombies): none may."""
        time.sleep(0.5)
        out = []
        for pid, comm in self.seen.items():
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z" and _comm(pid) == comm:
                out.append(f"{pid} {comm}")
        return out


def _entries(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("metadata.json")] + list(cache.rglob(".staging-*"))


def test_sigterm_in_a_cold_kernel_build(tmp_path):
    cache = tmp_path / "cache"
    child = Child(["build", "kernel", "upstream", "--jobs", "2"], tmp_path / "build.log",
                  {"ORCHESTRATOR_CACHE": str(cache)})
    child.wait_for(lambda argv0: argv0.endswith("cc1") or Path(argv0).name == "gcc", timeout=900)
    code, took = child.signal()
    assert code == EXIT_INTERRUPTED and took < BOUND_S, (code, took)
    assert not child.left()
    assert not _entries(cache / "kernel")


def test_sigint_in_an_image_build(tmp_path):
    cache = tmp_path / "cache"
    child = Child(["build", "image", "l2"], tmp_path / "image.log", {"ORCHESTRATOR_CACHE": str(cache)})
    child.wait_for(lambda argv0: Path(argv0).name in ("apt-get", "dpkg", "/usr/bin/apt-get") or "apt" in argv0,
                   timeout=600)
    time.sleep(2.0)  # inside mmdebstrap's package phase
    code, took = child.signal(signal.SIGINT)
    assert code == EXIT_INTERRUPTED and took < BOUND_S, (code, took)
    assert not child.left()
    assert not _entries(cache / "image")


# The probe boot runs only on a host whose CPU shows vmx or svm; this one
# shows neither, so the child is told it does (in the parent, before the
# supervisor forks). On a paravirtual KVM QEMU may hang silently at the
# kernel's entry (feasibility.md) or fail at once (this host's QEMU asserts
# on an MSR): the probe's QEMU here is a stand-in that hangs, first on
# PATH, so the signal lands in the probe's wait every time.
PROBE = (
    "import sys\n"
    "from orchestrator.machine import host\n"
    "real = host.read_cpuinfo\n"
    "def with_svm(text=None):\n"
    "    c = real(text)\n"
    "    return host.CpuInfo(**{**c.__dict__, 'flags': frozenset(c.flags) | {'svm'}})\n"
    "host.read_cpuinfo = with_svm\n"
    "from orchestrator.cli.main import entry\n"
    "sys.argv = ['orchestrator', *sys.argv[1:]]\n"
    "sys.exit(entry())\n"
)


def test_sigterm_in_the_accelerator_probe(built, tmp_path):
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        pytest.skip("no usable /dev/kvm: the probe boot is never tried")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    hanging = bin_dir / "qemu-system-x86_64"
    hanging.write_text("#!/bin/sh\n# a probe boot that never reaches the kernel\nexec sleep 600\n")
    hanging.chmod(0o755)
    results = tmp_path / "results"
    child = Child(["run", str(CONFIG), "--results", str(results), "--only=rep=1"], tmp_path / "probe.log",
                  env={"PATH": f"{bin_dir}:{os.environ['PATH']}"}, code=PROBE)
    child.wait_for(lambda argv0: Path(argv0).name == "sleep" or argv0 == "/bin/sh", timeout=300)
    time.sleep(1.0)
    code, took = child.signal()
    assert code == EXIT_INTERRUPTED and took < BOUND_S, (code, took)
    assert not child.left()
    assert not results.exists() or not any(results.iterdir())  # no run was begun


@pytest.mark.parametrize("level", ["L1", "L2"])
def test_sigterm_while_booting(built, tmp_path, level):
    results = tmp_path / "results"
    child = Child(["run", str(CONFIG), "--results", str(results), "--only=rep=1"], tmp_path / "boot.log")
    child.wait_for(lambda argv0: "qemu-system" in argv0, timeout=300)
    if level == "L2":  # L2's console log appears as its QEMU starts in L1
        deadline = time.monotonic() + 300
        while not list(results.glob("*/logs/_machines/*/l2-console.log")) and time.monotonic() < deadline:
            time.sleep(0.2)
    time.sleep(1.0)
    code, took = child.signal()
    assert code == EXIT_INTERRUPTED and took < BOUND_S, (code, took)
    assert not child.left()
    (run,) = list(results.iterdir())
    for path in (run / "cells").iterdir():  # every record whole, the cell in flight interrupted
        assert not path.name.startswith(".")
        record = json.loads(path.read_text())
        assert record["status"] == "failed" and record["failure"]["class"] == "interrupted", record["failure"]
    assert not (run / ".keys").exists()
