"""`run --until-decided`: more repetitions for exactly the undecided groups,
until decided or out of repetitions or budget. The cells are faked (their
metrics made up per kernel and repetition); the rounds, the scheduling, the
records and the statistics are real."""

from __future__ import annotations

import math
from pathlib import Path

from orchestrator.config import load_experiment
from orchestrator.experiment import runner
from orchestrator.experiment.rounds import Rounds, Sampling
from orchestrator.plan import make_plan
from orchestrator.results.store import Store
from tests.unit.test_provenance import CONFIG, faked  # noqa: F401 - the fixture

# log-scale noise by repetition: zero-mean over each 4, wide enough that 3
# samples a side cannot decide a 15% change against a 10% minimum effect
NOISE = [0.12, -0.12, 0.0, 0.06, -0.06, 0.03, -0.03, 0.0, 0.02, -0.02, 0.01, -0.01]


def _metrics(cell, noisy: dict[str, tuple[float, float]]) -> dict[str, float]:
    """pf_fixed of a cell: exec-storm noisy (patched 15% lower), every
    other workload clear (patched 30% lower, no noise)."""
    base, change = noisy.get(cell.workload, (0.0, -0.30))
    wobble = NOISE[(cell.rep - 1) % len(NOISE)] * base * (1 if cell.kernel == "baseline" else -1)
    factor = 1.0 if cell.kernel == "baseline" else 1 + change
    return {"kvm.pf_fixed": 10000 * factor * math.exp(wobble), "kvm.exits": 50000.0}


def _run(tmp_path, monkeypatch, noisy, sampling):
    monkeypatch.setattr(runner, "run_cell", lambda inp, cell, logs, phase, factory: {
        "cell": {"id": cell.id, "index": cell.index, **cell.coords}, "status": "ok", "failure": None,
        "metrics": _metrics(cell, noisy), "timings": {"cell_s": 0.1}, "notes": {}})
    loaded = load_experiment(CONFIG)
    return runner.run_experiment(loaded, make_plan(loaded.experiment), results=tmp_path / "results", jobs=2,
                                 start="boot", sampling=sampling)


def test_a_noisy_metric_becomes_decided(tmp_path, monkeypatch, faked):  # noqa: F811
    out = _run(tmp_path, monkeypatch, {"exec-storm": (1.0, -0.15)}, Sampling(12, 60))
    s = out.sampling
    assert s["stopped"] == "decided" and s["undecided"] == [] and s["rounds"]
    # only exec-storm was sampled more: file-mmap was decided at 3
    reps = s["repetitions"]
    assert reps["tdp=off workload=exec-storm"] > 3 and reps["tdp=off workload=file-mmap"] == 3
    assert all(g == ["tdp=off workload=exec-storm"] for g in (r["groups"] for r in s["rounds"]))
    run = Store(tmp_path / "results").open(out.run.id)
    stored = run.manifest_data()
    assert stored["until_decided"]["stopped"] == "decided"
    assert f"r{reps['tdp=off workload=exec-storm']:03d}.tdp-off.exec-storm.patched" in stored["plan"]["cells"]
    kernels = [r.cell.kernel for r in run.records() if r.cell.model_extra["workload"] == "exec-storm"]
    assert kernels.count("baseline") == kernels.count("patched") == reps["tdp=off workload=exec-storm"]


def test_a_metric_too_noisy_for_the_limit_stays_undecided(tmp_path, monkeypatch, faked):  # noqa: F811
    out = _run(tmp_path, monkeypatch, {"exec-storm": (8.0, -0.15)}, Sampling(5, 60))
    s = out.sampling
    assert s["stopped"] == "max repetitions (5) reached"
    assert s["undecided"] == ["tdp=off workload=exec-storm"] and s["repetitions"]["tdp=off workload=exec-storm"] == 5


def test_no_round_starts_past_the_budget():
    from orchestrator.plan import Cell
    planned = [Cell(k, "off", "w", rep) for rep in (1, 2, 3) for k in ("a", "b")]
    now = [0.0]
    rounds = Rounds(Sampling(100, 1.0), planned, lambda: {(("tdp", "off"), ("workload", "w"))}, clock=lambda: now[0])
    taken = 0
    while True:
        cells = rounds.next_round()
        if not cells:
            break
        assert [c.kernel for c in cells] == ["a", "b"] and cells[0].rep == 4 + taken
        taken += 1
        now[0] += 25.0  # each round: 25 s; the third would end at 75 s > 60 s
    assert taken == 2 and rounds.stopped == "budget (1 min) spent"
    assert rounds.summary()["undecided"] == ["tdp=off workload=w"]
