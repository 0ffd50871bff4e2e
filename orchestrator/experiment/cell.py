"""One cell, start to finish: boot L1 with the cell's kernel and tdp, start
L2, snapshot the collectors, run the workload in L2, snapshot again while L2
is alive, tear down, and return the record. A failure becomes a failed
record with its class and evidence, never an exception that loses the cell.
"""

from __future__ import annotations

import contextlib
import os
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from orchestrator.collectors import REGISTRY as COLLECTORS
from orchestrator.collectors.base import Collected, Context, StartFailed
from orchestrator.config.schema import Experiment, HostFile, L1Machine, L2Machine
from orchestrator.errors import OrchestratorError
from orchestrator.experiment import faults
from orchestrator.experiment.uploads import MissingSelftest, selftest_files, upload
from orchestrator.experiment.workload import kind_of, level_of, workload_args, workload_of
from orchestrator.experiment.watchdog import CellWatchdog, budget_s
from orchestrator.machine import ssh
from orchestrator import knobs
from orchestrator.machine.boot import L1Artifacts
from orchestrator.machine.host import AccelChoice
from orchestrator.machine.profile import HostProfile, profile_for
from orchestrator.machine.diagnose import diagnose
from orchestrator.machine.guest import PROBE_TIMEOUT_S, MachineError
from orchestrator.machine.live import INTERRUPTED
from orchestrator.nested.l2 import NestedMachine
from orchestrator.nested.pair import L2_BOOT_ATTEMPTS, PairSpec, pair_spec, start_l1, start_l2
from orchestrator.plan import Cell
from orchestrator.plan.boots import Boots
from orchestrator.workloads import REGISTRY as WORKLOADS
from orchestrator.workloads import WorkloadOutputError

Phase = Callable[[str], None]
# (inputs, cell, logs, phase, timings, notes) -> context manager of (L1, L2)
MachinesFactory = Callable[..., contextlib.AbstractContextManager]


class WorkloadFailed(OrchestratorError):
    def __init__(self, message: str, evidence: str = "", level: str = "L2"):
        self.evidence, self.level = evidence, level  # the level it ran in
        super().__init__(message)


@dataclass(frozen=True)
class CellInputs:
    experiment: Experiment
    kernels: dict[str, Path]  # variant -> bzImage
    l1_rootfs: Path
    payload: Path
    accel: AccelChoice
    keys: ssh.Keys
    profile: HostProfile | None = None  # None: derived from accel
    selftests: Mapping[str, Any] = field(default_factory=dict)  # variant -> its built selftests (build/selftests.py)
    boots: Boots = Boots()  # warm start: which template boot each repetition restores

    @property
    def host(self) -> HostProfile:
        return self.profile or profile_for(self.accel)


def machine_configs(exp: Experiment, cell: Cell) -> tuple[L1Machine, L2Machine]:
    params = dict(cell.params)
    l1, l2 = exp.machines.l1, exp.machines.l2
    l1 = l1.model_copy(update={k[3:]: v for k, v in params.items() if k in ("l1_cpus", "l1_memory_mib")})
    l2 = l2.model_copy(update={k[3:]: v for k, v in params.items() if k in ("l2_cpus", "l2_memory_mib")})
    return l1, l2


# (L1 Machine, L2, the collectors' state if they were prepared before L1 was saved)
Machines = tuple[Any, NestedMachine, "dict[str, Any] | None"]


def knobs_of(exp: Experiment, cell: Cell) -> knobs.Knobs:
    """Every knob of the cell: tdp, the experiment's own, the matrix's."""
    return (("tdp", cell.tdp), *exp.knobs.items(), *cell.knobs)


def cell_pair(inp: CellInputs, cell: Cell) -> PairSpec:
    l1cfg, l2cfg = machine_configs(inp.experiment, cell)
    art = L1Artifacts(inp.kernels[cell.kernel], inp.l1_rootfs, inp.payload)
    return pair_spec(art, l1cfg, l2cfg, knobs_of(inp.experiment, cell), inp.accel, inp.host, inp.keys)


