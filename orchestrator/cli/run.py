"""`orchestrator run CONFIG`: the whole pipeline for one experiment."""

from __future__ import annotations

import argparse
import sys
import threading
import time

from pathlib import Path

from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
)
from rich.table import Table

from orchestrator.cli.gate import exit_code as gate_exit_code
from orchestrator.cli.gate import print_reports
from orchestrator.config import Loaded, load_experiment
from orchestrator.errors import EXIT_CELL_FAILED, UserError
from orchestrator.experiment.rounds import Sampling
from orchestrator.experiment.runner import Outcome, run_experiment
from orchestrator.plan import Plan, make_plan, parse_only, parse_shard
from orchestrator.plan.cells import lines
from orchestrator.results.store import Run
from orchestrator.cli.commands import COMMANDS

HELP = """\
Run an experiment: build whatever is missing (kernels, images; cached by
content), boot L1 under QEMU with each kernel, start L2 inside L1 with KVM,
run the workloads in L2, collect KVM counters and perf output in L1, and
store everything under the results folder.

The config is validated completely before anything is built or booted.
Cells (kernel x tdp x workload x params x repetition) run in an interleaved
order: the kernel variants alternate, so host drift hits both alike.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help=COMMANDS["run"], description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", metavar="CONFIG", help="experiment YAML, e.g. configs/nested-ept-off.yaml")
    add_plan_options(p)
    p.add_argument("--shard", metavar="I/N", help="run only shard I of N (1-based); the shards partition the plan")
    p.add_argument("--dry-run", action="store_true", help="print the plan, one cell per line, and exit")
    add_run_options(p)
    p.add_argument("--start", choices=("snapshot", "boot"),
                   help="snapshot: boot L1+L2 once per kernel, tdp and boot (--templates), restore them for each cell; "
                        "boot: each cell boots its own (default: the config's `start`, snapshot)")
    p.add_argument("--templates", type=int, metavar="K",
                   help="snapshot: boot each kernel and tdp K times and spread the repetitions over the boots; "
                        "the statistics take one sample per boot (default: the config's `templates`, else one "
                        "boot per repetition)")
    p.add_argument("--resume", metavar="RUN", help="complete an interrupted run: only missing cells run")
    add_sampling_options(p)
    p.add_argument("--coverage", action="store_true",
                   help="then run each cell group once on coverage kernels (orchestrator coverage), kept in the "
                        "run's folder: diff marks rows where the patch never ran 'not exercised'")
    p.add_argument("--no-gate", action="store_true",
                   help="skip the config's gate (the KVM selftests); a shard (--shard) never runs it")
    p.set_defaults(func=cmd)


def add_sampling_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--until-decided", action="store_true",
                   help="after the planned cells, add repetitions (in rounds, all variants interleaved) to exactly "
                        "the cell groups whose expectation rows (or headline rows, without expectations) are "
                        "undecided, until they are decided or a limit is reached")
    p.add_argument("--max-repetitions", type=int, default=10, metavar="N",
                   help="--until-decided: at most N repetitions per cell group (default 10)")
    p.add_argument("--budget-minutes", type=float, default=60.0, metavar="M",
                   help="--until-decided: start no round that would end past M minutes (default 60)")


def sampling_of(args: argparse.Namespace) -> Sampling | None:
    if not getattr(args, "until_decided", False):
        return None
    if args.max_repetitions < 1 or args.budget_minutes <= 0:
        raise UserError("--max-repetitions must be at least 1 and --budget-minutes above 0")
    return Sampling(args.max_repetitions, args.budget_minutes)


def add_plan_options(p: argparse.ArgumentParser) -> None:
    """The options that choose cells (shared with `ab`)."""
    p.add_argument("--only", action="append", default=[], metavar="KEY=VALUE",
                   help="run only cells with this coordinate (kernel, tdp, workload, rep or a param); "
                        "repeat for more; the same key twice means either value")
    p.add_argument("--repeat", type=int, metavar="N", help="override the config's repetitions")


def add_run_options(p: argparse.ArgumentParser) -> None:
    """The options of the run itself (shared with `ab`)."""
    p.add_argument("--label", metavar="L", help="a name for this run, usable by diff")
    p.add_argument("--jobs", type=int, metavar="N", help="cells run in parallel")
    p.add_argument("--results", metavar="DIR", help="results folder (default: results/ in the project)")


def results_folder(args: argparse.Namespace, loaded: Loaded) -> Path:
    return Path(args.results) if args.results else loaded.project.results


def _summary(outcome) -> Table:
    """One row per cell, readable at 80 columns: the kernel and repetition
    apart, the other coordinates as words (wrapped between words, never
    inside one), the counters without their `kvm.` prefix, no inner rules."""
    table = Table(title=f"run {outcome.run.id}", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0),
                  caption="pf_fixed, exits: kvm.* from debugfs; s: the cell's seconds")
    for col in ("kernel", "rep", "cell", "status", "workload", "pf_fixed", "exits", "s"):
        table.add_column(col, overflow="fold", no_wrap=col in ("rep", "pf_fixed", "exits", "s"),
                         min_width=18 if col == "cell" else None, max_width=12 if col == "kernel" else None)
    for r in sorted(outcome.records, key=lambda r: r["cell"]["index"]):
        m, cell = r["metrics"], r["cell"]
        status = r["status"] if r["status"] == "ok" else f"[red]{r['status']}: {r['failure']['class']}[/]"
        where = " ".join(str(v) if k == "workload" else f"{k}={v}" for k, v in cell.items()
                         if k not in ("id", "index", "kernel", "rep"))
        table.add_row(
            str(cell["kernel"]), str(cell["rep"]), where, status, _workload_figure(m),
            f"{m['kvm.pf_fixed']:.0f}" if "kvm.pf_fixed" in m else "",
            f"{m['kvm.exits']:.0f}" if "kvm.exits" in m else "",
            f"{r['timings'].get('cell_s', 0):.0f}",
        )
    return table


def _workload_figure(m: dict) -> str:
    if "workload.seconds" in m:
        return f"{m['workload.seconds']:.3g} s"
    return f"{m['workload.bogo_ops_per_s']:.3g} ops/s" if "workload.bogo_ops_per_s" in m else ""


def cmd(args: argparse.Namespace) -> int:
    loaded = load_experiment(args.config)
    shard = parse_shard(args.shard) if args.shard else None
    plan = make_plan(loaded.experiment, only=parse_only(args.only), repeat=args.repeat, shard=shard)
    if args.dry_run:
        shard_note = f", shard {shard[0]}/{shard[1]}" if shard else ""
        print(f"# {plan.experiment}: {len(plan)} of {plan.total} cells{shard_note}", file=sys.stderr)
        for line in lines(plan):
            print(line)
        return 0
    outcome = execute(loaded, plan, args, results_folder(args, loaded))
    code = summarize(outcome)
    if args.coverage:
        code = code or coverage_of(loaded, args, outcome.run)
    return code


def coverage_of(loaded: Loaded, args: argparse.Namespace, run: Run) -> int:
    """`--coverage`: the coverage pass, its summary in the run's folder."""
    from orchestrator.cli import coverage  # its module imports this one
    from orchestrator.coverage.session import FILE, SUBDIR
    from orchestrator.results.store import write_json_atomic
    data, cov = coverage.run_pass(loaded, args, run.folder / SUBDIR)
    write_json_atomic(run.folder / FILE, data)
    coverage.print_tables(data, Console(highlight=False))
    print(f"coverage: {run.folder / FILE}")
    return 0 if all("failed" not in k for g in data["groups"].values() for k in g["kernels"].values()) \
        else EXIT_CELL_FAILED


