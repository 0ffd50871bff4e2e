"""Which cell a worker takes: plan order without warm start; with it, a
worker keeps to its groups and a second template is booted only for a tail
worth it."""

from __future__ import annotations

import threading

from orchestrator.experiment.schedule import STEAL_MIN, Scheduler
from orchestrator.plan import Cell


def cells(kernels=("baseline", "patched"), reps=4) -> list[Cell]:
    return [Cell(k, "off", "file-mmap", r) for r in range(1, reps + 1) for k in kernels]


def group(c: Cell) -> str:
    return c.kernel


def test_without_groups_the_plan_order():
    s = Scheduler(cells())
    taken = [s.next(0) for _ in range(8)]
    assert taken == cells() and s.next(0) is None


def test_two_workers_take_one_group_each():
    s = Scheduler(cells(), group)
    held: dict[int, set] = {0: set(), 1: set()}
    order = []
    for turn in range(8):
        w = turn % 2
        c = s.next(w, held[w], room=not held[w])  # one template each
        held[w].add(group(c))
        order.append((w, c.kernel))
    assert {k for w, k in order if w == 0} == {"baseline"}
    assert {k for w, k in order if w == 1} == {"patched"}


def test_one_worker_keeps_the_interleaved_order():
    s = Scheduler(cells(), group)
    held: set = set()
    taken = []
    while (c := s.next(0, held)) is not None:
        held.add(group(c))
        taken.append(c)
    assert len(taken) == 8
    # room for both groups: the plan's interleaved order
    assert taken == cells()


def test_a_worker_without_room_keeps_to_its_group():
    s = Scheduler(cells(), group)
    assert s.next(0, set()).kernel == "baseline"
    taken = [s.next(0, {"baseline"}, room=False).kernel for _ in range(3)]
    assert taken == ["baseline"] * 3


def test_no_second_template_for_a_short_tail():
    s = Scheduler(cells(kernels=("baseline",), reps=STEAL_MIN - 1), group)
    assert s.next(0, set()).kernel == "baseline"  # worker 0 now holds baseline
    assert s.next(1, set(), room=False) is None
    assert s.next(1, set()) is None  # the rest is too short to boot it twice
    assert len(s) == STEAL_MIN - 2


def test_a_long_tail_is_shared():
    s = Scheduler(cells(kernels=("baseline",), reps=STEAL_MIN + 2), group)
    s.next(0, set())
    assert s.next(1, set()) is not None


def test_every_cell_handed_out_once_under_threads():
    s = Scheduler(cells(reps=50), group)
    got: list[Cell] = []
    lock = threading.Lock()

    def worker(w: int) -> None:
        held: set = set()
        while (c := s.next(w, held)) is not None:
            held.add(group(c))
            with lock:
                got.append(c)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got, key=lambda c: (c.rep, c.kernel)) == sorted(cells(reps=50), key=lambda c: (c.rep, c.kernel))
