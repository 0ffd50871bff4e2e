"""Line counts from gcov data, read with the host's gcov (the compiler that
built the coverage kernel: gcov's format follows gcc's version), and the
patch's changed lines matched to them and to their functions."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from orchestrator import proc
from orchestrator.coverage.functions import Function, enclosing
from orchestrator.errors import InfraError


@dataclass(frozen=True)
class LineRun:
    line: int
    function: str | None
    count: int | None  # None: the line has no code (a comment, a declaration, a brace)


def line_counts(gcda: Path, gcno: Path) -> dict[str, dict[int, int]]:
    """{source file as gcov names it: {line: times run}} for one object."""
    if shutil.which("gcov") is None:
        raise InfraError("gcov is missing: install gcc (./setup.sh does)")
    with tempfile.TemporaryDirectory(prefix="orchestrator-gcov-") as tmp:
        base = Path(tmp) / gcda.stem  # gcov pairs NAME.gcda with NAME.gcno
        shutil.copyfile(gcda, base.with_suffix(".gcda"))
        shutil.copyfile(gcno, base.with_suffix(".gcno"))
        out = proc.run(["gcov", "--json-format", "--stdout", str(base.with_suffix(".gcda"))], cwd=tmp,
                       timeout=120).output
    start = out.find("{")
    data = json.loads(out[start:]) if start >= 0 else {"files": []}
    out: dict[str, dict[int, int]] = {}
    for f in data["files"]:
        lines = out.setdefault(f["file"], {})
        # one entry per function a line is compiled into: paging_tmpl.h is
        # included three times (paging64_, paging32_, ept_), an inline
        # function once per caller; the line ran as often as all together
        for ln in f["lines"]:
            lines[ln["line_number"]] = lines.get(ln["line_number"], 0) + int(ln["count"])
    return out


def counts_for(counts: dict[str, dict[int, int]], path: str) -> dict[int, int]:
    """The counts of `path` (a tree-relative path), whatever prefix gcov
    gave it (the build's absolute source path)."""
    for name, lines in counts.items():
        if name == path or name.endswith("/" + path):
            return lines
    return {}


def changed_runs(changed: list[int], counts: dict[int, int], funcs: list[Function]) -> list[LineRun]:
    return [LineRun(line, enclosing(funcs, line), counts.get(line)) for line in changed]


def by_function(runs: list[LineRun]) -> dict[str, dict[str, int | None]]:
    """Per function: its changed lines with code, how many of them ran, and
    the most any of them ran (None where no changed line has code)."""
    out: dict[str, dict[str, int | None]] = {}
    for r in runs:
        f = out.setdefault(r.function or "(outside any function)", {"lines": 0, "ran": 0, "max_count": None})
        if r.count is None:
            continue
        f["lines"] = (f["lines"] or 0) + 1
        f["ran"] = (f["ran"] or 0) + (1 if r.count > 0 else 0)
        f["max_count"] = max(f["max_count"] or 0, r.count)
    return out