def summarize(outcome: Outcome) -> int:
    """Print the cells' table (and the gate's report) and where the run
    is; the run's exit code: a new gate failure first (it explains failed
    cells, if any), then a failed cell."""
    Console(highlight=False).print(_summary(outcome))
    if outcome.gate is not None:
        print_reports(outcome.gate)
    note = f" ({outcome.skipped} already done)" if outcome.skipped else ""
    if outcome.sampling:
        s = outcome.sampling
        print(f"--until-decided: {len(s['rounds'])} round(s); stopped: {s['stopped']}")
        for group, reps in s["repetitions"].items():
            print(f"  {group}: {reps} repetitions" + (" (still undecided)" if group in s["undecided"] else ""))
    print(f"results: {outcome.run.folder}{note}")
    if outcome.failed:
        Console(stderr=True, highlight=False).print(f"[red]{len(outcome.failed)} of {len(outcome.records)} cells failed[/]")
    if outcome.gate is not None and gate_exit_code(outcome.gate):
        Console(stderr=True, highlight=False).print("[red]the gate found a new failure[/]")
        return gate_exit_code(outcome.gate)
    return EXIT_CELL_FAILED if outcome.failed else 0


def cell_line(record: dict) -> str:
    """One finished cell for a log: id, status, headline counters, time."""
    m = record["metrics"]
    counters = " ".join(f"{k}={m[k]:.0f}" for k in ("kvm.pf_fixed", "kvm.exits") if k in m)
    status = record["status"] if record["status"] == "ok" else f"{record['status']}: {record['failure']['class']}"
    return f"{record['cell']['id']} {status} {counters} {record['timings'].get('cell_s', 0):.1f}s".replace("  ", " ")


