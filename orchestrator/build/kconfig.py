"""Kconfig fragments: parse what they ask for, check the final .config has it.

merge_config.sh and olddefconfig drop a symbol silently when its
dependencies are not met; as in kunit_tool, a dropped symbol is an error.
One fragment serves every kernel version from 6.1 to mainline, though, and
symbols come and go between versions (CONFIG_RANDOM_TRUST_CPU is gone after
6.1): a symbol the tree's Kconfig does not define at all is only reported
and skipped. "Defined" means a `config X` or `menuconfig X` line in a
Kconfig file of the tree, the way scripts/checkkconfigsymbols.py reads it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

_SET = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
_UNSET = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")
_DEFINE = re.compile(rb"^[ \t]*(?:menu)?config[ \t]+([A-Za-z0-9_]+)[ \t]*$", re.MULTILINE)
ARCH = "x86"  # every recipe builds bzImage; other arches' Kconfig is never read


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


def defined_symbols(src: Path) -> frozenset[str]:
    """Every symbol a Kconfig file of the tree defines (without CONFIG_).

    Reads only files named Kconfig* (about 1,700 in 6.12), and skips the
    other architectures, whose Kconfig an x86 build never sources.
    """
    found: set[str] = set()
    for folder, dirs, files in os.walk(src):
        if Path(folder) == src / "arch":
            dirs[:] = [d for d in dirs if d == ARCH]
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if name.startswith("Kconfig"):
                with open(os.path.join(folder, name), "rb") as f:
                    found.update(m.decode() for m in _DEFINE.findall(f.read()))
    return frozenset(found)


def cached_symbols(src: Path, memo: Path, stamp: object) -> frozenset[str]:
    """`defined_symbols`, kept in `memo` for as long as `stamp` (what was
    applied to the tree: a patch may add a symbol) stays the same."""
    try:
        data = json.loads(memo.read_text())
        if data.get("stamp") == stamp:
            return frozenset(data["symbols"])
    except (OSError, ValueError, KeyError, AttributeError):
        pass
    symbols = defined_symbols(src)
    tmp = memo.with_name(f".{memo.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps({"stamp": stamp, "symbols": sorted(symbols)}))
    os.replace(tmp, memo)
    return symbols


@dataclass(frozen=True)
class Checked:
    """What the fragments asked for and did not get, in two kinds."""

    lost: list[Dropped] = field(default_factory=list)  # defined, yet not in the final .config: an error
    undefined: list[Dropped] = field(default_factory=list)  # no Kconfig defines it here: a warning


def check(final_config: str, fragments: dict[str, str], defined) -> Checked:
    """`dropped`, split by whether the tree defines the symbol. `defined` is
    called (it may scan the tree) only when something was dropped."""
    missing = dropped(final_config, fragments)
    if not missing:
        return Checked()
    symbols = defined()
    lost = [d for d in missing if d.symbol.removeprefix("CONFIG_") in symbols]
    return Checked(lost, [d for d in missing if d.symbol.removeprefix("CONFIG_") not in symbols])
