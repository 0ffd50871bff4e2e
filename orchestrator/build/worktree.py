"""A kernel work tree (source and objects of one tree key) and what `patch`
says when a patch does not fit it."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

WORK_STAMP = "last-used"  # in a work tree: the recipe of the last build that used it


class WorkTree:
    """The source and object folders of one tree key, and which patches are
    applied to the source now (state.json; "clean": false means a patch step
    was interrupted and the source must be extracted again)."""

    def __init__(self, root: Path):
        self.root = root
        self.src = root / "src"
        self.obj = root / "obj"
        self.applied_dir = root / "applied"  # a copy of each patch applied, to revert exactly it
        self.state_file = root / "state.json"
        self.symbols = root / "kconfig-symbols.json"  # kconfig.cached_symbols' memo
        self.stamp = root / WORK_STAMP

    def mark_used(self, recipe: str) -> None:
        """Record its last use and user, for `cache du` and `cache gc`
        (housekeeping.py): written before the build touches the tree."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.stamp.write_text(f"{recipe}\n")

    def state(self) -> dict[str, Any]:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {"clean": False, "applied": []}

    def save(self, clean: bool, applied: list[tuple[str, str]] | list[list[str]]) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"clean": clean, "applied": [list(p) for p in applied]}))
        os.replace(tmp, self.state_file)

    def reusable(self) -> bool:
        """Clean, with the copy of every applied patch in place."""
        state = self.state()
        copies = all((self.applied_dir / f"{i:04d}-{name}").is_file()
                     for i, (name, _) in enumerate(state.get("applied", [])))
        return bool(state.get("clean")) and copies and (self.src / "Makefile").is_file()


_CHECKING = re.compile(r"^(?:checking|patching) file (.+?)\s*$")
_HUNK = re.compile(r"^Hunk #(\d+) FAILED at (\d+)")
_WANTED = re.compile(r"^\|(?:\+\+\+|---) (?:[ab]/)?(\S+)")


def failures(output: str) -> list[str]:
    """What `patch --dry-run` reported, one line per problem: the target
    file and the hunk that failed, a file the tree lacks, or a patch that is
    already applied."""
    out: list[str] = []
    target, wanted = "?", "?"
    for line in output.splitlines():
        if m := _CHECKING.match(line):
            target = m.group(1)
        elif m := _WANTED.match(line):
            wanted = m.group(1)
        elif m := _HUNK.match(line):
            out.append(f"{target}: hunk #{m.group(1)} FAILED at line {m.group(2)}")
        elif line.startswith("No file to patch"):
            out.append(f"{wanted}: no such file in the tree")
        elif line.startswith("Reversed (or previously applied) patch detected"):
            out.append(f"{target}: the change is already there (reversed or previously applied patch)")
        elif "Only garbage was found" in line:
            out.append("not a patch: no diff found in it")
    return out