def execute(loaded: Loaded, plan: Plan, args: argparse.Namespace, results: Path, fresh: Run | None = None,
            coverage: bool = False) -> Outcome:
    """Build and run `plan` with a progress display on stderr (shared with
    `ab`, which passes the `fresh` run folder it already wrote inputs to)."""
    if args.jobs is not None and args.jobs < 1:
        raise UserError("--jobs must be at least 1")
    if getattr(args, "templates", None) is not None and args.templates < 1:
        raise UserError("--templates must be at least 1")
    console = Console(stderr=True, highlight=False)
    current: dict[str, str] = {}
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("preparing", total=len(plan))

        def show() -> None:
            bar.update(task, description="; ".join(f"{c} [{p}]" for c, p in current.items())[:150] or "...")

        plain = not console.is_terminal  # a CI log: a line per build step and per cell, as they happen
        started, finished, lock = time.monotonic(), [], threading.Lock()

        def on_build(phase: str, detail: str) -> None:
            bar.update(task, description=f"{phase}: {detail}"[:150])
            if plain:
                console.print(f"[{time.monotonic() - started:6.0f}s] {phase}: {detail}", markup=False,
                              soft_wrap=True)  # a log line is never folded at 80 columns

        def on_start(cell) -> None:
            t = bar.tasks[0]
            if t.total is not None and t.completed + len(current) >= t.total:  # --until-decided added a round
                bar.update(task, total=t.completed + len(current) + 1)
            current[cell.describe()] = "starting"
            show()

        def on_phase(cell, phase: str) -> None:
            current[cell.describe()] = phase
            show()

        def on_done(cell, record) -> None:
            current.pop(cell.describe(), None)
            bar.advance(task)
            if record["status"] != "ok":
                f = record["failure"]
                bar.console.print(f"[red]failed[/] {cell.describe()}: {f['class']} ({f['level']}): {f['message']}")
            if plain:
                with lock:  # workers finish cells in threads of their own
                    finished.append(cell.id)
                    console.print(f"[{time.monotonic() - started:6.0f}s] cell {len(finished)}/{len(plan)} "
                                  f"{cell_line(record)}", markup=False, soft_wrap=True)
            show()

        outcome = run_experiment(
            loaded, plan, results=results, label=args.label, jobs=args.jobs, resume=getattr(args, "resume", None),
            start=getattr(args, "start", None), templates=getattr(args, "templates", None), fresh=fresh,
            sampling=sampling_of(args),
            gate=not (coverage or getattr(args, "no_gate", False) or getattr(args, "shard", None)),
            coverage=coverage, progress=on_build, on_cell_start=on_start, on_cell_phase=on_phase, on_cell_done=on_done,
        )
        bar.update(task, completed=len(plan), description="done")
    return outcome
