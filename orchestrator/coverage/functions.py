"""Which function of a C file each line belongs to, read from the file in
the built tree (not from a hunk header, which names the function where a
hunk starts, not where each of its lines is).

Kernel coding style makes this exact enough: a function's body opens with
`{` alone at the start of a line and closes with `}` at the start of a
line; its name is the identifier before the `(` of the declaration just
above the brace (macro-built names such as paging_tmpl.h's
`FNAME(pte_prefetch)` kept whole). Static and inline functions count like
any other, whether or not the compiler kept a copy of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = re.compile(r"((?:[A-Za-z_]\w*\s*\(\s*[A-Za-z_]\w*\s*\))|[A-Za-z_]\w*)\s*\(")
_KEYWORDS = {"if", "for", "while", "switch", "return", "sizeof", "__attribute__", "defined",
             "__releases", "__acquires", "__must_hold"}  # sparse annotations after a declaration


@dataclass(frozen=True)
class Function:
    name: str
    start: int  # 1-based, the line of its name
    end: int  # the line of its closing brace


def _name_before(lines: list[str], brace: int) -> tuple[str, int] | None:
    """The function name declared in the lines above a body's `{`."""
    for i in range(brace - 1, max(brace - 8, -1), -1):
        for m in reversed(list(_NAME.finditer(lines[i]))):
            name = m.group(1).replace(" ", "")
            if name.split("(")[0] not in _KEYWORDS:
                return name, i + 1
        if lines[i].strip().endswith((";", "}")) or not lines[i].strip():
            return None
    return None


def functions(source: str) -> list[Function]:
    lines = source.splitlines()
    out: list[Function] = []
    open_at: tuple[str, int] | None = None
    for i, text in enumerate(lines):
        if text.startswith("{") and open_at is None:
            open_at = _name_before(lines, i)
        elif text.startswith("}") and open_at is not None:
            out.append(Function(open_at[0], open_at[1], i + 1))
            open_at = None
    return out


def enclosing(funcs: list[Function], line: int) -> str | None:
    return next((f.name for f in funcs if f.start <= line <= f.end), None)
