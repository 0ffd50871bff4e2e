"""Hostile configs are refused with exit 2 and file:line, in bounded time
and memory: aliases that refer to themselves or explode, merge keys, deep
nesting, huge files, long scalars, control bytes, non-UTF-8, extends bombs,
and the same in kernel and image recipes.

The cases and their messages: tests/hostile_cases.py (committed ones in
tests/data/project/configs/hostile/, the rest generated into tmp_path).
Every case runs in its own process with RLIMIT_AS 1 GiB and 5 s:
- all of them through tests/hostile_run.py, which imports orchestrator once
  and forks a child per case that calls the CLI entry (`main(["run", CASE,
  "--dry-run"])`); the 5 s are wall-clock time of the child, which spends
  them on the load alone;
- the headline ones also through the `orchestrator` console script, as a
  user runs it. Its start (imports, ~2 s, up to 3.3 s on a loaded 2-core
  host) comes before any config is read, so there the 5 s are CPU time
  (RLIMIT_CPU, load-independent) and the wall clock only guards a hang.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.cli.main import main
from orchestrator.config import load_experiment
from orchestrator.config import load as config_load
from orchestrator.config.guard import MAX_BYTES, MAX_FILES, MAX_NODES, Budget, read_text
from orchestrator.errors import EXIT_USER, ConfigError
from tests import hostile_cases

LIMIT_S = 5
MEMORY = 1 << 30
ROOT = Path(__file__).resolve().parents[2]
CONSOLE = Path(sys.executable).parent / "orchestrator"
HEADLINE = ("alias-self", "alias-bomb", "deep-flow-100k", "kernel-recipe-bomb")


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> dict[str, hostile_cases.Case]:
    folder = tmp_path_factory.mktemp("hostile")
    return {c.name: c for c in hostile_cases.all_cases(folder)}


@pytest.fixture(scope="module")
def results(cases) -> dict[str, dict]:
    """Every case through the CLI entry, each in a forked child under limits."""
    argv = [sys.executable, str(ROOT / "tests" / "hostile_run.py"),
            "--limit-s", str(LIMIT_S), "--memory-mib", str(MEMORY >> 20),
            *(str(c.path) for c in cases.values())]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=LIMIT_S * len(cases) + 60, check=True)
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    return {name: row for name, row in zip(cases, rows, strict=True)}


@pytest.mark.parametrize("name", hostile_cases.names())
def test_hostile_config_is_refused_in_bounds(name, cases, results):
    row = results[name]
    err = _flat(row["stderr"])
    assert not row["killed"], f"{name}: still running after {LIMIT_S} s"
    assert row["rc"] == EXIT_USER, err
    assert cases[name].expect in err
    assert "Traceback" not in err


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    resource.setrlimit(resource.RLIMIT_CPU, (LIMIT_S, LIMIT_S))


def _console(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [str(CONSOLE)] if CONSOLE.exists() else [sys.executable, "-m", "orchestrator.cli.main"]
    env = {**os.environ, "COLUMNS": "400"}
    return subprocess.run([*cmd, *argv], capture_output=True, text=True, cwd=cwd, env=env,
                          preexec_fn=_limits, timeout=LIMIT_S * 4)


@pytest.mark.parametrize("name", HEADLINE)
def test_console_script_refuses_hostile_config(name, cases):
    res = _console(["run", str(cases[name].path), "--dry-run"])
    err = _flat(res.stderr)
    assert res.returncode == EXIT_USER, err
    assert cases[name].expect in err
    assert "Traceback" not in err


def test_list_shows_hostile_recipes_as_invalid(cases):
    """`orchestrator list` loads every recipe: the hostile ones are rows
    marked invalid, and the command still answers."""
    project = cases["kernel-recipe-bomb"].path.parents[1]
    res = _console(["list", "kernels", "images"], cwd=project)
    assert res.returncode == 0, res.stderr
    rows = res.stdout.splitlines()
    assert any("bomb" in r and "invalid" in r and "kernels/bomb.yaml:2: lol0: anchor &lol0" in r for r in rows)
    assert any("nul" in r and "invalid" in r and "images/nul.yaml:2: <document>: control character U+0000" in r
               for r in rows)


def test_fifo_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        read_text(fifo, "fifo.yaml", Budget())


def test_unreadable_regular_file_is_a_config_error():
    """/proc/self/mem is a regular file whose first read fails (EIO)."""
    with pytest.raises(ConfigError, match="cannot read: Input/output error"):
        read_text(Path("/proc/self/mem"), "mem", Budget())


def test_recursion_error_becomes_a_config_error(test_project, monkeypatch, capsys):
    """The last resort: should anything in loading still recurse too deep."""
    def deep(*_args, **_kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(config_load, "load_with_extends", deep)
    rc = main(["run", str(test_project / "configs" / "good.yaml"), "--dry-run"])
    err = _flat(capsys.readouterr().err)
    assert rc == EXIT_USER
    assert "good.yaml: <document>: nested too deeply to load" in err


def test_real_configs_are_far_inside_the_limits(repo, monkeypatch):
    """The limits leave room: each shipped config, with its extends and its
    recipes, uses at most a tenth of the bytes and nodes, a quarter of the
    files."""
    for path in [*sorted((repo / "configs").glob("*.yaml")), *sorted((repo / "ci").glob("*.yaml"))]:
        budget = Budget()
        monkeypatch.setattr(config_load, "Budget", lambda b=budget: b)
        load_experiment(path)
        assert MAX_BYTES - budget.bytes_left < MAX_BYTES / 10, path
        assert MAX_FILES - budget.files_left < MAX_FILES / 4, path
        assert MAX_NODES - budget.nodes_left < MAX_NODES / 10, path
