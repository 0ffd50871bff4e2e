"""`orchestrator series`: the effect of each patch of a series."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from rich.console import Console

from orchestrator.ab import recipes
from orchestrator.ab.recipes import Base
from orchestrator.ab.series import SeriesPatch
from orchestrator.cli import ab
from orchestrator.cli.run import add_plan_options, add_run_options, execute, summarize
from orchestrator.config import load_experiment
from orchestrator.errors import EXIT_INFRA, UserError
from orchestrator.paths import Project, find_project
from orchestrator.plan import make_plan, parse_only
from orchestrator.report import series as render
from orchestrator.results.store import Store
from orchestrator.series import summary as summaries
from orchestrator.series import walk as walking
from orchestrator.cli.commands import COMMANDS

HELP = """\
Build the base and every prefix of a series (p0 = the base, pK = the first
K patches; one work tree, patches switched, so each step rebuilds only what
its patch touches), run the chosen cells on every step, and report each
step against the one before and against the base, with the statistics of
`orchestrator diff`: which patch moved which metric, by how much, and how
sure that is.

The series: patch files, one mbox, `--tree DIR --range BASE..TIP`, or
`--recipe NAME` (that recipe's patch list on its own source). The cells:
`--only`, else those the config's expectations are about, else all.
Reports: the table on stdout; series/report.{md,json,html} in the run folder.

  orchestrator series --recipe patched --config configs/nested-ept-off.yaml --only workload=file-mmap
  orchestrator series --base upstream series.mbox --only tdp=off
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("series", help=COMMANDS["series"],
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(p)
    add_plan_options(p)
    add_run_options(p)
    p.set_defaults(func=cmd)


def add_options(p: argparse.ArgumentParser) -> None:
    """How a series is named (shared with `bisect`)."""
    ab.add_series_options(p)
    p.add_argument("--recipe", metavar="NAME", help="the series is this kernel recipe's patch list, on its source")


def check(args: argparse.Namespace) -> None:
    """Refuse contradictions before anything is read or built."""
    if not args.recipe:
        ab.check_args(args)
        return
    given = [f for f, v in (("PATCH", args.patches), ("--base", args.base), ("--source", args.source),
                            ("--tree", args.tree), ("--range", args.range), ("--dirty", args.dirty)) if v]
    if given:
        raise UserError(f"--recipe already names the base and the series: drop {', '.join(given)}")


def gather(args: argparse.Namespace, project: Project) -> tuple[Base, list[SeriesPatch]]:
    if args.recipe:
        return recipes.recipe_series(project, args.recipe)
    return ab.gather(args, project, Path.cwd())


def cmd(args: argparse.Namespace) -> int:
    check(args)
    project = Project(find_project())
    results = Path(args.results) if args.results else project.results
    config = Path(args.config) if args.config else project.configs / recipes.DEFAULT_CONFIG
    chosen = load_experiment(config, project)
    base, patches = gather(args, project)
    run = Store(results).new_run(f"series-{chosen.experiment.name}"[:64])
    folder = run.folder / "series"
    try:
        steps = walking.plan_steps(folder, base, patches)
    except BaseException:
        shutil.rmtree(run.folder, ignore_errors=True)
        raise
    console = Console(stderr=True, highlight=False)
    walking.build_steps(project, steps, lambda phase, detail: console.print(f"build {phase}: {detail}"))
    for s in steps:
        console.print(f"{s.name}: {s.status} ({s.build_s:.0f} s) {s.subject or '(base)'}")
    walk = walking.Walk(steps)
    code = 0
    if len(walk.built) >= 2:
        loaded = walking.experiment_for(folder, project, chosen.resolved, run.folder.name, base, patches, steps)
        plan = make_plan(loaded.experiment, only=parse_only(args.only), repeat=args.repeat)
        plan = walking.cells_of_interest(plan, chosen.resolved, bool(args.only))
        code = summarize(execute(loaded, plan, args, results, fresh=run))
        walking.compare_steps(results, run.folder, walk)
    summary = summaries.summarize(walk, run.id, base.said)
    _write(folder, summary)
    render.to_table(summary, Console(highlight=False, file=sys.stdout, width=160))
    unbuilt = [s for s in steps if s.status != "built"]
    return code or (EXIT_INFRA if unbuilt else 0)


def _write(folder: Path, summary: dict) -> None:
    for name, text in (("report.json", render.to_json(summary)), ("report.md", render.to_markdown(summary)),
                       ("report.html", render.to_html(summary))):
        (folder / name).write_text(text)
    (folder / "steps.json").write_text(render.to_json({"steps": summary["steps"]}))
