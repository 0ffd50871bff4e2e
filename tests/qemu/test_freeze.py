"""A frozen L1 or L2 in every phase of a cell ends classified, within the
cell's budget, and the run goes on.

Each cell of one warm-start run (tests/qemu/faults.yaml, --jobs 1) freezes
one level with QMP `stop` (ORCHESTRATOR_FAULTS=l1-hang|l2-hang@CELL@PHASE,
orchestrator/experiment/faults.py) in one phase: the template's boot (L1,
then L2), the restore, the collectors' start, the workload, the collectors'
stop, the teardown. A frozen level before or during the measurement fails
the cell as a hang of that level; a freeze once the counters are in (the
teardown: with warm start, detaching from the machines) loses nothing, and
the next cell's restore resets both levels. `docs/faults.md` lists the
outcomes.

The whole matrix runs in the nightly tier (marker `nightly`, about 15
minutes here); the README's test command runs the freeze that once hung CI
(L1 in the collectors' stop) and L2's in the restore, in
tests/qemu/test_faults.py's budget.
"""

from __future__ import annotations

import time

import pytest

from tests.qemu.test_faults import CONFIG, cell_id, orchestrator, records, the_run

# repetition -> (fault, phase, expected status, class, level)
MATRIX = {
    1: ("l1-hang", "boot-l1", "failed", "hang", "L1"),
    2: ("l2-hang", "boot-l2", "failed", "hang", "L2"),
    3: (None, None, "ok", None, None),
    4: ("l1-hang", "restore", "failed", "hang", "L1"),
    5: ("l2-hang", "restore", "failed", "hang", "L2"),
    6: ("l1-hang", "collect-start", "failed", "hang", "L1"),
    7: ("l2-hang", "collect-start", "failed", "hang", "L2"),
    8: ("l1-hang", "workload", "failed", "hang", "L1"),
    9: ("l2-hang", "workload", "failed", "hang", "L2"),
    10: ("l1-hang", "collect-stop", "failed", "hang", "L1"),
    11: ("l2-hang", "collect-stop", "failed", "hang", "L2"),
    12: ("l1-hang", "teardown", "ok", None, None),
    13: ("l2-hang", "teardown", "ok", None, None),
    14: (None, None, "ok", None, None),  # the template after two teardown freezes
}
QUICK = (10, 5)  # in the README's test command: the freeze that hung CI, and L2's in the restore


def _spec(reps: list[int]) -> str:
    return ",".join(f"{MATRIX[r][0]}@{cell_id(r)}@{MATRIX[r][1]}" for r in reps if MATRIX[r][0])


def _run(tmp_path, reps: list[int]) -> tuple[int, dict[str, dict], float, list[str], str]:
    results = tmp_path / "results"
    results.mkdir()
    args = ["run", str(CONFIG), "--results", str(results), "--jobs", "1", "--repeat", str(max(reps)),
            *[f"--only=rep={r}" for r in reps]]
    t = time.monotonic()
    o = orchestrator(args, tmp_path / "freeze.log", faults=_spec(reps))
    rc = o.wait(timeout=3600)
    return rc, records(the_run(results)), time.monotonic() - t, o.qemus_left(), o.output


def _check(reps: list[int], rc: int, recs: dict[str, dict], qemus_left: list[str], output: str) -> None:
    assert sorted(recs) == sorted(cell_id(r) for r in reps), output[-3000:]
    for r in reps:
        fault, phase, status, cls, level = MATRIX[r]
        rec = recs[cell_id(r)]
        assert rec["status"] == status, (r, fault, phase, rec["failure"])
        if status == "failed":
            f = rec["failure"]
            assert (f["class"], f["level"]) == (cls, level), (r, fault, phase, f)
            # within the cell's own budget: the watchdog never had to step in
            assert "watchdog" not in rec["notes"], rec["notes"]
            assert "cell_retries" not in rec["notes"]  # a freeze is never retried
    assert rc == (1 if any(MATRIX[r][2] == "failed" for r in reps) else 0), output[-3000:]
    assert not qemus_left


def test_freezes_that_matter_most_end_classified(built, tmp_path):
    reps = sorted({*QUICK, 3})
    rc, recs, took, left, out = _run(tmp_path, reps)
    _check(reps, rc, recs, left, out)
    print(f"\nfreeze run of {len(reps)} cells: {took:.0f}s; cell times:",
          {k: round(v["timings"]["cell_s"]) for k, v in recs.items()})


@pytest.mark.nightly
def test_a_freeze_in_every_phase_ends_classified(built, tmp_path):
    reps = sorted(MATRIX)
    rc, recs, took, left, out = _run(tmp_path, reps)
    _check(reps, rc, recs, left, out)
    print(f"\nfreeze run of {len(reps)} cells: {took:.0f}s; cell times:",
          {k: round(v["timings"]["cell_s"]) for k, v in recs.items()})
