"""Warm start: L1 and L2 booted once per group of cells, saved when ready,
and restored for every cell.

A group is what a booted pair cannot change: L1's kernel, both machines'
settings and every knob but the live ones (knobs/), tdp among them. Its
repetitions spread over several boots (plan/boots.py: one a repetition by
default), so a template serves one boot's cells. The
template boots L1, checks its knobs, boots L2 in it,
lets go of L2's channels (so L2's QEMU listens again), and saves L1 with
QMP/HMP `savevm`: RAM, devices and the rootfs overlay, so L2's whole state
rides along inside L1's. The collectors' recorders are started before the
save too, paused or with their events disabled, so a cell only enables
them. Each cell then `loadvm`s it: both levels start
from the same instant, with the same memory, page cache and KVM state, and
the cell's counters are deltas taken in that restored L1. What cells share
is the host's QEMU process (its translated-code cache) and L1's clock,
which keeps running across restores.

A template that failed in any way but a workload's own failure or timeout
is thrown away; the group's next cell boots a new one.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import logging
import time
from collections import OrderedDict
from dataclasses import replace
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from orchestrator import knobs
from orchestrator.collectors.base import Context
from orchestrator.experiment.cell import (
    CellInputs, Machines, Phase, WorkloadFailed, cell_pair, knobs_of, machine_configs, prepare_collectors,
)
from orchestrator.machine.guest import MachineError
from orchestrator.machine.machine import Machine
from orchestrator.nested.l2 import NestedMachine
from orchestrator.nested.pair import settle_l1, start_l1, start_l2
from orchestrator.plan import Cell

log = logging.getLogger(__name__)

TAG = "orchestrator-ready"  # a constant: nothing from a config reaches HMP
_ids = itertools.count(1)
GroupKey = tuple[Any, ...]


def group_of(inp: CellInputs, cell: Cell) -> GroupKey:
    """The template a cell restores: its machines, and which of the group's
    boots its repetition belongs to (plan/boots.py)."""
    l1cfg, l2cfg = machine_configs(inp.experiment, cell)
    return (cell.kernel, cell.tdp, l1cfg, l2cfg, knobs.at_boot(knobs_of(inp.experiment, cell)),
            inp.boots.index(cell.rep))


class Template:
    """One group's L1 (with L2 inside), saved when both were ready."""

    def __init__(self, inp: CellInputs, cell: Cell, folder: Path):
        self.inp = inp
        self.kernel, self.tdp = cell.kernel, cell.tdp
        self.spec = cell_pair(inp, cell)
        self.folder = folder
        self.l1: Machine | None = None
        self.l2_pid: int | None = None
        self.cells = 0
        self.prepared: dict[str, Any] = {}
        self.timings: dict[str, float] = {}
        self.notes: dict[str, Any] = {}
        self._stack = contextlib.ExitStack()

    def create(self, phase: Phase) -> None:
        inp = self.inp
        try:
            phase("L1 boot")
            l1 = self.l1 = start_l1(self.spec, self.folder, self._stack, self.notes)
            self.timings["l1_boot_s"] = l1.timings["ready_s"]
            phase("L2 boot")
            t = time.monotonic()
            l2 = start_l2(l1, self.spec, self.folder, self.notes)
            self.timings["l2_boot_s"] = time.monotonic() - t
            self.l2_pid = l2.pid
            phase("collect (prepare)")
            t = time.monotonic()
            assert l2.pid is not None
            self.prepared = prepare_collectors(inp.experiment, Context(l1, l2.pid, self.folder), for_save=True)
            self.timings["collect_prepare_saved_s"] = time.monotonic() - t
            # L2 paused, so L1's vCPU is not in guest mode when saved: QEMU
            # refuses to load a nested guest-mode vCPU it has no KVM nested
            # state for (TCG). Attaching after a restore continues L2.
            l2.qmp("stop")
            l2.detach()
            l2.wait_chardevs_free()
            phase("save")
            self.timings["save_s"] = l1.save_snapshot(TAG)
        except BaseException:
            self.close()
            raise

    @contextlib.contextmanager
    def restored(self, logs: Path, phase: Phase, timings: dict[str, float], cell: Cell | None = None,
                 notes: dict[str, Any] | None = None) -> Iterator[Machines]:
        """`cell`: whose live knobs (which may differ from the template's) are written and read back."""
        notes = {} if notes is None else notes
        live = knobs.live(knobs_of(self.inp.experiment, cell)) if cell else ()
        assert self.l1 is not None and self.l2_pid is not None
        l1 = self.l1
        self.cells += 1
        l1.mark_console(f"restore {TAG} for {logs.name}")
        phase("restore")
        timings["restore_s"] = l1.restore_snapshot(TAG)
        t = time.monotonic()
        l2 = NestedMachine.adopt(l1, self.spec.l2, logs, self.inp.keys, self.l2_pid,
                                 workarounds=self.spec.profile.l2_cmdline)
        timings["l2_attach_s"] = time.monotonic() - t
        try:
            if live:  # a live knob may differ from the template's: written now, read back
                settle_l1(l1, replace(self.spec, knobs=live), notes, list(live))
            yield l1, l2, self.prepared
        finally:
            l2.detach()
            l1.disconnect_ssh()

    def close(self) -> None:
        self._stack.close()
        self.l1 = None


