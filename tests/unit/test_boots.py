"""Which boot each repetition is measured in (plan/boots.py), the warm
group that follows from it, and the statistics' unit: one sample per L1
boot, so restores of one saved L1 are not counted as independent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.compare.diff import make_report, unit_mean
from orchestrator.config import load_experiment
from orchestrator.experiment.cell import CellInputs
from orchestrator.experiment.warm import group_of
from orchestrator.plan import Cell, make_plan
from orchestrator.plan.boots import Boots

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "prefetch.yaml"


@pytest.mark.parametrize("boots, reps, expected", [
    (Boots(None, 3), [1, 2, 3, 4, 5], [1, 2, 3, 4, 5]),  # default: a boot a repetition, added ones too
    (Boots(3, 6), [1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 3, 1, 2, 3, 4, 5]),  # K < R: round robin, then new
    (Boots(1, 3), [1, 2, 3, 4], [1, 1, 1, 2]),
    (Boots(5, 3), [1, 2, 3, 4], [1, 2, 3, 4]),  # more boots than repetitions: one each
    (Boots(None, 0), [1, 2], [1, 2]),
])
def test_boot_of_each_repetition(boots, reps, expected):
    assert [boots.index(r) for r in reps] == expected


def test_make_plan_knows_the_planned_repetitions():
    exp = load_experiment(CONFIG).experiment
    assert make_plan(exp).repetitions == 3 and make_plan(exp, repeat=5).repetitions == 5


def _inputs(boots: Boots) -> CellInputs:
    exp = load_experiment(CONFIG).experiment
    return CellInputs(exp, {}, Path("rootfs"), Path("payload"), None, None, boots=boots)


def test_warm_groups_are_per_boot():
    cells = [Cell(k, "on", w, rep) for rep in (1, 2, 3) for w in ("file-mmap", "exec-storm") for k in ("baseline",)]
    per_rep = {group_of(_inputs(Boots(None, 3)), c) for c in cells}
    assert len(per_rep) == 3  # workloads share a boot, repetitions do not
    assert len({group_of(_inputs(Boots(1, 3)), c) for c in cells}) == 1


def _record(folder: Path, kernel: str, rep: int, value: float, boot: str | None, machines: str | None = None):
    cid = f"r{rep:03d}.tdp-on.w.{kernel}"
    data = {"schema": 2, "cell": {"id": cid, "kernel": kernel, "rep": rep, "tdp": "on", "workload": "w"},
            "status": "ok", "metrics": {"kvm.pf_fixed": value}, "notes": {}}
    if boot:
        data["boot"] = {"id": boot, "template": 1}
    if machines:
        data["notes"] = {"start": "snapshot", "machines": machines}
    (folder / "cells" / f"{cid}.json").write_text(json.dumps(data))


def _run(tmp_path: Path, samples) -> Path:
    folder = tmp_path / "results" / "20261202T000000Z-boots-000001"
    (folder / "cells").mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"schema": 2, "config": "x.yaml", "experiment": "boots"}))
    for kernel, rep, value, boot, machines in samples:
        _record(folder, kernel, rep, value, boot, machines)
    return tmp_path / "results"


# restore-to-restore noise tiny, boot-to-boot shift large: the case that
# made two warm runs disagree (pf_fixed 18 in one run, 19 in the other)
RESTORES = [("baseline", r, 18.0 + 0.01 * r, "b1", None) for r in (1, 2, 3)] + \
           [("patched", r, 19.0 + 0.01 * r, "p1", None) for r in (1, 2, 3)]


def test_restores_of_one_boot_are_one_sample(tmp_path):
    report = make_report(_run(tmp_path, RESTORES), "baseline", "patched")
    (row,) = report.rows
    assert (row.comparison.n_a, row.comparison.n_b) == (1, 1) and row.comparison.outcome == "undecided"
    assert row.a == pytest.approx((unit_mean([18.01, 18.02, 18.03]),))


def test_counted_per_restore_the_same_samples_would_be_different(tmp_path):
    """What the unit prevents: the same values, each cell its own boot."""
    alone = [(k, r, v, f"{k}{r}", None) for k, r, v, _, _ in RESTORES]
    (row,) = make_report(_run(tmp_path, alone), "baseline", "patched").rows
    assert row.comparison.n_a == 3 and row.comparison.outcome == "different"


def test_records_without_a_boot_id_fall_back_to_their_template(tmp_path):
    old = [(k, r, v, None, f"_machines/001-{k}") for k, r, v, _, _ in RESTORES]
    (row,) = make_report(_run(tmp_path, old), "baseline", "patched").rows
    assert row.comparison.n_a == 1


def test_aa_splits_by_boot_and_keeps_each_boot_on_one_side(tmp_path):
    # 8 repetitions over 4 boots (K=4): halves of 2 boots each, not enough
    samples = [("baseline", r, 100.0 + r, f"b{(r - 1) % 4}", None) for r in range(1, 9)]
    report = make_report(_run(tmp_path, samples), "baseline", "baseline")
    assert report.aa_needs == 6
    # 6 boots, 2 repetitions each: 3 boots a half, each boot whole on its side
    samples = [("baseline", r, 100.0 + r % 3, f"b{(r - 1) % 6}", None) for r in range(1, 13)]
    report = make_report(_run(tmp_path / "2", samples), "baseline", "baseline")
    assert report.aa_needs is None
    (row,) = report.rows
    assert row.comparison.n_a == row.comparison.n_b == 3


def test_unit_mean_is_geometric_for_positive_values():
    assert unit_mean([2.0, 8.0]) == pytest.approx(4.0)
    assert unit_mean([-1.0, 3.0]) == pytest.approx(1.0)


def test_a_resumed_run_keeps_its_boots_and_a_new_one_takes_the_plans():
    from types import SimpleNamespace

    from orchestrator.experiment.runner import _boots
    plan = make_plan(load_experiment(CONFIG).experiment, repeat=6)
    assert _boots(None, 2, plan) == Boots(2, 6)
    resumed = SimpleNamespace(manifest_data=lambda: {"boots": {"templates": None, "planned": 3, "per_group": 3}})
    assert _boots(resumed, 2, plan) == Boots(None, 3)  # --repeat 6 --resume: repetitions 4-6 boot anew
    assert _boots(SimpleNamespace(manifest_data=lambda: {}), None, plan) == Boots(None, 6)


def test_templates_below_one_is_a_config_error_naming_its_line(tmp_path):
    from orchestrator.errors import ConfigError
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"extends: {CONFIG}\nname: bad\ntemplates: 0\n")
    with pytest.raises(ConfigError) as err:
        load_experiment(bad)
    assert err.value.exit_code == 2 and "templates" in str(err.value) and "bad.yaml" in str(err.value)
    assert ":3" in str(err.value) or "line 3" in str(err.value)
