from __future__ import annotations

import subprocess
import sys

import pytest

from orchestrator.cli.main import main
from orchestrator.errors import EXIT_USER


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("sub", ["run", "diff", "list", "doctor", "build", "shell"])
def test_every_subcommand_has_help(sub):
    r = _cli(sub, "--help")
    assert r.returncode == 0 and "usage: orchestrator" in r.stdout and len(r.stdout) > 200


def test_top_help_lists_commands():
    r = _cli("--help")
    assert r.returncode == 0
    for sub in ("run", "diff", "list", "doctor", "build"):
        assert sub in r.stdout


def test_dry_run_prints_one_cell_per_line(repo, capsys):
    rc = main(["run", str(repo / "configs" / "nested-ept-off.yaml"), "--dry-run"])
    out = capsys.readouterr().out.splitlines()
    assert rc == 0
    assert len(out) == 2 * 4 * 3  # kernels x workloads x repetitions
    assert all("tdp=off" in line for line in out)


def test_dry_run_with_filters(repo, capsys):
    rc = main(["run", str(repo / "configs" / "prefetch.yaml"), "--dry-run",
               "--only", "tdp=off", "--only", "workload=file-mmap", "--repeat", "5", "--shard", "2/2"])
    out = capsys.readouterr().out.splitlines()
    assert rc == 0 and len(out) == 5


def test_bad_arguments_exit_2(repo, capsys):
    assert main(["run", str(repo / "configs" / "prefetch.yaml"), "--dry-run", "--only", "tdp=sideways"]) == EXIT_USER
    assert "tdp=sideways" in capsys.readouterr().err
    assert _cli("nosuchcommand").returncode == EXIT_USER


def test_list_shows_everything(repo):
    r = _cli("list")
    assert r.returncode == 0, r.stderr
    for word in ("nested-ept-off", "baseline", "patched", "upstream", "l1", "l2", "file-mmap", "exec-storm"):
        assert word in r.stdout
    assert "invalid" not in r.stdout


def test_missing_config_file(capsys):
    assert main(["run", "no/such/config.yaml", "--dry-run"]) == EXIT_USER
    assert "config.yaml: <document>: file not found" in capsys.readouterr().err


def test_a_finished_cell_is_one_line_for_a_log():
    from orchestrator.cli.run import cell_line
    ok = {"cell": {"id": "r001.tdp-off.file-mmap.a"}, "status": "ok", "timings": {"cell_s": 21.25},
          "metrics": {"kvm.pf_fixed": 1955.0, "kvm.exits": 4909.0}}
    assert cell_line(ok) == "r001.tdp-off.file-mmap.a ok kvm.pf_fixed=1955 kvm.exits=4909 21.2s"
    failed = {"cell": {"id": "r002.tdp-on.file-mmap.b"}, "status": "failed", "timings": {},
              "metrics": {}, "failure": {"class": "panic"}}
    assert cell_line(failed) == "r002.tdp-on.file-mmap.b failed: panic 0.0s"


def test_the_run_summary_fits_80_columns_and_wraps_between_words(tmp_path):
    from types import SimpleNamespace

    from rich.console import Console

    from orchestrator.cli.run import _summary
    records = [{"cell": {"id": f"r00{rep}.tdp-{tdp}.file-mmap.{k}", "index": i, "kernel": k, "tdp": tdp,
                         "workload": "file-mmap", "rep": str(rep), "mib": "16"},
                "status": "ok", "failure": None, "timings": {"cell_s": 21.4},
                "metrics": {"kvm.pf_fixed": 9473.0, "kvm.exits": 12894.0, "workload.seconds": 0.0690412}}
               for i, (k, tdp, rep) in enumerate((k, t, r) for k in ("baseline", "patched-with-a-long-name")
                                                 for t in ("off", "on") for r in (1, 2))]
    outcome = SimpleNamespace(run=SimpleNamespace(id="20261202T110154Z-e2e-smoke-dcfa70"), records=records)
    console = Console(width=80, record=True)
    console.print(_summary(outcome))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    for word in ("tdp=off file-mmap", "mib=16", "9473", "12894  21", "0.069 s", "patched-with", "long-name"):
        assert word in text, (word, text)
