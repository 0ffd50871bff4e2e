"""Hostile values: names that would be paths or shell code are refused;
workload argument values, which may hold anything, reach the guest as one
literal argv word each."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest

from orchestrator import proc
from orchestrator.cli.main import main
from orchestrator.config import load_experiment
from orchestrator.errors import EXIT_USER, UserError
from orchestrator.machine import ssh
from orchestrator.results.store import Run, Store
from orchestrator.workloads import REGISTRY

NAMES = ["../x", "..", "a/b", "/etc/passwd", "x;rm -rf /", "$(id)", "`id`", "a b", "x\ny", "-rf", "x'y", 'x"y']


def _values(canary: Path) -> list[str]:
    """Argument values a shell would act on; each would create `canary`."""
    c = shlex.quote(str(canary))
    return [
        f"; touch {c}", f"$(touch {c})", f"`touch {c}`", f"x' ; touch {c} ; '", f'x" ; touch {c} ; "',
        f"a\ntouch {c}", f"| touch {c}", f"&& touch {c}", "*", "~", "$HOME", "\\", "", " ", "-rf", "'", '"',
        "tab\there", "\x01ctl", "ünïcødé",
    ]


@pytest.fixture
def project(tmp_path: Path, test_project: Path) -> Path:
    """A private copy of the test project, to add configs to."""
    shutil.copytree(test_project, tmp_path / "project")
    return tmp_path / "project"


@pytest.mark.parametrize("name", NAMES)
def test_hostile_names_are_refused_by_the_config_loader(capsys, project, name):
    for doc in (
        f"name: {name!r}\n",
        f"kernels: {{{name!r}: {{recipe: k1}}}}\n",
        f"workloads: {{{name!r}: {{kind: anon-touch}}}}\nmatrix: {{workload: [anon-touch]}}\n",
        f"matrix: {{workload: [{name!r}]}}\n",
    ):
        cfg = project / "configs" / "zz-hostile.yaml"
        cfg.write_text("extends: base.yaml\n" + ("name: t\n" if not doc.startswith("name") else "") + doc)
        assert main(["run", str(cfg), "--dry-run"]) == EXIT_USER, doc
        err = capsys.readouterr().err
        assert "zz-hostile.yaml:" in err and "should match pattern" in err and "Traceback" not in err


@pytest.mark.parametrize("name", NAMES)
def test_hostile_label_or_run_name_never_becomes_a_path(tmp_path, name):
    store = Store(tmp_path / "results")
    with pytest.raises(UserError):
        store.new_run(name)
    run = store.new_run("ok")
    with pytest.raises(UserError, match="label"):
        run.write_manifest({"config": "c.yaml", "label": name})
    assert not run.manifest_path.exists()
    for bad_cell in (name, "../../outside"):
        with pytest.raises(UserError, match="cell id"):
            run.record(bad_cell, {"cell": {}})
        with pytest.raises(UserError, match="cell id"):
            run.logs(bad_cell)
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(["results", run.id])


def _sh(line: str, tmp_path: Path) -> str:
    """What a remote sshd does with our command line: hand it to a shell."""
    return proc.run(["sh", "-c", line], cwd=tmp_path, timeout=30).output


def test_argument_values_reach_the_guest_as_one_literal_word(tmp_path):
    canary = tmp_path / "CANARY"
    values = _values(canary)
    argv = ["printf", "%s\\0", *values]
    line = ssh.command(argv)
    assert shlex.split(line) == argv  # the round trip a POSIX shell does
    out = _sh(line, tmp_path)
    assert out.split("\0")[:-1] == values
    assert not canary.exists()


def test_command_workload_argv_stays_literal_through_its_wrapper(tmp_path, project):
    canary = tmp_path / "CANARY"
    values = _values(canary)
    cfg = project / "configs" / "zz-command.yaml"
    argv_yaml = ", ".join(_yaml_str(v) for v in ("printf", "%s\\0", *values))
    cfg.write_text(f"extends: base.yaml\nname: t\nworkloads:\n  c: {{kind: command, args: {{argv: [{argv_yaml}]}}}}\n"
                   "matrix: {workload: [c]}\n")
    exp = load_experiment(cfg).experiment  # values are data: the loader keeps them as they are
    wdef = exp.workloads["c"]
    argv = REGISTRY["command"].argv(wdef.args)
    line = ssh.command(argv)
    assert shlex.split(line) == argv
    out = _sh(line, tmp_path)
    assert out.split("\0")[:-1] == values
    assert "ORCH-ELAPSED" in out.split("\0")[-1]
    assert not canary.exists()


def test_string_argument_of_a_builtin_workload_is_one_word(tmp_path):
    canary = tmp_path / "CANARY"
    for value in _values(canary):
        argv = REGISTRY["stress-vm"].argv({"bytes": value})
        assert argv[argv.index("--vm-bytes") + 1] == value
        line = ssh.command(argv)
        assert shlex.split(line) == argv
        # the same line with the program swapped for printf: the value is literal
        out = _sh(ssh.command(["printf", "%s\\0", *argv[1:]]), tmp_path)
        assert out.split("\0")[:-1] == argv[1:]
    assert not canary.exists()


def test_ssh_command_refuses_a_string():
    with pytest.raises(TypeError):
        ssh.command("echo hi; rm -rf /")  # type: ignore[arg-type]


def _yaml_str(value: str) -> str:
    """A YAML double-quoted scalar (JSON's escapes are a subset of YAML's)."""
    return json.dumps(value)
