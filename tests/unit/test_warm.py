"""Which failures cost a warm start its saved machines: a template is kept
after a workload's own failure or timeout (the next restore resets both
levels) and thrown away after anything else. The real save and restore:
tests/e2e and tests/qemu/test_faults.py."""

from __future__ import annotations

import contextlib

import pytest

from orchestrator.experiment import warm
from orchestrator.experiment.cell import WorkloadFailed
from orchestrator.machine.guest import MachineError
from orchestrator.plan import Cell

CELL = Cell("baseline", "off", "file-mmap", 1)


class FakeTemplate:
    made: list[FakeTemplate] = []

    def __init__(self, inp, cell, folder):
        self.folder, self.cells, self.closed = folder, 0, False
        self.notes = {"tdp_in_force": "npt=N"}
        self.timings: dict[str, float] = {}
        FakeTemplate.made.append(self)

    def create(self, phase):
        pass

    @contextlib.contextmanager
    def restored(self, logs, phase, timings, cell=None, notes=None):
        self.cells += 1
        yield "l1", "l2", {}

    def close(self):
        self.closed = True


@pytest.fixture
def templates(tmp_path, monkeypatch):
    FakeTemplate.made = []
    monkeypatch.setattr(warm, "Template", FakeTemplate)
    monkeypatch.setattr(warm, "group_of", lambda inp, cell: cell.kernel)
    t = warm.Templates(tmp_path)
    yield t
    t.close()


def one_cell(templates, tmp_path, exc: BaseException | None) -> None:
    with contextlib.suppress(type(exc) if exc else ()):
        with templates.machines(None, CELL, tmp_path, lambda p: None, {}, {}):
            if exc:
                raise exc


@pytest.mark.parametrize("exc", [
    WorkloadFailed("file-mmap exited 1"),
    MachineError("L2", "workload-timeout", "no end within 60s; every level still answers"),
])
def test_kept_after_the_workloads_own_failure(templates, tmp_path, exc):
    one_cell(templates, tmp_path, exc)
    one_cell(templates, tmp_path, None)
    assert len(FakeTemplate.made) == 1 and FakeTemplate.made[0].cells == 2
    assert templates.held() == {"baseline"} and not FakeTemplate.made[0].closed


@pytest.mark.parametrize("exc", [
    MachineError("L1", "panic", "Kernel panic"), MachineError("L2", "hang", "QMP query-status"),
    MachineError("L1", "ssh", "sshd gone"), RuntimeError("collector"), KeyboardInterrupt(),
])
def test_thrown_away_after_anything_else(templates, tmp_path, exc):
    one_cell(templates, tmp_path, exc)
    assert FakeTemplate.made[0].closed and templates.held() == set()
    one_cell(templates, tmp_path, None)
    assert len(FakeTemplate.made) == 2  # the next cell boots a new one
