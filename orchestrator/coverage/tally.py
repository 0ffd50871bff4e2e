"""From a coverage cell's raw gcov data to how often each changed line and
function ran, for one kernel against the other kernels of the comparison.

A kernel's changed lines are those where its sources (as built, kept in
its coverage entry) differ from the reference kernel's; the reference's
own are where it differs from the second kernel. So with baseline and
patched, patched's lines are what the patch adds or rewrites, and
baseline's are the places the patch removes code from.
"""

from __future__ import annotations

import base64
import difflib
import json
import tempfile
from pathlib import Path
from typing import Any

from orchestrator.build.coverage import DIR
from orchestrator.coverage.functions import functions
from orchestrator.coverage.gcov import by_function, changed_runs, counts_for, line_counts


def targets_files(entry: Path) -> list[str]:
    """The changed files a coverage entry instruments and keeps."""
    return list(json.loads((entry / DIR / "targets.json").read_text())["files"])


def _source(entry: Path, rel: str) -> list[str]:
    path = entry / DIR / "src" / rel
    return path.read_text(errors="replace").splitlines() if path.is_file() else []


def changed_against(entry: Path, other: Path, files: list[str]) -> dict[str, list[int]]:
    """{file: new-side line numbers of `entry` that differ from `other`};
    a removal counts as the line after it (as coverage/changes.py)."""
    out: dict[str, list[int]] = {}
    for rel in files:
        mine, theirs = _source(entry, rel), _source(other, rel)
        lines: set[int] = set()
        for tag, _, _, j1, j2 in difflib.SequenceMatcher(None, theirs, mine, autojunk=False).get_opcodes():
            if tag in ("replace", "insert"):
                lines.update(range(j1 + 1, j2 + 1))
            elif tag == "delete" and mine:
                lines.add(min(j1 + 1, len(mine)))
        if lines:
            out[rel] = sorted(lines)
    return out


def changed_lines(entries: dict[str, Path], files: list[str]) -> dict[str, dict[str, list[int]]]:
    """{variant: its changed lines}: the first variant against the second,
    every other against the first."""
    names = list(entries)
    if len(names) < 2:
        return {n: {} for n in names}
    return {n: changed_against(entries[n], entries[names[1] if i == 0 else names[0]], files)
            for i, n in enumerate(names)}


def counts(entry: Path, gcov_json: Path) -> dict[str, dict[int, int]]:
    """{source file as gcov names it: {line: count}} of one cell."""
    meta = json.loads((entry / DIR / "targets.json").read_text())
    root = meta["obj_root"].rstrip("/") + "/"
    out: dict[str, dict[int, int]] = {}
    with tempfile.TemporaryDirectory(prefix="orchestrator-gcda-") as tmp:
        for path, data in json.loads(gcov_json.read_text()).items():
            rel = path.lstrip("/")
            rel = rel[len(root.lstrip("/")):] if rel.startswith(root.lstrip("/")) else rel
            notes = entry / DIR / "notes" / (rel[: -len(".gcda")] + ".gcno")
            if not notes.is_file():
                continue  # an object the coverage build did not mean to instrument
            gcda = Path(tmp) / Path(rel).name
            gcda.write_bytes(base64.b64decode(data))
            for name, lines in line_counts(gcda, notes).items():
                merged = out.setdefault(name, {})
                for line, n in lines.items():
                    merged[line] = merged.get(line, 0) + n
    return out


def tally(entry: Path, changed: dict[str, list[int]], cell_counts: dict[str, dict[int, int]]) -> dict[str, Any]:
    """One kernel in one cell: per changed line and per function, its count."""
    lines, per_function = [], {}
    for rel, numbers in sorted(changed.items()):
        runs = changed_runs(numbers, counts_for(cell_counts, rel), functions("\n".join(_source(entry, rel))))
        text = _source(entry, rel)
        lines += [{"file": rel, "line": r.line, "function": r.function, "count": r.count,
                   "text": text[r.line - 1].strip()[:100] if r.line <= len(text) else ""} for r in runs]
        for name, figures in by_function(runs).items():
            if figures["lines"]:  # a function whose changed lines are all comments or declarations: nothing to run
                per_function[f"{rel}:{name}"] = figures
    with_code = [ln for ln in lines if ln["count"] is not None]
    return {
        "functions": per_function, "lines": lines,
        "changed_lines_with_code": len(with_code),
        "ran": sum(1 for ln in with_code if ln["count"] > 0),
        "executions": sum(ln["count"] for ln in with_code),
    }
