from __future__ import annotations

import pytest

from orchestrator.experiment.runner import retryable


def _rec(cls: str, level: str = "L2", workload_ran: bool = False) -> dict:
    timings = {"cell_s": 1.0, **({"workload_s": 1.0} if workload_ran else {})}
    return {"status": "failed", "failure": {"class": cls, "level": level}, "timings": timings}


def test_only_a_stalled_l2_boot_is_retried():
    assert retryable(_rec("silence"))
    assert retryable(_rec("timeout"))
    assert not retryable(_rec("panic"))
    assert not retryable(_rec("workload"))
    assert not retryable(_rec("silence", level="L1"))
    assert not retryable(_rec("silence", workload_ran=True))
    assert not retryable({"status": "ok", "failure": None, "timings": {}})


# Every failure class a record can carry (orchestrator/machine/guest.py's
# MachineError, run_cell's workload/infrastructure/interrupted, diagnose's
# hang and workload-timeout), with the levels it comes from, and whether
# the runner runs the cell once more.
RETRIED = {
    ("silence", "L2"), ("timeout", "L2"),  # L2's boot stalled: the emulator's flake
    ("snapshot", "L1"),  # the saved L1 did not save or load
    ("launch", "L1"),  # L1's QEMU did not start (a port taken under it)
    ("collector-start", "L1"),  # perf did not start in L1, before the workload
}
CLASSES = {
    "launch": ("L1", "L2"), "boot-failed": ("L1", "L2"), "silence": ("L1", "L2"), "timeout": ("L1", "L2"),
    "panic": ("L1", "L2"), "oops": ("L1", "L2"), "hang": ("L1", "L2"), "exited": ("L1", "L2"),
    "ssh": ("L1", "L2"), "qmp": ("L1", "L2"), "command-timeout": ("L1", "L2"), "command": ("L1", "L2"),
    "state": ("L1", "L2"), "tdp": ("L1",), "snapshot": ("L1",), "teardown": ("L2",),
    "workload": ("L2",), "workload-timeout": ("L2",), "infrastructure": ("host",), "interrupted": ("L1", "L2", "host"),
    "collector-start": ("L1",),
}


@pytest.mark.parametrize("cls, level", [(c, lv) for c, levels in CLASSES.items() for lv in levels])
def test_retryable_for_each_class(cls, level):
    assert retryable(_rec(cls, level)) == ((cls, level) in RETRIED)
    assert not retryable(_rec(cls, level, workload_ran=True))  # never once the workload ran


def test_no_retry_while_interrupted(monkeypatch):
    from orchestrator.experiment import runner

    monkeypatch.setattr(runner.INTERRUPTED, "is_set", lambda: True)
    assert not retryable(_rec("silence"))
    assert not retryable(_rec("snapshot", level="L1"))


def test_any_error_makes_a_failed_record_never_a_lost_cell(tmp_path):
    """Whatever a cell's machines raise (here a KeyError, as from a library
    bug), run_cell returns a failed record with the evidence."""
    import contextlib
    from pathlib import Path

    from orchestrator.config import load_experiment
    from orchestrator.experiment.cell import CellInputs, run_cell
    from orchestrator.plan import make_plan

    loaded = load_experiment(Path(__file__).resolve().parents[2] / "configs" / "nested-ept-off.yaml")
    cell = make_plan(loaded.experiment).cells[0]
    inp = CellInputs(loaded.experiment, {}, tmp_path, tmp_path, None, None)  # never reached

    @contextlib.contextmanager
    def broken(*_args):
        raise KeyError("from somewhere unexpected")
        yield  # pragma: no cover

    record = run_cell(inp, cell, tmp_path, machines=broken)
    assert record["status"] == "failed" and record["metrics"] == {}
    assert record["failure"]["class"] == "infrastructure" and record["failure"]["level"] == "host"
    assert "KeyError" in record["failure"]["message"] and "from somewhere unexpected" in record["failure"]["evidence"]


def test_collector_notes_reach_the_cell_record(tmp_path, monkeypatch):
    """What a collector left out (perf stat: tracepoints L1's kernel lacks)
    is in the cell's notes; the cell is ok."""
    import contextlib
    from pathlib import Path

    from orchestrator.collectors.base import Collected
    from orchestrator.config import load_experiment
    from orchestrator.experiment import cell as cellmod
    from orchestrator.machine.guest import CommandResult
    from orchestrator.plan import make_plan

    loaded = load_experiment(Path(__file__).resolve().parents[2] / "configs" / "nested-ept-off.yaml")
    cell = make_plan(loaded.experiment).cells[0]
    inp = cellmod.CellInputs(loaded.experiment, {}, tmp_path, tmp_path, None, None)

    class Running:
        """A level that still runs once the counters are in (still_running)."""

        def check(self): ...

        def probe_qmp(self, timeout):
            return "running"

    class L2(Running):
        level = "L2"
        pid = 5

        def run(self, argv, timeout):
            return CommandResult(tuple(argv), 0, 'RESULT {"value": 1.5}\n', "", 0.1)

    class Noting:
        name = "perf-stat"

        def prepare(self, ctx): ...

        def start(self, ctx): ...

        def stop(self, ctx):
            return Collected({"perf.kvm:kvm_exit": 3.0}, [], {"perf_stat_missing_events": ["kvmmmu:gone"]})

    @contextlib.contextmanager
    def machines(*_args):
        yield Running(), L2(), None

    monkeypatch.setattr(cellmod, "collectors_of", lambda exp: [Noting()])
    record = cellmod.run_cell(inp, cell, tmp_path, machines=machines)
    assert record["status"] == "ok", record["failure"]
    assert record["notes"]["perf_stat_missing_events"] == ["kvmmmu:gone"]
    assert record["metrics"]["perf.kvm:kvm_exit"] == 3.0


def test_a_recorder_that_did_not_start_is_a_retryable_failure(tmp_path):
    """perf exiting before it was ready (seen under load: a tracepoint
    format half read) fails the cell as collector-start in L1, which the
    runner runs once more; any other collector error stays infrastructure."""
    import contextlib
    from pathlib import Path

    from orchestrator.collectors.base import StartFailed
    from orchestrator.config import load_experiment
    from orchestrator.experiment.cell import CellInputs, run_cell
    from orchestrator.plan import make_plan

    loaded = load_experiment(Path(__file__).resolve().parents[2] / "configs" / "nested-ept-off.yaml")
    cell = make_plan(loaded.experiment).cells[0]
    inp = CellInputs(loaded.experiment, {}, tmp_path, tmp_path, None, None)

    @contextlib.contextmanager
    def perf_would_not_start(*_args):
        raise StartFailed("perf stat -e: perf exited before it was ready (exit 91): Error: expected type 5")
        yield  # pragma: no cover

    record = run_cell(inp, cell, tmp_path, machines=perf_would_not_start)
    assert record["failure"]["class"] == "collector-start" and record["failure"]["level"] == "L1"
    assert retryable(record)
