"""`orchestrator list`: configs, kernels, images, workloads, knobs and runs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from orchestrator.errors import OrchestratorError
from orchestrator.paths import Project, find_project
from orchestrator.cli.commands import COMMANDS

# The config loaders (pydantic, the schema), the workload and the knob
# registries are imported by the table that shows them: `list runs` needs
# none of them, and start-up is most of what `list` costs.

WHAT = ("configs", "kernels", "images", "workloads", "knobs", "runs")

HELP = """\
List what the project holds: experiment configs (each validated), kernel
recipes, image recipes, the workload and knob registries, and stored runs.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "list", help=COMMANDS["list"], description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("what", nargs="*", choices=[*WHAT, []], metavar="WHAT",
                   help=f"any of {', '.join(WHAT)} (default: all)")
    p.add_argument("--results", metavar="DIR", help="results folder (default: results/ in the project)")
    p.set_defaults(func=cmd)


def _configs(project: Project) -> Table:
    from orchestrator.config import load_experiment

    t = Table(title="configs")
    for col in ("config", "status", "detail"):
        t.add_column(col, overflow="fold")
    for path in sorted(project.configs.glob("*.yaml")):
        try:  # each config loaded once: validating it is most of the work
            status, detail = "ok", load_experiment(path).experiment.description
        except OrchestratorError as exc:
            status, detail = "invalid", str(exc)
        t.add_row(str(path.relative_to(project.root)), status, detail)
    return t


def _shown(project: Project, patch: str) -> str:
    """A loaded recipe's patch (an absolute path): its name if it is one of
    kernels/patches/, else the path."""
    path = Path(patch)
    return path.name if path.parent == (project.kernels / "patches").resolve() else patch


def _kernels(project: Project) -> Table:
    from orchestrator.config import load_kernel_recipe

    t = Table(title="kernel recipes")
    for col in ("kernel", "status", "patches", "description"):
        t.add_column(col, overflow="fold")
    for path in sorted(project.kernels.glob("*.yaml")):
        try:
            r = load_kernel_recipe(project, path.stem)
            t.add_row(path.stem, "ok", "\n".join(_shown(project, p) for p in r.patches) or "-", r.description)
        except OrchestratorError as exc:
            t.add_row(path.stem, "invalid", "", str(exc))
    return t


def _images(project: Project) -> Table:
    from orchestrator.config import load_image_recipe

    t = Table(title="image recipes")
    for col in ("image", "status", "packages", "description"):
        t.add_column(col, overflow="fold")
    for path in sorted(project.images.glob("*.yaml")):
        try:
            r = load_image_recipe(project, path.stem)
            t.add_row(path.stem, "ok", ", ".join(r.packages), r.description)
        except OrchestratorError as exc:
            t.add_row(path.stem, "invalid", "", str(exc))
    return t


def _workloads() -> Table:
    from orchestrator.workloads import REGISTRY

    t = Table(title="workloads")
    for col in ("workload", "metric", "arguments (default)", "summary"):
        t.add_column(col, overflow="fold")
    for w in REGISTRY.values():
        args = ", ".join(f"{a.name}={a.default}" if a.default is not None else a.name for a in w.args)
        t.add_row(w.name, f"{w.namespace}.{w.metric.name} ({w.metric.unit}, {w.metric.better} is better)", args, w.summary)
    return t


def _knobs() -> Table:
    from orchestrator.knobs import KINDS

    t = Table(title="knobs (matrix.knobs: or knobs:)")
    for col in ("knob", "kind", "takes effect", "values"):
        t.add_column(col, overflow="fold")
    for kind in KINDS:
        for name in kind.names():
            v = kind.values(name)
            values = (", ".join(v.choices) or (f"{v.integer[0]}..{v.integer[1]}" if v.integer else "")
                      or ("true, false" if v.boolean else "command-line words"))
            t.add_row(name, kind.name, kind.stage(name), values)
    return t


def _runs(results: Path) -> Table:
    t = Table(title=f"runs in {results}")
    for col in ("run", "label", "config", "cells"):
        t.add_column(col, overflow="fold")
    if results.is_dir():
        for manifest in sorted(results.glob("*/manifest.json")):
            try:
                data = json.loads(manifest.read_text())
            except (OSError, ValueError):
                t.add_row(manifest.parent.name, "?", "unreadable manifest", "")
                continue
            cells = len(list((manifest.parent / "cells").glob("*.json")))
            t.add_row(manifest.parent.name, str(data.get("label") or ""), str(data.get("config", "")), str(cells))
    return t


def cmd(args: argparse.Namespace) -> int:
    project = Project(find_project())
    out = Console(highlight=False)
    what = args.what or list(WHAT)
    results = Path(args.results) if args.results else project.results
    for item in what:
        table = {
            "configs": lambda: _configs(project),
            "kernels": lambda: _kernels(project),
            "images": lambda: _images(project),
            "workloads": _workloads,
            "knobs": _knobs,
            "runs": lambda: _runs(results),
        }[item]()
        out.print(table)
    return 0
