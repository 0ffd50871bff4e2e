"""`orchestrator bisect`: the first patch or commit that moved a metric."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from orchestrator.ab import recipes
from orchestrator.ab import steps as step_files
from orchestrator.cli import series as series_cli
from orchestrator.cli.run import add_run_options
from orchestrator.compare.diff import make_report
from orchestrator.config import load_experiment
from orchestrator.errors import UserError
from orchestrator.paths import Project, find_project
from orchestrator.plan import parse_only
from orchestrator.series import log as bisect_log
from orchestrator.series import probe as probes
from orchestrator.series.bisect import SKIP, search
from orchestrator.cli.commands import COMMANDS

HELP = """\
Find the first step of a series that moved a metric: step 0 is the base
(good), step N carries every patch (bad). The ends are measured first and
must differ as asked; then steps are probed by binary search, each judged
against both ends with the statistics of `diff` (a step that cannot be
decided, built or booted is skipped, as `git bisect skip` does). Every
probe is an ordinary run (results/bisect-*/runs/) and the log,
bisect.json, is written after each, so `--resume FOLDER` goes on.

  orchestrator bisect --base upstream series.mbox --metric kvm.pf_fixed --where tdp=off --where workload=file-mmap
  orchestrator bisect --tree ~/linux --good v6.12 --bad my-branch --metric kvm.exits --direction increase
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bisect", help=COMMANDS["bisect"],
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    series_cli.add_options(p)
    p.add_argument("--good", metavar="REF", help="with --tree: the good commit (the same as --range GOOD..BAD)")
    p.add_argument("--bad", metavar="REF", help="with --tree: the bad commit")
    p.add_argument("--metric", metavar="METRIC", help="the metric that moved, e.g. kvm.pf_fixed")
    p.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                   help="the cells to measure (as --only; default: every cell of the config)")
    p.add_argument("--direction", choices=("increase", "decrease"), help="which way it moved (default: as the ends)")
    p.add_argument("--threshold", type=float, default=5.0, metavar="PCT", help="the least change that counts (%%)")
    p.add_argument("--repeat", type=int, metavar="N", help="repetitions per probe (default: the config's)")
    p.add_argument("--max-repetitions", type=int, default=9, metavar="N",
                   help="an undecided probe gets 3 more repetitions at a time, up to N (default 9)")
    p.add_argument("--resume", metavar="FOLDER", help="go on with the bisect in FOLDER (its own recipes and log)")
    add_run_options(p)
    p.set_defaults(func=cmd)


def _start(args: argparse.Namespace, project: Project, results: Path) -> bisect_log.BisectLog:
    if args.good or args.bad:
        if not (args.tree and args.good and args.bad) or args.range:
            raise UserError("--good and --bad go together, with --tree and without --range")
        args.range = f"{args.good}..{args.bad}"
    if not args.metric:
        raise UserError("--metric is needed: the metric that moved, e.g. --metric kvm.pf_fixed")
    series_cli.check(args)
    config = Path(args.config) if args.config else project.configs / recipes.DEFAULT_CONFIG
    chosen = load_experiment(config, project)
    base, patches = series_cli.gather(args, project)
    folder = bisect_log.new_folder(results, chosen.experiment.name[:40])
    paths = step_files.write_steps(folder, base, patches)
    steps = []
    for k, _ in enumerate(paths):
        subject = (patches[k - 1].subject or Path(patches[k - 1].origin).name) if k else ""
        probes.probe_config(folder, chosen.resolved, step_files.step_name(k), subject)
        steps.append({"step": step_files.step_name(k), "subject": subject, "author": patches[k - 1].author if k else ""})
    cond = probes.Condition(args.metric, parse_only(args.where), args.direction, args.threshold)
    log = bisect_log.BisectLog(folder, cond, steps)
    log.save()
    return log


def _probe(log: bisect_log.BisectLog, project: Project, k: int, args: argparse.Namespace, console: Console) -> str | None:
    """The step's probe run id (run now if the log has none)."""
    name = step_files.step_name(k)
    done = log.probes.get(name)
    if done and done.get("run") and done.get("detail") == "ok":
        return done["run"]
    console.print(f"probe {name}: {log.steps[k]['subject'] or '(base)'}")
    run, detail = probes.run_probe(project, log.folder, name, log.condition, args.repeat, args.jobs,
                                   lambda phase, what: console.print(f"  {phase}: {what}"))
    log.probes[name] = {"run": run, "detail": detail, "verdict": None}
    log.save()
    return run if detail == "ok" else None


