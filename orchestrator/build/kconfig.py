"""Kconfig fragments: parse what they ask for, check the final .config has it.

merge_config.sh and olddefconfig drop a symbol silently when its
dependencies are not met; as in kunit_tool, a dropped symbol is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SET = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
_UNSET = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")


def parse(text: str) -> dict[str, str]:
    """Symbol -> value; "n" for `# CONFIG_X is not set`."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if m := _SET.match(line):
            out[m.group(1)] = m.group(2)
        elif m := _UNSET.match(line):
            out[m.group(1)] = "n"
    return out


@dataclass(frozen=True)
class Dropped:
    symbol: str
    wanted: str
    got: str
    fragment: str

    def __str__(self) -> str:
        return f"{self.symbol}: {self.fragment} asks for {self.wanted}, the final .config has {self.got}"


def dropped(final_config: str, fragments: dict[str, str]) -> list[Dropped]:
    """Every symbol a fragment asked for that the final .config lacks.

    `fragments` maps a fragment's name to its text, in merge order; a later
    fragment overrides an earlier one, as merge_config.sh does.
    """
    wanted: dict[str, tuple[str, str]] = {}
    for name, text in fragments.items():
        for sym, value in parse(text).items():
            wanted[sym] = (value, name)
    final = parse(final_config)
    out = []
    for sym, (value, name) in wanted.items():
        got = final.get(sym, "n")
        if got != value:
            out.append(Dropped(sym, value, "unset" if sym not in final else got, name))
    return out
