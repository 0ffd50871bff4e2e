"""The bisect search without kernels: a judge that knows the answer."""

from __future__ import annotations

import math

import pytest

from orchestrator.series.bisect import BAD, GOOD, SKIP, search


@pytest.mark.parametrize("n", [1, 2, 6, 7, 16, 33])
def test_finds_the_first_bad_step_in_about_log2_n_probes(n):
    for first_bad in range(1, n + 1):
        probes = []

        def judge(step):
            probes.append(step)
            return BAD if step >= first_bad else GOOD
        state = search(n, judge)
        assert state.answer() == (first_bad, [first_bad])
        assert len(probes) <= math.ceil(math.log2(n)) if n > 1 else not probes


def test_a_skipped_step_is_stepped_around():
    seen = []

    def judge(step):
        seen.append(step)
        return SKIP if step == 4 else (BAD if step >= 5 else GOOD)
    state = search(8, judge)
    # 4 could not be judged: the first bad step is 5, or 4 itself
    assert state.answer() == (5, [4, 5]) and seen[0] == 4 and len(seen) == 3


def test_skipped_neighbours_make_the_answer_a_range():
    state = search(6, lambda step: SKIP if step in (2, 3) else (BAD if step >= 3 else GOOD))
    assert state.answer() == (4, [2, 3, 4])


def test_known_verdicts_are_not_judged_again():
    judged = []
    state = search(8, lambda s: judged.append(s) or (BAD if s >= 3 else GOOD), known={4: BAD, 2: GOOD})
    assert state.answer() == (3, [3]) and judged == [3]


def test_an_undecided_probe_gets_more_repetitions_until_decided(tmp_path, monkeypatch):
    """The probe's run is resumed with 3 more repetitions at a time, and
    judged again, until decided or at --max-repetitions."""
    from argparse import Namespace

    from orchestrator.cli import bisect as cli
    from orchestrator.series import probe
    from orchestrator.series.log import BisectLog

    log = BisectLog(tmp_path, probe.Condition("kvm.pf_fixed", {}, None, 5.0),
                    [{"step": f"p{k}", "subject": "", "author": ""} for k in range(3)],
                    probes={"p1": {"run": "run-p1", "detail": "ok", "verdict": None}})
    runs = []

    def run_probe(project, folder, step, cond, repeat, jobs, progress, resume=None):
        runs.append((step, repeat, resume))
        return f"run-p1-{repeat}", "ok"

    verdicts = iter([SKIP, SKIP, BAD])
    monkeypatch.setattr(probe, "run_probe", run_probe)
    monkeypatch.setattr(probe, "judge", lambda *a: (next(verdicts), "+9.0% vs good"))
    args = Namespace(repeat=None, max_repetitions=9, jobs=None)
    verdict, detail = cli._decide(log, None, 1, args, cli.Console(file=open(tmp_path / "log", "w")), "g", "b")
    assert (verdict, detail) == (BAD, "+9.0% vs good after 9 repetitions")
    assert runs == [("p1", 6, "run-p1"), ("p1", 9, "run-p1-6")]
    assert log.probes["p1"]["repetitions"] == 9

    verdicts = iter([SKIP, SKIP, SKIP, SKIP])
    runs.clear()
    args.max_repetitions = 6
    log.probes["p1"] = {"run": "run-p1", "detail": "ok", "verdict": None}
    assert cli._decide(log, None, 1, args, cli.Console(file=open(tmp_path / "log2", "w")), "g", "b")[0] == SKIP
    assert runs == [("p1", 6, "run-p1")]  # stops at the cap, still undecided: skipped
