"""Every broken config is refused with exit code 2, naming file, line and key.

Each file in tests/data/project/configs/bad/ says in its first line what
the message must contain: `# expect: [FILE:]LINE: KEY: MESSAGE`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orchestrator.cli.main import main
from orchestrator.errors import EXIT_USER

BAD = Path(__file__).resolve().parent.parent / "data" / "project" / "configs" / "bad"
CASES = sorted(BAD.glob("*.yaml"))
EXPECT = re.compile(r"^# expect: (?:(?P<file>[^:]+):)?(?P<line>\d+): (?P<key>[^:]+): (?P<msg>.+)$")


def test_corpus_is_large_enough():
    assert len(CASES) >= 20


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_bad_config_is_refused(path: Path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    m = EXPECT.match(path.read_text().splitlines()[0])
    assert m, f"{path.name}: first line must be '# expect: ...'"
    rc = main(["run", str(path), "--dry-run"])
    err = " ".join(capsys.readouterr().err.split())
    assert rc == EXIT_USER, err
    file = m["file"] or path.name
    assert f"{file}:{m['line']}: {m['key']}: {m['msg']}" in err
    assert "Traceback" not in err


def test_good_config_in_the_same_project_loads(test_project, capsys):
    rc = main(["run", str(test_project / "configs" / "good.yaml"), "--dry-run"])
    out = capsys.readouterr().out.splitlines()
    assert rc == 0
    # 2 kernels x 2 tdp x 2 workloads x 2 l2_memory_mib x 2 reps
    assert len(out) == 32