@contextlib.contextmanager
def fresh_machines(inp: CellInputs, cell: Cell, logs: Path, phase: Phase,
                   timings: dict[str, float], notes: dict[str, Any]) -> Iterator[Machines]:
    """start: boot - this cell's own L1 and L2, booted now and stopped after."""
    spec = cell_pair(inp, cell)
    with contextlib.ExitStack() as stack:
        phase("L1 boot")
        l1 = start_l1(spec, logs, stack, notes)
        timings["l1_boot_s"] = l1.timings["ready_s"]
        phase("L2 boot")
        t = time.monotonic()
        l2 = start_l2(l1, spec, logs, notes)
        timings["l2_boot_s"] = time.monotonic() - t
        try:
            yield l1, l2, None
            phase("teardown")
            t_down = time.monotonic()
        finally:
            l2.shutdown()
        timings["l2_teardown_s"] = time.monotonic() - t_down
    timings["teardown_s"] = time.monotonic() - t_down


def _concurrently(calls: list[Callable[[], Any]], durations: dict[str, float] | None = None,
                  names: list[str] | None = None) -> list[Any]:
    """Collectors start and stop side by side: each is a few SSH round trips
    to a slow emulated L1, and one at a time they cost seconds per cell.
    `durations[name]` gets each call's own time."""

    def timed(i: int) -> Any:
        t = time.monotonic()
        try:
            return calls[i]()
        finally:
            if durations is not None and names:
                durations[names[i]] = time.monotonic() - t

    if len(calls) <= 1:
        return [timed(i) for i in range(len(calls))]
    with ThreadPoolExecutor(max_workers=len(calls), thread_name_prefix="collect") as pool:
        futures = [pool.submit(timed, i) for i in range(len(calls))]
        return [f.result() for f in futures]


def collectors_of(exp: Experiment) -> list[Any]:
    return [COLLECTORS[name]() for name in exp.collectors if name in COLLECTORS]


PREPARED = "_prepared"  # in a collectors' state: the names already prepared


def prepare_collectors(exp: Experiment, ctx: Context, *, for_save: bool = False) -> dict[str, Any]:
    """The collectors' slow start, before a cell, or before L1 is saved for
    those that can live through a restore (`save_prepared`, default yes)."""
    done = set(ctx.state.get(PREPARED, ()))
    todo = [c for c in collectors_of(exp) if c.name not in done and (not for_save or getattr(c, "save_prepared", True))]
    _concurrently([lambda c=c: c.prepare(ctx) for c in todo])
    ctx.state[PREPARED] = sorted(done | {c.name for c in todo})
    return dict(ctx.state)


def qemu_cpu_s(l1: Any) -> float | None:
    """L0's view of L1: the host CPU time (user + system) L1's QEMU has used
    so far, from /proc/<pid>/stat; None where there is no such process."""
    process = getattr(l1, "process", None)
    try:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rpartition(")")[2].split()
    except (AttributeError, OSError):
        return None
    # after the command name: utime and stime are fields 14 and 15 of stat(5)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(exp: Experiment, cell: Cell, l1, l2: NestedMachine, logs: Path, phase: Phase,
            timings: dict[str, float], prepared: dict[str, Any] | None = None,
            notes: dict[str, Any] | None = None, files: Sequence[HostFile] = ()) -> dict[str, float]:
    """Collectors around the workload in a ready L2 (or in L1, beside it);
    the cell's metrics. What the collectors note (events they left out)
    goes into `notes`; `files` are copied in with the workload's own (the
    kernel's selftest a selftest workload runs)."""
    kind, argv, timeout = workload_of(exp, cell)
    assert l2.pid is not None
    ctx = Context(l1, l2.pid, logs, dict(prepared or {}))
    collectors = collectors_of(exp)
    if len(ctx.state.get(PREPARED, ())) < len(collectors):
        phase("collect (prepare)")
        t = time.monotonic()
        prepare_collectors(exp, ctx)
        timings["collect_prepare_s"] = time.monotonic() - t
    guest = _workload_guest(exp, cell, l1, l2, phase, notes, files)  # files copied before any counter is read
    phase("collect (before)")
    t = time.monotonic()
    cpu_before = qemu_cpu_s(l1)
    names = [c.name for c in collectors]
    each: dict[str, float] = {}
    _concurrently([lambda c=c: c.start(ctx) for c in collectors], each, names)
    timings.update({f"collect_start.{n}_s": v for n, v in each.items()})
    timings["collect_start_s"] = time.monotonic() - t
    result = _workload(cell, guest, l1, l2, argv, timeout, logs, phase, timings)
    phase("collect (after)")
    t = time.monotonic()
    each = {}
    collected: list[Collected] = _concurrently([lambda c=c: c.stop(ctx) for c in collectors], each, names)
    timings.update({f"collect_stop.{n}_s": v for n, v in each.items()})
    timings["collect_stop_s"] = time.monotonic() - t
    cpu_after = qemu_cpu_s(l1)
    if notes is not None:
        for c in collected:
            notes.update(c.notes)
    workload = WORKLOADS[kind]
    if result.exit_code != 0:
        raise WorkloadFailed(workload.exited(result.exit_code),
                             (result.stdout[-1000:] + "\n" + result.stderr[-1000:]).strip(), guest.level)
    try:
        parsed = workload.read(result.stdout + "\n" + result.stderr, workload_args(exp, cell)[1])  # stress-ng logs to stderr
    except WorkloadOutputError as exc:
        raise WorkloadFailed(f"{kind}: {exc}", result.stdout[-2000:], guest.level) from None
    metrics = {f"{workload.namespace}.{k}": v for k, v in parsed.items()}
    if cpu_before is not None and cpu_after is not None:
        metrics["l0.l1_qemu_cpu_s"] = cpu_after - cpu_before
    for c in collected:
        metrics.update(c.metrics)
    still_running(l1, l2)
    return metrics


