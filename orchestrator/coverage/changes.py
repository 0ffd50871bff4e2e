"""The lines a patch changes, on the side of the tree it produces.

A `+` line is a changed line of the new file. A hunk that only deletes
lines changes the code around the place they were: the first new-side
line after it stands for it (or the last before it, at a file's end), so
a removal is still a place that must run for the patch to matter.
"""

from __future__ import annotations

import re
from collections import defaultdict

FILE = re.compile(r"^\+\+\+ (?:b/)?(\S+)")
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


def changed_lines(patch: str) -> dict[str, list[int]]:
    """{path in the tree: sorted new-side line numbers the patch changes}."""
    out: dict[str, set[int]] = defaultdict(set)
    path: str | None = None
    line = 0
    pending_delete = False
    for text in patch.splitlines():
        if m := FILE.match(text):
            path = None if m.group(1) == "/dev/null" else m.group(1)
            continue
        if m := _HUNK.match(text):
            line, pending_delete = int(m.group(1)), False
            continue
        if path is None or not text or text[0] not in " +-" or text.startswith(("--- ", "+++ ")):
            continue
        if text[0] == "+":
            out[path].add(line)
            line, pending_delete = line + 1, False
        elif text[0] == "-":
            pending_delete = True
        else:
            if pending_delete:
                out[path].add(line)  # the line right after a removal
                pending_delete = False
            line += 1
    return {p: sorted(v) for p, v in out.items() if v}
