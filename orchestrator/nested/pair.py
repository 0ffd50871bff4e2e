"""The one path to a pair of machines: boot L1 with the cell's knobs on
its command line, write the knobs L1 takes after boot, read every knob
back, boot L2 with its own, and read those back. Cells, warm-start
templates and `orchestrator shell` all come through here.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator import knobs
from orchestrator.config.schema import L1Machine, L2Machine
from orchestrator.machine import ssh
from orchestrator.machine.boot import L1Artifacts, l1_spec, private_dir
from orchestrator.machine.guest import MachineError
from orchestrator.machine.host import AccelChoice
from orchestrator.machine.live import INTERRUPTED
from orchestrator.machine.machine import Machine
from orchestrator.machine.profile import HostProfile
from orchestrator.nested.l2 import NestedMachine

L2_SILENCE_S = 60.0  # L2 prints steadily while it boots; a minute of nothing is a stall
# A nested guest under TCG now and then stalls in early boot (timer
# interrupts stop arriving: an RCU stall on L2's console, then silence).
# That is the emulator's flake, not the kernel under test, so L2's boot -
# and only a silent or slow boot, never a panic - is retried, in the same L1.
L2_BOOT_ATTEMPTS = 2
RETRYABLE_L2_BOOT = ("silence", "timeout")


@dataclass(frozen=True)
class PairSpec:
    art: L1Artifacts
    l1: L1Machine
    l2: L2Machine  # with the knobs' part in it
    knobs: knobs.Knobs  # tdp among them
    accel: AccelChoice
    profile: HostProfile
    keys: ssh.Keys


def pair_spec(art: L1Artifacts, l1cfg: L1Machine, l2cfg: L2Machine, settings: knobs.Knobs,
              accel: AccelChoice, profile: HostProfile, keys: ssh.Keys) -> PairSpec:
    return PairSpec(art, l1cfg, knobs.l2_config(l2cfg, settings), settings, accel, profile, keys)


def start_l1(spec: PairSpec, folder: Path, stack: contextlib.ExitStack, notes: dict[str, Any]) -> Machine:
    """L1 up, SSH-ready and every knob it holds in force; `stack` stops it."""
    folder.mkdir(parents=True, exist_ok=True)
    sockets = stack.enter_context(private_dir())  # L1's QMP and console sockets: 0700, removed after
    words = knobs.l1_cmdline(spec.knobs, spec.profile)
    qemu = l1_spec(spec.art, spec.l1, spec.accel, sockets, spec.keys, extra_cmdline=words)
    l1 = Machine(qemu, folder, spec.keys, ready_timeout=spec.l1.boot_timeout_s)
    stack.callback(l1.shutdown)
    l1.launch()
    l1.wait_ready()
    notes["l1_boot_id"] = boot_id(l1)
    settle_l1(l1, spec, notes, [k for k in spec.knobs if knobs.stage(k[0]) != "l1-boot"])
    return l1


def boot_id(l1: Machine) -> str | None:
    """L1's kernel's random boot id: the same in every restore of one saved
    L1, new at every boot, so records show which boot measured them."""
    r = l1.run(["cat", "/proc/sys/kernel/random/boot_id"], timeout=30)
    text = r.stdout.strip()
    return text if r.exit_code == 0 and text else None


def settle_l1(l1: Machine, spec: PairSpec, notes: dict[str, Any], to_write: list[tuple[str, Any]]) -> None:
    """Write `to_write` in L1, then read back every knob L1 shows."""
    knobs.apply(l1, tuple(to_write), spec.l2)
    seen = knobs.in_force_l1(l1, spec.knobs, spec.profile)
    if "tdp" in seen:
        notes["tdp_in_force"] = seen["tdp"]
    notes.setdefault("knobs_in_force", {}).update(seen)


def start_l2(l1: Machine, spec: PairSpec, folder: Path, notes: dict[str, Any]) -> NestedMachine:
    """L2 up and SSH-ready in `l1`, its knobs in force; the caller stops it."""
    for attempt in range(1, L2_BOOT_ATTEMPTS + 1):
        l2 = NestedMachine(l1, spec.l2, folder, spec.keys, workarounds=spec.profile.l2_cmdline,
                           silence_timeout=L2_SILENCE_S)
        try:
            l2.launch()
            l2.wait_ready()
            notes.setdefault("knobs_in_force", {}).update(knobs.in_force_l2(l1, l2, spec.knobs, spec.l2))
            return l2
        except MachineError as exc:
            l2.shutdown()
            notes.setdefault("l2_boot_retries", []).append({"attempt": attempt, "cause": exc.cause})
            if exc.cause not in RETRYABLE_L2_BOOT or attempt == L2_BOOT_ATTEMPTS or INTERRUPTED.is_set():
                raise
            (folder / "l2-console.log").rename(folder / f"l2-console.attempt{attempt}.log")
        except BaseException:
            l2.shutdown()
            raise
    raise AssertionError("unreachable")


@contextlib.contextmanager
def boot_pair(spec: PairSpec, folder: Path, notes: dict[str, Any], *, l2_folder: Path | None = None,
              timings: dict[str, float] | None = None, phase: Any = lambda name: None,
              with_l2: bool = True) -> Iterator[tuple[Machine, NestedMachine | None]]:
    """L1 and (unless `with_l2` is false) L2, both stopped on the way out."""
    timings = {} if timings is None else timings
    with contextlib.ExitStack() as stack:
        phase("L1 boot")
        l1 = start_l1(spec, folder, stack, notes)
        timings["l1_boot_s"] = l1.timings["ready_s"]
        l2 = None
        if with_l2:
            phase("L2 boot")
            t = time.monotonic()
            l2 = start_l2(l1, spec, l2_folder or folder, notes)
            stack.callback(l2.shutdown)
            timings["l2_boot_s"] = time.monotonic() - t
        yield l1, l2