class Templates:
    """A worker's templates, least recently used first out: `limit` bounds
    how many L1s (each holding its RAM) one worker keeps paused."""

    def __init__(self, run_logs: Path, limit: int = 2):
        self.run_logs = run_logs
        self.limit = max(1, limit)
        self._held: OrderedDict[GroupKey, Template] = OrderedDict()

    def held(self) -> set[GroupKey]:
        return set(self._held)

    def room(self) -> bool:
        return len(self._held) < self.limit

    def close(self) -> None:
        while self._held:
            self._held.popitem()[1].close()

    def discard(self, key: GroupKey) -> None:
        template = self._held.pop(key, None)
        if template:
            template.close()

    @contextlib.contextmanager
    def machines(self, inp: CellInputs, cell: Cell, logs: Path, phase: Phase,
                 timings: dict[str, float], notes: dict[str, Any]) -> Iterator[Machines]:
        """The cell's L1 and L2 restored from its group's template, booting
        the template first if this worker has none."""
        key, boot = group_of(inp, cell), inp.boots.index(cell.rep)
        template = self._held.get(key)
        if template is None:
            while len(self._held) >= self.limit:
                self._held.popitem(last=False)[1].close()
            ident = f"{next(_ids):03d}-{cell.kernel}-tdp-{cell.tdp or 'default'}-boot{boot}"
            ident += "".join(f"-{k}-{knobs.text(v)}" for k, v in cell.knobs)
            ident = re.sub(r"[^A-Za-z0-9._-]", "_", ident)[:120]  # a folder name, whatever the values
            template = Template(inp, cell, self.run_logs / "_machines" / ident)
            notes["machines"] = f"_machines/{template.folder.name}"
            try:
                template.create(phase)
            finally:  # the cell that boots the template carries its costs and retries
                timings.update(template.timings)
                if "l2_boot_retries" in template.notes:
                    notes["l2_boot_retries"] = template.notes["l2_boot_retries"]
            self._held[key] = template
        self._held.move_to_end(key)
        notes["start"] = "snapshot"
        notes["machines"] = f"_machines/{template.folder.name}"
        notes["template"] = boot
        notes["l1_boot_id"] = template.notes.get("l1_boot_id")
        notes["tdp_in_force"] = template.notes["tdp_in_force"]
        notes["knobs_in_force"] = dict(template.notes.get("knobs_in_force", {}))
        try:
            with template.restored(logs, phase, timings, cell, notes) as pair:
                notes["restores"] = template.cells
                yield pair
                phase("detach")
        except WorkloadFailed:
            raise  # the machines are fine; the next restore resets them
        except MachineError as exc:
            # a workload past its timeout while every level still answered
            # (see cell.who_failed) leaves healthy machines: keep them
            if exc.cause != "workload-timeout":
                self.discard(key)
            raise
        except BaseException:
            self.discard(key)
            raise
