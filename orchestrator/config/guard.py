"""Limits that keep loading a config bounded in time and memory.

A config, the files it `extends:` and the recipes it names are read through
here before YAML sees a byte. Every limit is far above what a real config
needs (the largest shipped one reads 3.7 KB in 10 files, 261 nodes, depth
5) and far below what would hurt: pure-Python PyYAML (the C parser words
its syntax errors differently) needs ~28 us per node and up to ~1.6 s per
MiB of the slowest text (blank lines in a block scalar), so these limits
keep the worst load under a second and a few MB, on top of the CLI's own
start. Every refusal is a ConfigError naming file, line and key path
(exit 2).
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import ConfigError

# Bytes of YAML one load may read: the config, its extends and its recipes
# together (so a chain of large files cannot multiply the worst case). A
# single file larger than this is refused before more than this is read.
# 256 KiB, not 1 MiB: a MiB of the slowest text alone takes 1.6 s to parse.
MAX_BYTES = 256 << 10
# Files one load may read, counting a file each time it is named: a chain of
# `extends:` lists naming the same files again and again would otherwise
# load 9**9 files (the extends form of "billion laughs").
MAX_FILES = 64
# Nodes (keys, values, items) one load may hold: bounds parse time, since
# a MiB of `[1,1,1,...]` is half a million nodes and 14 s of parsing.
MAX_NODES = 10_000
# Nesting of mappings and lists. Checked on parser events, before a node
# is built: nothing here recurses, and `[[[[...` ends at level 33.
MAX_DEPTH = 32
# Characters in one key or value. Nothing real comes close; a longer one is
# a pasted blob or a runaway quote, and values end up in argv (an argument
# may not pass 128 KiB), tables and the run's metadata.
MAX_SCALAR = 64 << 10

# Cells one config may expand to (kernels x tdp x workloads x params x
# repetitions). A matrix passes the node limit with a few thousand param
# values and still multiplies to billions of cells, which `run --dry-run`
# would try to list; a real matrix is a few hundred cells, and 100,000
# cells of a minute each are ten weeks of one host.
MAX_CELLS = 100_000

KIB = 1 << 10
# What YAML refuses in a stream (yaml.reader.Reader.NON_PRINTABLE): caught
# here so the message can name the line, which PyYAML's ReaderError cannot.
_NON_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Line breaks as YAML counts them, so our line numbers match its marks.
_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")


@dataclass
class Budget:
    """What is left for one load: shared by the config, the files it
    extends and the recipes it names, so the limits hold for the whole."""

    bytes_left: int = MAX_BYTES
    files_left: int = MAX_FILES
    nodes_left: int = MAX_NODES

    def take_file(self, file: str, line: int | None, key: str) -> None:
        """One more file to read; refused at the spot that names it."""
        if self.files_left <= 0:
            raise ConfigError(
                file, line, key,
                f"more than {MAX_FILES} files to read for one config (extends: and recipes together); "
                "is a file named again and again?",
            )
        self.files_left -= 1

    def take_node(self, file: str, line: int, key: str) -> None:
        if self.nodes_left <= 0:
            raise ConfigError(
                file, line, key,
                f"more than {MAX_NODES} keys, values and items in one config (with its extends and recipes)",
            )
        self.nodes_left -= 1


def line_at(text: str, pos: int) -> int:
    """The 1-based line of character `pos`, counted as YAML counts."""
    return len(_BREAK.findall(text, 0, pos)) + 1


def _column(text: str, pos: int) -> int:
    starts = [m.end() for m in _BREAK.finditer(text, 0, pos)]
    return pos - (starts[-1] if starts else 0) + 1


def read_text(path: Path, name: str, budget: Budget) -> str:
    """The file's text, read without ever holding more than the budget:
    not a regular file, too large, not UTF-8 or holding characters YAML
    refuses are ConfigErrors with the line where it happens."""
    try:
        # non-blocking, so a FIFO is refused by fstat instead of hanging open()
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ConfigError(name, None, "", "file not found") from None
    except OSError as exc:
        raise ConfigError(name, None, "", f"cannot read: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(name, None, "", "cannot read: not a regular file")
        # st_size may lie (procfs, a file still growing): read one byte past
        # the limit and decide on what was read, never more
        try:
            data = f.read(budget.bytes_left + 1)
        except OSError as exc:  # e.g. EIO from /proc/self/mem, EAGAIN
            raise ConfigError(name, None, "", f"cannot read: {exc.strerror}") from None
    if len(data) > budget.bytes_left:
        _too_large(data[: budget.bytes_left], name, info.st_size, budget)
    budget.bytes_left -= len(data)
    text = _decode(data, name)
    bad = _NON_PRINTABLE.search(text)
    if bad:
        ch = bad.group()
        kind = "control character" if unicodedata.category(ch) == "Cc" else "character"
        raise ConfigError(
            name, line_at(text, bad.start()), "",
            f"{kind} U+{ord(ch):04X} at column {_column(text, bad.start())} is not allowed in YAML",
        )
    return text


def _too_large(head: bytes, name: str, size: int, budget: Budget) -> None:
    line = head.count(b"\n") + 1
    if size > MAX_BYTES or budget.bytes_left == MAX_BYTES:
        shown = _size(size) if size > MAX_BYTES else f"more than {MAX_BYTES // KIB} KiB"
        what = f"file is {shown}; a config or recipe may have at most {MAX_BYTES // KIB} KiB"
    else:
        what = (f"with the files read before it, this config passes {MAX_BYTES // KIB} KiB of YAML "
                "(its extends and recipes count together)")
    raise ConfigError(name, line, "", f"{what} (the limit falls on this line)")


def _size(n: int) -> str:
    return f"{n / (KIB * KIB):.1f} MiB" if n >= KIB * KIB else f"{n // KIB} KiB"


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start].decode("utf-8")
        line = line_at(before, len(before))
        raise ConfigError(
            name, line, "",
            f"not UTF-8: byte 0x{data[exc.start]:02x} at column {_column(before, len(before))}",
        ) from None


@contextmanager
def last_resort(name: str) -> Iterator[None]:
    """The depth limit means nothing in loading should recurse deeply; if
    something still runs out of stack (a merge, a validator), the user gets
    a ConfigError and exit 2, not a traceback."""
    try:
        yield
    except RecursionError:
        raise ConfigError(name, None, "", f"nested too deeply to load (the limit is {MAX_DEPTH} levels)") from None
