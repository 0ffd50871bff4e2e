"""`orchestrator diff A B`: compare two kernels cell by cell."""

from __future__ import annotations

import argparse
import html
import io
import json
import shutil
import sys
from pathlib import Path

from rich.console import Console

from orchestrator.compare.diff import Report, make_report
from orchestrator.errors import EXIT_EXPECTATION, EXIT_GATE, EXIT_REGRESSION, UserError
from orchestrator.gate import render as gate_render
from orchestrator.gate.compare import GateReport
from orchestrator.gate.session import gate_report
from orchestrator.paths import Project, find_project
from orchestrator.report import render
from orchestrator.report.text import gate_text, to_text
from orchestrator.cli.commands import COMMANDS

HELP = """\
Compare two kernel variants within a run (default: the latest run), or two
runs (by label or id), cell by cell: the same tdp mode, workload and
parameters on both sides. For each metric: samples, medians, the change in %
(ratio of geometric means), its 95% confidence interval (Welch's t on log
values: valid at 3 to 10 repetitions), a test for a change and a test for
equivalence (TOST against the minimum effect), both adjusted over the report
(Benjamini-Hochberg), then an outcome: different (improvement or
regression), same, or undecided. `decrease`/`increase` expectations need
different in their direction, `none` needs same; undecided is never met.

Every report opens with the accelerator and why, the host CPU, QEMU and the
kernels (keys, patches). Under TCG, time metrics are emulated time: shown
without a verdict unless --timing.

A side against itself (`diff baseline baseline`), or two variants of the
same kernel key (the nightly's twin), is the A/A check: the false-positive
rate per metric family is reported, and A/B expectations are not checked.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "diff", help=COMMANDS["diff"], description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("a", metavar="A", help="kernel variant, run label or run id (the reference)")
    p.add_argument("b", metavar="B", help="kernel variant, run label or run id (the candidate)")
    p.add_argument("--results", metavar="DIR", help="results folder (default: results/ in the project)")
    p.add_argument("--run", metavar="RUN", help="run (id, label or folder) to read variants from (default: the latest)")
    p.add_argument("--format", choices=("table", "text", "md", "json", "junit", "html"), default="table",
                   help="text: 72 columns, the verdict first, for a mail or a commit message")
    p.add_argument("--output", metavar="FILE", help="write the report here instead of stdout")
    p.add_argument("--all-metrics", action="store_true", help="every metric, not only the headline ones")
    p.add_argument("--timing", action="store_true",
                   help="give time metrics verdicts even when they are TCG's emulated time")
    add_fail_on(p)
    p.set_defaults(func=cmd)


def add_fail_on(p: argparse.ArgumentParser) -> None:
    """`--fail-on` (shared with `ab`)."""
    p.add_argument("--fail-on", choices=("regression", "expectation", "gate"), action="append", default=[],
                   help="exit 5 on a regression, 6 on an expectation not met or undecided, 7 on a new gate failure")


def fail_code(report: Report, fail_on: list[str]) -> int:
    """The exit code `--fail-on` asks for, given the report."""
    if "regression" in fail_on and report.regressions:
        return EXIT_REGRESSION
    if "expectation" in fail_on and report.unmet:
        return EXIT_EXPECTATION
    return 0


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except OSError as exc:
        raise UserError(f"{path}: cannot write the report: {exc.strerror or exc}") from None


def cmd(args: argparse.Namespace) -> int:
    results = Path(args.results) if args.results else Project(find_project()).results
    gate = gate_report(results, args.a, args.b, args.run)
    try:
        report = make_report(results, args.a, args.b, args.run, everything=args.all_metrics, timing=args.timing)
    except UserError:
        if gate is None:
            raise
        report = None  # a run of the gate alone: no cells to compare
    out_dir = Path(args.output).parent if args.output else None
    text = _render(report, args.format, gate, out_dir)
    if args.output:
        _write(Path(args.output), text)
    else:
        sys.stdout.write(text)
    code = fail_code(report, args.fail_on) if report else 0
    if not code and "gate" in args.fail_on and gate is not None and gate.new_failures:
        return EXIT_GATE
    return code


def _render(report: Report | None, fmt: str, gate: GateReport | None, out_dir: Path | None = None) -> str:
    """The report in `fmt`, with the gate's section when the run has one
    (the Markdown and the HTML also give the gate's result in their verdict)."""
    width = table_width(out_dir is not None)
    if report is None:
        text = ""
    elif fmt == "html":
        return render.to_html(report, gate, out_dir)
    elif fmt == "md":
        text = render.to_markdown(report, gate)
    elif fmt == "text":
        text = to_text(report, gate)
    elif fmt == "table":
        buf = io.StringIO()
        render.to_table(report, Console(highlight=False, file=buf, width=width))
        text = buf.getvalue()
    else:
        text = {"json": render.to_json, "junit": render.to_junit}[fmt](report)
    return text if gate is None else _with_gate(fmt, text, gate, width)


def table_width(to_file: bool = False) -> int:
    """A terminal's own width (the table fits 80 columns); 160 in a file
    or a pipe."""
    if not to_file and sys.stdout.isatty():
        return shutil.get_terminal_size((160, 24)).columns
    return 160


def _with_gate(fmt: str, text: str, gate: GateReport, width: int) -> str:
    if fmt == "table":
        buf = io.StringIO()
        gate_render.to_table(gate, Console(highlight=False, file=buf, width=width))
        return text + buf.getvalue()
    if fmt == "json":
        data = json.loads(text) if text else {}
        return json.dumps({**data, "gate": gate_render.as_dict(gate)}, indent=2, sort_keys=True) + "\n"
    if fmt == "junit":
        suite = gate_render.junit_suite(gate)
        if "</testsuites>" in text:
            return text.replace("</testsuites>", suite + "</testsuites>", 1)
        return gate_render.to_junit(gate)
    if fmt == "text":
        return text + gate_text(gate)
    section = gate_render.to_markdown(gate)
    if fmt == "html":
        return f"<pre>{html.escape(section)}</pre>"
    return text + "\n" + section
