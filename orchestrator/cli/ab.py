"""`orchestrator ab PATCH...`: from a patch series to a printed verdict."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from rich.console import Console

from orchestrator.ab import recipes, series
from orchestrator.ab.recipes import Base
from orchestrator.ab.series import SeriesPatch
from orchestrator.cli.diff import add_fail_on, fail_code, table_width
from orchestrator.cli.run import add_plan_options, add_run_options, execute, summarize
from orchestrator.compare.diff import make_report
from orchestrator.config import Loaded, load_experiment
from orchestrator.errors import UserError
from orchestrator.paths import Project, expand_user, find_project
from orchestrator.plan import make_plan, parse_only
from orchestrator.report import render
from orchestrator.results.store import Run, Store
from orchestrator.cli.commands import COMMANDS

HELP = """\
A is a base kernel, B is that base plus the patches in the order given.
Build both, run the experiment (default: configs/mmu-suite.yaml, the
project's workloads with tdp on and off) with A and B as its kernels, and
print the diff of B against A, the table `orchestrator diff` prints.

Patches: files, or ONE mbox holding a series (`git format-patch --stdout`;
a cover letter is skipped), or `--tree DIR --range BASE..TIP` (the commits;
A is the tree at BASE). The recipes, the experiment and copies of the
patches are written into the run folder (ab/), so it reruns from there.

  orchestrator ab fix.patch
  orchestrator ab --base upstream series.mbox
  orchestrator ab --tree ~/linux --range v6.12..my-branch
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ab", help=COMMANDS["ab"],
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_series_options(p)
    p.add_argument("--save", metavar="NAME",
                   help="also write kernels/NAME-a.yaml, NAME-b.yaml, kernels/patches/NAME/, configs/NAME.yaml")
    add_plan_options(p)
    add_run_options(p)
    p.add_argument("--coverage", action="store_true",
                   help="first run each cell group once on coverage kernels and say where the patches' code "
                        "never runs (those rows of the verdict say 'not exercised')")
    add_fail_on(p)
    p.set_defaults(func=cmd)


def add_series_options(p: argparse.ArgumentParser) -> None:
    """How a base and a series are named (shared with `series`)."""
    p.add_argument("patches", nargs="*", metavar="PATCH", help="patch files in order, or one mbox of a series")
    base = p.add_mutually_exclusive_group()
    base.add_argument("--base", metavar="RECIPE", help=f"the base is this kernel recipe (default: {recipes.DEFAULT_BASE})")
    base.add_argument("--source", metavar="PACKAGE", help="the base is this Debian source package, e.g. linux-source-6.12")
    base.add_argument("--tree", metavar="DIR", help="the base is this local git kernel tree at --ref (default HEAD)")
    p.add_argument("--ref", metavar="REF", help="with --tree: the commit the base is built from")
    p.add_argument("--range", metavar="BASE..TIP", help="with --tree: the commits are the series, the base is the tree at BASE")
    p.add_argument("--dirty", action="store_true", help="with --tree: add `git diff HEAD` as a last patch")
    p.add_argument("--config", metavar="CONFIG", help=f"the experiment (default: configs/{recipes.DEFAULT_CONFIG})")


def check_args(args: argparse.Namespace) -> None:
    """Refuse contradictions before anything is read or built."""
    if not args.tree:
        for flag, given in (("--ref", args.ref), ("--range", args.range), ("--dirty", args.dirty)):
            if given:
                raise UserError(f"{flag} needs --tree DIR")
    if args.range and args.ref:
        raise UserError("--range BASE..TIP already says A's commit (BASE): drop --ref")
    if args.range and args.patches:
        raise UserError("give patch files or --range, not both")
    if not (args.patches or args.range or args.dirty):
        raise UserError("no patches: give patch files, one mbox, or --tree DIR --range BASE..TIP")
    if args.jobs is not None and args.jobs < 1:
        raise UserError("--jobs must be at least 1")
    if args.repeat is not None and args.repeat < 1:
        raise UserError("--repeat must be at least 1")


def _tree(args: argparse.Namespace) -> Path:
    tree = expand_user(args.tree).resolve()
    if not tree.is_dir():
        raise UserError(f"--tree {args.tree}: not a folder")
    return tree


def gather(args: argparse.Namespace, project: Project, cwd: Path) -> tuple[Base, list[SeriesPatch]]:
    """A, and the patches B adds to it, from the arguments."""
    patches: list[SeriesPatch] = []
    if args.tree:
        tree = _tree(args)
        ref = series.split_range(args.range)[0] if args.range else (args.ref or "HEAD")
        base = recipes.base_from_tree(project, tree, ref)
        patches = series.from_range(tree, args.range) if args.range else []
    elif args.source:
        base = recipes.base_from_package(project, args.source)
    else:
        base = recipes.base_from_recipe(project, args.base or recipes.DEFAULT_BASE)
    if args.patches:
        patches = series.from_files(args.patches, cwd)
    if args.dirty:
        patches.append(series.dirty_patch(_tree(args)))
    return base, patches


def prepare(args: argparse.Namespace, project: Project, results: Path) -> tuple[Loaded, Run]:
    """Everything checked, the run folder made with ab/ written into it,
    and the experiment loaded from there as `run` would load it."""
    check_args(args)
    config = Path(args.config) if args.config else project.configs / recipes.DEFAULT_CONFIG
    chosen = load_experiment(config, project)
    if args.save:
        recipes.save_targets(project, args.save)
    base, patches = gather(args, project, Path.cwd())
    name = f"ab-{chosen.experiment.name}"[:64]
    run = Store(results).new_run(name)
    try:
        path = recipes.write_run_folder(run.folder / "ab", base, patches, chosen.resolved, name)
        loaded = load_experiment(path, project)
    except BaseException:
        shutil.rmtree(run.folder, ignore_errors=True)  # no half run for `diff` to find
        raise
    if args.save:
        for made in recipes.save(project, args.save, base, patches, chosen.resolved):
            print(f"saved: {made}", file=sys.stderr)
    return loaded, run


def coverage_first(loaded: Loaded, args: argparse.Namespace, run: Run) -> None:
    from orchestrator.cli import coverage
    from orchestrator.coverage.session import FILE, SUBDIR, exercised
    from orchestrator.results.store import write_json_atomic
    data, _ = coverage.run_pass(loaded, args, run.folder / SUBDIR)
    write_json_atomic(run.folder / FILE, data)
    coverage.print_tables(data, Console(highlight=False, file=sys.stdout))
    idle = [name for name, g in data["groups"].items() if exercised(g, list(data["kernels"])) is False]
    if idle:
        Console(stderr=True, highlight=False).print(
            f"[yellow]warning:[/] the patches' code never runs in {len(idle)} of {len(data['groups'])} cell "
            f"group(s): {'; '.join(idle)}. A 'no change' there is no evidence; choose workloads or knobs "
            "that run it (see docs/coverage.md).")


def cmd(args: argparse.Namespace) -> int:
    project = Project(find_project())
    results = Path(args.results) if args.results else project.results
    loaded, run = prepare(args, project, results)
    plan = make_plan(loaded.experiment, only=parse_only(args.only), repeat=args.repeat)
    if args.coverage:  # before anything is measured: whether the chosen cells run the patch at all
        coverage_first(loaded, args, run)
    code = summarize(execute(loaded, plan, args, results, fresh=run))
    report = make_report(results, "a", "b", str(run.folder))
    render.to_table(report, Console(highlight=False, file=sys.stdout, width=table_width()))
    return code or fail_code(report, args.fail_on)