def cmd(args: argparse.Namespace) -> int:
    project = Project(find_project())
    results = Path(args.results) if args.results else project.results
    log = bisect_log.load(Path(args.resume)) if args.resume else _start(args, project, results)
    console = Console(stderr=True, highlight=False)
    console.print(f"bisect: {log.folder}")
    last = len(log.steps) - 1
    good, bad = _probe(log, project, 0, args, console), _probe(log, project, last, args, console)
    if not good or not bad:
        raise UserError(f"an end could not be measured: {log.probes}; see {log.folder}")
    log.direction = probes.ends_direction(log.runs, good, bad, log.condition)
    log.save()

    def judge(k: int) -> str:
        verdict, detail = _decide(log, project, k, args, console, good, bad)
        log.probes[step_files.step_name(k)].update(verdict=verdict, judged=detail)
        log.save()
        console.print(f"  {step_files.step_name(k)}: {verdict} ({detail})")
        return verdict

    known = {k: v for k, v in log.verdicts().items() if 0 < k < last}
    state = search(last, judge, known=known)
    first, may_be = state.answer()
    log.answer = {"first_bad": step_files.step_name(first), "may_be": [step_files.step_name(s) for s in may_be],
                  "probes": len(state.verdicts)}
    log.save()
    _print(log, state.bounds()[0], first, may_be)
    return 0


def _decide(log: bisect_log.BisectLog, project: Project, k: int, args: argparse.Namespace, console: Console,
            good: str, bad: str) -> tuple[str, str]:
    """Judge step k; while undecided, add repetitions to its probe (3 at a
    time, up to --max-repetitions), as `run --until-decided` does for a run."""
    name = step_files.step_name(k)
    run = _probe(log, project, k, args, console)
    reps = args.repeat or 3
    while True:
        if not run:
            return SKIP, log.probes[name]["detail"]
        verdict, detail = probes.judge(log.runs, good, bad, run, log.condition, log.direction)
        if verdict != SKIP or reps >= args.max_repetitions:
            return verdict, detail + (f" after {reps} repetitions" if reps > (args.repeat or 3) else "")
        reps = min(reps + 3, args.max_repetitions)
        console.print(f"  {name}: {detail}; {reps} repetitions")
        run, what = probes.run_probe(project, log.folder, name, log.condition, reps, args.jobs,
                                     lambda phase, what: None, resume=run)
        log.probes[name].update(run=run, detail=what, repetitions=reps)
        log.save()


def _print(log: bisect_log.BisectLog, good: int, first: int, may_be: list[int]) -> None:
    out = Console(highlight=False, file=sys.stdout, width=160)
    t = Table(title=f"bisect {log.condition.metric} ({log.direction}) in {log.folder.name}", title_justify="left")
    for col in ("step", "patch", "verdict", "against the good end", "run"):
        t.add_column(col, overflow="fold")
    for s in log.steps:
        p = log.probes.get(s["step"], {})
        verdict = p.get("verdict") or ("good end" if s["step"] == "p0" else "bad end" if p else "")
        t.add_row(s["step"], s["subject"] or "(base)", verdict, p.get("judged", p.get("detail", "")), p.get("run") or "")
    out.print(t)
    culprit = log.steps[first]
    if len(may_be) > 1:
        out.print(f"first bad: one of {', '.join(log.steps[k]['step'] for k in may_be)} (skipped steps in between)")
    else:
        out.print(f"first bad: {culprit['step']} {culprit['subject']}" + (f" ({culprit['author']})" if culprit["author"] else ""))
    a, b = log.probes.get(log.steps[good]["step"], {}).get("run"), log.probes.get(culprit["step"], {}).get("run")
    if a and b:
        for c in log.condition.rows(make_report(log.runs, a, b)):
            out.print(f"evidence: {log.steps[good]['step']} -> {culprit['step']}: {c.metric} {c.median_a:.4g} -> "
                      f"{c.median_b:.4g} ({c.change_pct:+.1f}%, 95% CI [{c.ci_low_pct:+.1f}%, {c.ci_high_pct:+.1f}%], "
                      f"p={c.p_value:.3g})")
