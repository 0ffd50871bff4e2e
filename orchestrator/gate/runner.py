"""Run the gate's tests in L1: one boot per kernel and tdp mode, each test
under a timeout, each result recorded as soon as it is known.

The programs are copied into L1 over SSH at run time and checked there by
sha256 (experiment/uploads.py, as the selftest workloads' are; the root
file system stays the same for every kernel). A test that takes L1 down (a panic, an
oops, a hang) is recorded as a crash with the console's last lines, and
the rest of its group runs in a fresh L1; an L1 that does not boot is the
infrastructure's failure and leaves its tests without records, for
`--resume`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from orchestrator.build.selftests import Selftests
from orchestrator.knobs import describe, text
from orchestrator.config.schema import L1Machine, L2Machine, Scalar
from orchestrator.experiment.uploads import selftest_file, upload
from orchestrator.gate.plan import GateCell, Knobs, groups, status_of, word
from orchestrator.machine import ssh
from orchestrator.machine.boot import L1Artifacts
from orchestrator.machine.guest import MachineError
from orchestrator.machine.host import AccelChoice
from orchestrator.machine.machine import Machine
from orchestrator.machine.profile import HostProfile
from orchestrator.nested.pair import boot_pair, pair_spec
from orchestrator.results import gate as records
from orchestrator.results.store import Run
from orchestrator.workloads.selftest_perf import L1_DIR

KILL_AFTER_S = 10  # `timeout -k`: a test that ignores SIGTERM is killed this long after
SSH_SLACK_S = 60  # SSH waits this much longer than the in-guest timeout
OUTPUT_CHARS = 16000  # the record keeps the end of the output; the log has all of it
TIMED_OUT = (124, 137)  # timeout(1): the test ran out of time (137: killed after -k)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class GateInputs:
    l1: L1Machine
    l2: L2Machine  # not booted: the knobs' pair spec wants it
    knobs: tuple[tuple[str, Scalar], ...]  # the experiment's fixed knobs, set in L1 as for its cells
    kernels: dict[str, Path]  # variant -> bzImage
    selftests: dict[str, Selftests]  # variant -> its built selftests
    rootfs: Path
    accel: AccelChoice
    profile: HostProfile
    keys: ssh.Keys

    @property
    def profile_name(self) -> str:
        """The host profile as the expunge files are named: tcg-svm, kvm-vmx..."""
        return f"{self.profile.accel}-{self.profile.virt}"


def run_gate(inputs: GateInputs, run: Run, cells: list[GateCell], progress: Progress = lambda s: None) -> None:
    """Every cell without a record gets one (unless its L1 did not boot)."""
    done = records.done(run)
    for (kernel, tdp, knobs), group in groups(c for c in cells if c.id not in done).items():
        _Group(inputs, run, kernel, tdp, knobs, progress).run(group)


class _Group:
    """The tests of one kernel and tdp mode, in as many L1 boots as crashes need."""

    def __init__(self, inputs: GateInputs, run: Run, kernel: str, tdp: str, knobs: Knobs, progress: Progress):
        self.inputs, self.run_, self.kernel, self.tdp, self.progress = inputs, run, kernel, tdp, progress
        self.knobs = knobs  # the matrix's, for this group; the experiment's fixed ones are in inputs
        self.name = "-".join([f"l1-{kernel}-tdp-{tdp}", *(word(k, v) for k, v in knobs)])
        self.selftests = inputs.selftests[kernel]
        self.boots = 0

    def run(self, cells: list[GateCell]) -> None:
        todo = []
        for cell in cells:
            if cell.test in self.selftests.built:
                todo.append(cell)
            else:
                error = self.selftests.failed.get(cell.test, f"{cell.test}: no such test in this kernel's tree")
                self._record(cell, "not-built", None, 0.0, error, {})
        while todo:
            todo = self._boot_and_run(todo)

    def _boot_and_run(self, todo: list[GateCell]) -> list[GateCell]:
        """Run tests in one L1 until they are done or one takes L1 down;
        returns the tests still to run."""
        self.boots += 1
        folder = self.run_.folder / "logs" / "gate" / f"{self.name}-{self.boots}"
        while folder.exists():  # a resumed run keeps the logs of the boots before
            self.boots += 1
            folder = folder.with_name(f"{self.name}-{self.boots}")
        inp = self.inputs
        art = L1Artifacts(inp.kernels[self.kernel], inp.rootfs)
        settings = (("tdp", self.tdp), *self.knobs, *inp.knobs)
        spec = pair_spec(art, inp.l1, inp.l2, settings, inp.accel, inp.profile, inp.keys)
        self.progress(f"gate: booting L1 ({self.kernel}, {describe(settings)})")
        notes: dict[str, Any] = {}
        with boot_pair(spec, folder, notes, with_l2=False) as (l1, _):  # tdp and knobs checked in force
            seen = {"profile": inp.profile_name, "knobs_in_force": notes.get("knobs_in_force", {}),
                    "l1_logs": str(folder.relative_to(self.run_.folder))}
            self._deliver(l1, todo)
            while todo:
                cell = todo.pop(0)
                self.progress(f"gate: {cell.describe()}")
                if not self._one(l1, cell, seen):
                    return todo  # L1 is down: the rest in a fresh one
        return todo

    def _deliver(self, l1: Machine, todo: list[GateCell]) -> None:
        """The tests' programs into L1, as a selftest workload gets its own."""
        upload(l1, [selftest_file(self.selftests, test) for test in sorted({c.test for c in todo})])

    def _one(self, l1: Machine, cell: GateCell, seen: dict[str, Any]) -> bool:
        """Run one test and record it (with `seen`: the L1 it ran in); False
        when it took L1 down."""
        argv = ["timeout", "-k", str(KILL_AFTER_S), str(int(cell.timeout_s)), f"{L1_DIR}/{cell.test}", *cell.args]
        start = time.monotonic()
        extra = {**seen, "argv": argv}
        try:
            r = l1.run(argv, timeout=cell.timeout_s + KILL_AFTER_S + SSH_SLACK_S)
        except MachineError as exc:
            status = "timeout" if exc.cause == "command-timeout" else "crash"
            self._record(cell, status, None, time.monotonic() - start, str(exc),
                         {**extra, "machine_failure": {"level": exc.level, "class": exc.cause}})
            return False
        output = r.stdout + (f"\n--- stderr ---\n{r.stderr}" if r.stderr.strip() else "")
        status = status_of(r.exit_code, r.exit_code in TIMED_OUT)
        self._record(cell, status, r.exit_code, r.elapsed, output, extra)
        return True

    def _record(self, cell: GateCell, status: str, exit_code: int | None, seconds: float, output: str,
                extra: dict[str, Any]) -> None:
        log = records.log_path(self.run_, cell.id)
        log.write_text(output)
        records.write(self.run_, cell.id, {
            "gate": {"id": cell.id, "kernel": cell.kernel, "tdp": cell.tdp, "test": cell.test, "mode": cell.mode,
                     "knobs": {k: text(v) for k, v in cell.knobs}},
            "status": status, "exit_code": exit_code, "seconds": round(seconds, 3),
            "args": list(cell.args), "timeout_s": cell.timeout_s,
            "output": output[-OUTPUT_CHARS:], "log": str(log.relative_to(self.run_.folder)),
            "selftests_key": self.selftests.key,
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **extra,
        })
