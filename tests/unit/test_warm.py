"""Which failures cost a warm start its saved machines: a template is kept
after a workload's own failure or timeout (the next restore resets both
levels) and thrown away after anything else. The real save and restore:
tests/e2e and tests/qemu/test_faults.py."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import pytest

from orchestrator.experiment import warm
from orchestrator.experiment.cell import WorkloadFailed
from orchestrator.machine.guest import MachineError
from orchestrator.plan import Cell
from orchestrator.plan.boots import Boots

CELL = Cell("baseline", "off", "file-mmap", 1)
INP = SimpleNamespace(boots=Boots(None, 3))


class FakeTemplate:
    made: list[FakeTemplate] = []

    def __init__(self, inp, cell, folder):
        self.folder, self.cells, self.closed = folder, 0, False
        self.notes = {"tdp_in_force": "npt=N", "l1_boot_id": f"id{len(FakeTemplate.made)}"}
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
    monkeypatch.setattr(warm, "group_of", lambda inp, cell: (cell.kernel, inp.boots.index(cell.rep)))
    t = warm.Templates(tmp_path)
    yield t
    t.close()


def one_cell(templates, tmp_path, exc: BaseException | None) -> None:
    with contextlib.suppress(type(exc) if exc else ()):
        with templates.machines(INP, CELL, tmp_path, lambda p: None, {}, {}):
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
    assert templates.held() == {("baseline", 1)} and not FakeTemplate.made[0].closed


@pytest.mark.parametrize("exc", [
    MachineError("L1", "panic", "Kernel panic"), MachineError("L2", "hang", "QMP query-status"),
    MachineError("L1", "ssh", "sshd gone"), RuntimeError("collector"), KeyboardInterrupt(),
])
def test_thrown_away_after_anything_else(templates, tmp_path, exc):
    one_cell(templates, tmp_path, exc)
    assert FakeTemplate.made[0].closed and templates.held() == set()
    one_cell(templates, tmp_path, None)
    assert len(FakeTemplate.made) == 2  # the next cell boots a new one


def _cells(templates, tmp_path, reps, boots: Boots) -> list[dict]:
    out = []
    for rep in reps:
        notes: dict = {}
        cell = Cell("baseline", "off", "file-mmap", rep)
        with templates.machines(SimpleNamespace(boots=boots), cell, tmp_path, lambda p: None, {}, notes):
            out.append(notes)
    return out


def test_repetitions_spread_over_boots_and_added_ones_boot_anew(templates, tmp_path):
    """K=2 boots for 3 planned repetitions: 1 and 3 share a boot, 2 has its
    own; --until-decided's repetitions 4 and 5 each boot a new template."""
    templates.limit = 10
    notes = _cells(templates, tmp_path, [1, 2, 3, 4, 5], Boots(2, 3))
    assert [n["template"] for n in notes] == [1, 2, 1, 3, 4]
    assert len(FakeTemplate.made) == 4 and [t.cells for t in FakeTemplate.made] == [2, 1, 1, 1]
    assert [t.folder.name.rsplit("-", 1)[-1] for t in FakeTemplate.made] == ["boot1", "boot2", "boot3", "boot4"]
    assert notes[0]["machines"] == notes[2]["machines"] != notes[1]["machines"]
    assert [n["l1_boot_id"] for n in notes] == ["id0", "id1", "id0", "id2", "id3"]


def test_by_default_each_repetition_has_a_boot_of_its_own(templates, tmp_path):
    templates.limit = 10
    notes = _cells(templates, tmp_path, [1, 2, 3], Boots(None, 3))
    assert [n["template"] for n in notes] == [1, 2, 3] and len(FakeTemplate.made) == 3
    assert all(t.cells == 1 for t in FakeTemplate.made)