def _workload_guest(exp: Experiment, cell: Cell, l1, l2: NestedMachine, phase: Phase,
                    notes: dict[str, Any] | None, extra: Sequence[HostFile] = ()) -> Any:
    """The guest the workload runs in (L2, or L1 for programs that drive
    L1's KVM themselves), with the workload's host files copied there."""
    wdef = exp.workloads.get(cell.workload)
    guest = l1 if level_of(exp, cell) == "l1" else l2
    files = (*(wdef.files if wdef is not None else ()), *extra)
    if files:
        phase("upload")
        copied = upload(guest, files)
        if notes is not None:
            notes["workload_files"] = copied
    return guest


def _workload(cell: Cell, guest: Any, l1, l2: NestedMachine, argv: list[str], timeout: float, logs: Path,
              phase: Phase, timings: dict[str, float]) -> Any:
    phase(f"workload {cell.workload}")
    t = time.monotonic()
    with faults.armed(cell.id, l1, l2, argv):  # ORCHESTRATOR_FAULTS, for the fault-injection suite only
        result = guest.run(argv, timeout=timeout)
    timings["workload_s"] = time.monotonic() - t
    (logs / "workload.out").write_text(result.stdout)
    (logs / "workload.err").write_text(result.stderr)
    return result


def still_running(*guests: Any) -> None:
    """Both levels still run once the counters are in: a level that froze
    after the workload (QEMU paused, or its QMP silent) fails the cell
    rather than passing it unnoticed. One QMP round trip a level, on the
    cell thread that owns the clients, after the measurement."""
    for guest in guests:
        guest.check()
        status = guest.probe_qmp(PROBE_TIMEOUT_S)
        if status != "running":
            raise guest.fail("hang", f"the guest stopped running during the cell (QEMU status {status!r})")


def who_failed(exc: Exception, l1, l2) -> MachineError | None:
    """Which level failed when the workload or a collector did, probed
    while the machines are up (see `diagnose`): a panic, an exit or a hang
    of L1 or L2, or L1's sshd gone. A failure the probes do not explain
    stays as it was, except a command that ran out of time while every
    level still answers: that is the workload's own, "workload-timeout"."""
    if INTERRUPTED.is_set():
        return None
    found, seen = diagnose(l1, l2)
    if found is not None:
        return found
    if isinstance(exc, MachineError) and exc.cause == "command-timeout":
        detail = str(exc).split("\n", 1)[0].split(": ", 2)[-1]
        return MachineError(exc.level, "workload-timeout", f"{detail}; every level still answers",
                            console_tail=f"[probes] {'; '.join(seen)}\n{exc.console_tail}")
    return None


def failure_of(exc: BaseException) -> dict[str, Any]:
    """A failed record's `failure`: class, level, message and evidence."""
    if isinstance(exc, MachineError):
        return {"class": "interrupted" if INTERRUPTED.is_set() else exc.cause, "level": exc.level,
                "message": str(exc).split("\n", 1)[0], "evidence": exc.console_tail}
    if isinstance(exc, WorkloadFailed):
        return {"class": "workload", "level": exc.level, "message": str(exc), "evidence": exc.evidence}
    if isinstance(exc, StartFailed):  # retried once (runner.RETRYABLE)
        return {"class": "collector-start", "level": "L1", "message": str(exc).split("\n", 1)[0],
                "evidence": str(exc)[-3000:]}
    if isinstance(exc, MissingSelftest):  # as the gate says of it
        return {"class": "not-built", "level": "host", "message": str(exc), "evidence": ""}
    return {"class": "interrupted" if INTERRUPTED.is_set() else "infrastructure", "level": "host",
            "message": f"{type(exc).__name__}: {exc}", "evidence": traceback.format_exc()[-3000:]}


