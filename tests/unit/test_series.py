"""`orchestrator series` on the fake kernel tree: every prefix a step and an
ordinary cache entry, a step that does not compile recorded while the walk
goes on, a patch that does not apply ending the builds; and the summary
and its renderings from synthetic comparisons."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from orchestrator.ab.recipes import recipe_series
from orchestrator.build.kernel import KernelBuilder
from orchestrator.cli.main import main
from orchestrator.compare.diff import Report, Row
from orchestrator.compare.stats import compare
from orchestrator.errors import UserError
from orchestrator.plan import Cell, Plan
from orchestrator.report import series as render
from orchestrator.series import summary as summaries
from orchestrator.series import walk as walking
from tests.fakes.fake_kernel import recipe


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCHESTRATOR_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _walk(project, tmp_path, name, patches):
    recipe(project.root, name, patches)
    base, series = recipe_series(project, name)
    steps = walking.plan_steps(tmp_path / "series", base, series)
    walking.build_steps(project, steps, lambda phase, detail: None)
    return steps


def test_each_prefix_is_a_step_and_a_broken_build_does_not_end_the_walk(project, tmp_path, cache):
    steps = _walk(project, tmp_path, "walk", ["0001-a.patch", "0003-broken.patch", "0002-b.patch"])
    assert [s.status for s in steps] == ["built", "built", "does not build", "does not build"]
    assert "make bzImage failed" in steps[2].detail and "other" in steps[2].detail, steps[2].detail
    assert [s.subject for s in steps[1:]] == ["0001-a.patch", "0003-broken.patch", "0002-b.patch"]
    # p1 carries 0001-a.patch alone: the very entry the recipe `a` names
    assert steps[1].key == KernelBuilder(project, cache=cache).build("a").key != steps[0].key
    written = (tmp_path / "series/kernels/p3.yaml").read_text()
    assert written.index("0001-") < written.index("0002-") < written.index("0003-")


def test_a_patch_that_does_not_apply_skips_every_later_step(project, tmp_path, cache):
    steps = _walk(project, tmp_path, "wrong-order", ["0002-b.patch", "0001-a.patch"])
    assert [s.status for s in steps] == ["built", "does not apply", "skipped"]
    assert "0002-b.patch" in steps[1].detail and "p1" in steps[2].detail


def test_recipe_without_patches_is_refused(project):
    with pytest.raises(UserError, match="--recipe plain: kernels/plain.yaml lists no patches"):
        recipe_series(project, "plain")


def test_recipe_and_patch_files_together_are_refused(project, monkeypatch, capsys):
    monkeypatch.chdir(project.root)
    assert main(["series", "--recipe", "a", "x.patch"]) == 2
    assert "--recipe already names the base and the series: drop PATCH" in capsys.readouterr().err


def test_default_cells_are_the_expectations_cells():
    cells = tuple(Cell(k, t, w, 1) for k in ("p0", "p1") for t in ("on", "off") for w in ("file-mmap", "exec-storm"))
    plan = Plan("x", cells, len(cells))
    resolved = {"expectations": [{"metric": "kvm.pf_fixed", "change": "decrease",
                                  "when": {"tdp": "off", "workload": "file-mmap"}}]}
    picked = walking.cells_of_interest(plan, resolved, only_given=False)
    assert {(c.kernel, c.tdp, c.workload) for c in picked.cells} == {("p0", "off", "file-mmap"), ("p1", "off", "file-mmap")}
    assert walking.cells_of_interest(plan, resolved, only_given=True) is plan
    assert walking.cells_of_interest(plan, {}, only_given=False) is plan


def _report(a: str, b: str, xa, xb) -> Report:
    group = (("tdp", "off"), ("workload", "file-mmap"))
    c = compare("kvm.pf_fixed", xa, xb, "lower", 5.0)
    return Report(a, b, "variants", ["run1"], rows=[Row(group, c, tuple(xa), tuple(xb))])


def test_summary_says_which_step_moved_the_metric(tmp_path):
    steps = [walking.Step(k, s, "", tmp_path / f"p{k}.yaml", status="built")
             for k, s in enumerate(["", "remove prefetch", "a comment"])]
    p0, p1, p2 = [1000, 1010, 990, 1005, 995], [3000, 3020, 2990, 3010, 2980], [3005, 2995, 3010, 2990, 3000]
    walk = walking.Walk(steps, previous={"p1": _report("p0", "p1", p0, p1), "p2": _report("p1", "p2", p1, p2)},
                        base={"p1": _report("p0", "p1", p0, p1), "p2": _report("p0", "p2", p0, p2)})
    summary = summaries.summarize(walk, "run1", "upstream")
    moved = summaries.moved(summary, "kvm.pf_fixed", "tdp=off workload=file-mmap")
    assert moved == [("p1", "regression"), ("p2", "same")]
    (group,) = summary["groups"]
    (metric,) = group["metrics"]
    assert [p["median"] for p in metric["points"]] == [1000, 3000, 3000]
    assert metric["points"][2]["vs_base"]["significant"]
    md = render.to_markdown(summary)
    assert "| p1 | remove prefetch | **3000 (+200.0%*)** |" in md
    assert json.loads(render.to_json(summary))["steps"][1]["subject"] == "remove prefetch"
    assert "data:image/png;base64," in render.to_html(summary)
    console = Console(record=True, width=160)
    render.to_table(summary, console)
    assert "remove prefetch" in console.export_text()
