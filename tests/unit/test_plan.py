from __future__ import annotations

import pytest

from orchestrator.config import load_experiment
from orchestrator.errors import UserError
from orchestrator.plan import make_plan, parse_only, parse_shard


@pytest.fixture
def exp(test_project):
    return load_experiment(test_project / "configs" / "good.yaml").experiment


def test_full_plan_is_the_product(exp):
    plan = make_plan(exp)
    assert len(plan) == plan.total == 2 * 2 * 2 * 2 * 2
    assert len({c for c in plan.cells}) == len(plan)  # no duplicates
    assert len({c.id for c in plan.cells}) == len(plan)


def test_kernels_alternate(exp):
    kernels = [c.kernel for c in make_plan(exp).cells]
    assert all(a != b for a, b in zip(kernels, kernels[1:]))


def test_pairs_share_everything_but_the_kernel(exp):
    cells = make_plan(exp).cells
    for a, b in zip(cells[::2], cells[1::2]):
        assert a.group == b.group and a.rep == b.rep and a.kernel != b.kernel


def test_only_filters_and_same_key_means_either(exp):
    plan = make_plan(exp, only=parse_only(["tdp=off", "workload=mm"]))
    assert len(plan) == 2 * 2 * 2
    assert {c.tdp for c in plan.cells} == {"off"} and {c.workload for c in plan.cells} == {"mm"}
    both = make_plan(exp, only=parse_only(["workload=mm", "workload=anon-touch", "rep=1"]))
    assert len(both) == 16


@pytest.mark.parametrize("bad", ["tdp=maybe", "ept=off", "noequals", "=x"])
def test_only_rejects_unknown(exp, bad):
    with pytest.raises(UserError):
        make_plan(exp, only=parse_only([bad]))


def test_repeat_overrides(exp):
    assert len(make_plan(exp, repeat=5)) == 16 * 5
    with pytest.raises(UserError):
        make_plan(exp, repeat=0)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 32, 40])
def test_shards_partition_the_plan(exp, n):
    full = make_plan(exp)
    shards = [make_plan(exp, shard=(i, n)) for i in range(1, n + 1)]
    seen = [c for s in shards for c in s.cells]
    assert sorted(c.index for c in seen) == [c.index for c in full.cells]
    assert max(len(s) for s in shards) - min(len(s) for s in shards) <= 1


def test_shard_is_deterministic(exp):
    assert make_plan(exp, shard=(2, 3)).cells == make_plan(exp, shard=(2, 3)).cells


@pytest.mark.parametrize("bad", ["0/2", "3/2", "1/0", "a/b", "1"])
def test_parse_shard_rejects(bad):
    with pytest.raises(UserError):
        parse_shard(bad)


def test_cell_id_is_file_name_safe():
    from orchestrator.plan import Cell

    cell = Cell("baseline", "off", "cmd", 1, (("arg", "a/b; rm -rf /"),))
    assert "/" not in cell.id and " " not in cell.id and ";" not in cell.id