def cell_budget(exp: Experiment, cell: Cell) -> float:
    l1cfg, l2cfg = machine_configs(exp, cell)
    return budget_s(l1cfg, l2cfg, workload_of(exp, cell)[2], L2_BOOT_ATTEMPTS)


def run_cell(inp: CellInputs, cell: Cell, logs: Path, phase: Phase = lambda p: None,
             machines: MachinesFactory | None = None, budget: float | None = None) -> dict[str, Any]:
    """`machines` gives the cell its L1 and L2 (a warm start restores them);
    by default the cell boots its own. A watchdog bounds the whole cell."""
    exp = inp.experiment
    started = datetime.now(timezone.utc)
    t0 = time.monotonic()
    timings: dict[str, float] = {}
    metrics: dict[str, float] = {}
    notes: dict[str, Any] = {}
    failure: dict[str, Any] | None = None
    watchdog = CellWatchdog(cell.id, budget or cell_budget(exp, cell))

    def step(name: str) -> None:
        watchdog.phase = name
        faults.at_phase(cell.id, name)  # ORCHESTRATOR_FAULTS, for the fault-injection suite only
        phase(name)

    with watchdog:
        try:
            metrics.update(_measured(inp, cell, logs, step, machines or fresh_machines, timings, notes))
        except _Diagnosed as exc:
            failure = failure_of(exc.found)
        except Exception as exc:  # noqa: BLE001 - any error at all is a failed cell, never a lost one
            failure = failure_of(exc)
    if watchdog.expired:
        failure = watchdog.failure(failure)
        notes["watchdog"] = {"budget_s": round(watchdog.budget), "expired_in": watchdog.expired_in,
                             "machines_stopped": watchdog.escalated}
    timings["cell_s"] = time.monotonic() - t0
    if "workload_s" in timings:
        timings["overhead_s"] = timings["cell_s"] - timings["workload_s"]
    metrics.update({f"time.{k}": v for k, v in timings.items()})
    return _record(exp, cell, failure, metrics, timings, notes, started)


class _Diagnosed(Exception):
    """The probes' verdict: it wins over whatever tearing down a broken
    machine raises afterwards."""

    def __init__(self, found: MachineError):
        self.found = found
        super().__init__(str(found))


def _measured(inp: CellInputs, cell: Cell, logs: Path, phase: Phase, factory: MachinesFactory,
              timings: dict[str, float], notes: dict[str, Any]) -> dict[str, float]:
    diagnosed: list[MachineError] = []
    # the kernel's selftest, for a selftest workload: one that did not build fails the cell before any boot
    files = selftest_files(inp.selftests, cell.kernel, WORKLOADS[kind_of(inp.experiment, cell.workload)])
    try:
        with factory(inp, cell, logs, phase, timings, notes) as (l1, l2, prepared):
            try:
                return measure(inp.experiment, cell, l1, l2, logs, phase, timings, prepared, notes, files)
            except Exception as exc:
                found = who_failed(exc, l1, l2)  # while both machines are still up
                if found is None:
                    raise
                diagnosed.append(found)
                raise found from exc
    except Exception:
        if diagnosed:
            raise _Diagnosed(diagnosed[0]) from None
        raise


def _record(exp: Experiment, cell: Cell, failure: dict[str, Any] | None, metrics: dict[str, float],
            timings: dict[str, float], notes: dict[str, Any], started: datetime) -> dict[str, Any]:
    kind, argv, timeout = workload_of(exp, cell)
    ok = failure is None
    return {
        "cell": {"id": cell.id, "index": cell.index, **cell.coords},
        "status": "ok" if ok else "failed",
        "failure": failure,
        "metrics": metrics if ok else {},
        "partial_metrics": metrics if not ok else {},
        "timings": timings,
        "workload": {"kind": kind, "argv": argv, "timeout_s": timeout, "level": level_of(exp, cell)},
        "notes": notes,
        **_boot(notes),
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _boot(notes: dict[str, Any]) -> dict[str, Any]:
    """The L1 boot the cell was measured in, the statistics' unit: its
    kernel's boot_id, and which of its group's templates (warm start)."""
    if not notes.get("l1_boot_id"):
        return {}
    return {"boot": {"id": notes["l1_boot_id"], "template": notes.get("template")}}
