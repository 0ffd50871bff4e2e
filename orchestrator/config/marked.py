"""YAML loading that remembers where every key came from.

We build the document ourselves from PyYAML's parser events (safe: only the
standard tags are accepted; anchors and aliases are refused) into plain
dicts and lists that carry the file and line of each key and item, so later
validation can point at the exact spot even after `extends:` has merged
several files. Building uses a stack, not recursion, and every limit of
`guard.py` is checked on the event, so no input makes loading run long,
grow large or overflow the stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import yaml

from orchestrator.config.guard import MAX_DEPTH, MAX_SCALAR, Budget, line_at, read_text
from orchestrator.errors import ConfigError
from orchestrator.paths import display

EXTENDS_KEY = "extends"

_STD = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_STD + t for t in ("str", "int", "float", "bool", "null")}


@dataclass(frozen=True)
class Src:
    file: str  # as shown in messages
    line: int
    # the file itself, for paths a document gives relative to it (patches)
    origin: Path | None = field(default=None, compare=False)


class MDict(dict):
    """A mapping that knows where it and each of its keys were written."""

    src: Src
    key_src: dict[str, Src]


class MList(list):
    src: Src
    item_src: list[Src]


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: only true/false, so `tdp: [on, off]`
    means the words on and off, as a reader of the config expects."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != _STD + "bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _STD + "bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _line(event: yaml.Event) -> int:
    return event.start_mark.line + 1


def _short(value: str) -> str:
    return repr(value) if len(value) <= 40 else f"{value[:40]!r}... ({len(value)} characters)"


# Anchors and aliases are refused, not bounded. An alias is the only way YAML
# builds a structure that refers to itself (`&a [*a]`) or grows exponentially
# ("billion laughs"), so refusing it removes that whole class instead of
# tuning limits against it; no shipped config uses one; `extends:` already
# shares settings between files, with marks that point at the file that said
# it, where an aliased value would carry the anchor's line to every place it
# is used. Merge keys (`<<`) need an alias to be of use: refused alike.
_NO_ALIASES = "YAML anchors and aliases are not allowed in a config; share settings with extends:"
_NO_MERGE = "YAML merge keys (<<) are not allowed in a config; share settings with extends:"


@dataclass
class _Open:
    """A mapping or list being built, and where its next child goes."""

    value: MDict | MList
    path: str
    key: str | None = None  # a mapping's key, waiting for its value
    key_src: Src | None = None


class _Builder:
    """Builds MDicts and MLists straight from parser events, with a stack
    instead of recursion (PyYAML's composer recurses once per level), and
    checks every limit on the event, before the node exists."""

    def __init__(self, text: str, file: str, budget: Budget, origin: Path | None = None):
        self.events = _Loader(text)
        self.constructor = _Loader("")
        self.file = file
        self.origin = origin  # carried into every Src made here
        self.budget = budget
        self.stack: list[_Open] = []

    def src(self, event: yaml.Event) -> Src:
        return Src(self.file, _line(event), self.origin)

    def fail(self, event: yaml.Event, path: str, message: str) -> NoReturn:
        raise ConfigError(self.file, _line(event), path, message)

    def build(self) -> MDict:
        events = self.events
        events.get_event()  # StreamStartEvent
        if events.check_event(yaml.StreamEndEvent):
            raise ConfigError(self.file, 1, "", "empty document; expected a mapping")
        events.get_event()  # DocumentStartEvent
        root = self._root(events.get_event())
        while self.stack:
            event = events.get_event()
            if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                self.stack.pop()
            elif isinstance(self.stack[-1].value, MDict) and self.stack[-1].key is None:
                self._key(event)
            else:
                self._value(event)
        events.get_event()  # DocumentEndEvent
        if events.check_event(yaml.DocumentStartEvent):
            self.fail(events.peek_event(), "", "a second YAML document (---); a config is one document")
        return root

    def _root(self, event: yaml.Event) -> MDict:
        self._check_node(event, "")
        if isinstance(event, yaml.SequenceStartEvent):
            self.fail(event, "", "the document is a list; expected a mapping")
        if not isinstance(event, yaml.MappingStartEvent):
            self.fail(event, "", "the document is a scalar; expected a mapping")
        root = self._open(event, "")
        assert isinstance(root, MDict)
        return root

    def _check_node(self, event: yaml.Event, path: str) -> None:
        """What any node must pass: no alias or anchor, within the budget."""
        if isinstance(event, yaml.AliasEvent):
            self.fail(event, path, f"alias *{event.anchor}: {_NO_ALIASES}")
        if event.anchor is not None:
            self.fail(event, path, f"anchor &{event.anchor}: {_NO_ALIASES}")
        self.budget.take_node(self.file, _line(event), path)

    def _key(self, event: yaml.Event) -> None:
        top = self.stack[-1]
        self._check_node(event, top.path)
        if not isinstance(event, yaml.ScalarEvent):
            self.fail(event, top.path, "mapping keys must be plain strings")
        self._check_text(event, top.path)  # before the key becomes a key path
        tag = self._scalar_tag(event)
        key = event.value
        sub = f"{top.path}.{key}" if top.path else key
        if tag == _STD + "merge":
            self.fail(event, sub, _NO_MERGE)
        if tag != _STD + "str":
            self.fail(event, top.path, "mapping keys must be plain strings")
        if key in top.value:
            self.fail(event, sub, "duplicate key")
        top.key, top.key_src = key, self.src(event)

    def _value(self, event: yaml.Event) -> None:
        top = self.stack[-1]
        if isinstance(top.value, MDict):
            path = f"{top.path}.{top.key}" if top.path else str(top.key)
        else:
            path = f"{top.path}[{len(top.value)}]"
        self._check_node(event, path)
        if isinstance(event, yaml.ScalarEvent):
            self._attach(self._scalar(event, path), event)
        else:
            self._open(event, path)

    def _attach(self, value: Any, event: yaml.Event) -> None:
        top = self.stack[-1]
        if isinstance(top.value, MDict):
            assert top.key is not None and top.key_src is not None
            top.value[top.key] = value
            top.value.key_src[top.key] = top.key_src
            top.key = None
        else:
            top.value.item_src.append(self.src(event))
            top.value.append(value)

    def _open(self, event: yaml.Event, path: str) -> MDict | MList:
        """A new mapping or list: checked, attached to its parent, pushed."""
        if len(self.stack) >= MAX_DEPTH:
            self.fail(event, path, f"nested deeper than {MAX_DEPTH} levels")
        mapping = isinstance(event, yaml.MappingStartEvent)
        kind = yaml.MappingNode if mapping else yaml.SequenceNode
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.events.resolve(kind, None, event.implicit)
        if tag != _STD + ("map" if mapping else "seq"):
            self.fail(event, path, f"tag {tag!r} is not allowed")
        value: MDict | MList
        if mapping:
            value = MDict()
            value.key_src = {}
        else:
            value = MList()
            value.item_src = []
        value.src = self.src(event)
        if self.stack:
            self._attach(value, event)
        self.stack.append(_Open(value, path))
        return value

    def _scalar_tag(self, event: yaml.ScalarEvent) -> str:
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.events.resolve(yaml.ScalarNode, event.value, event.implicit)
        return tag

    def _check_text(self, event: yaml.ScalarEvent, path: str) -> None:
        if len(event.value) > MAX_SCALAR:
            self.fail(event, path, f"{len(event.value)} characters long; a key or value may have at most {MAX_SCALAR}")
        if "\0" in event.value:
            # only an escape ("\0", "\x00") gets here: raw NULs are refused
            # with the text. Values become argv words and paths, which NUL ends.
            self.fail(event, path, "a NUL character (\\0) is not allowed in a key or value")

    def _scalar(self, event: yaml.ScalarEvent, path: str) -> Any:
        self._check_text(event, path)  # before any regex of the resolver runs on it
        tag = self._scalar_tag(event)
        if tag == _STD + "merge":
            self.fail(event, path, _NO_MERGE)
        if tag not in _SCALAR_TAGS:
            self.fail(event, path, f"tag {tag!r} is not allowed")
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            return self.constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, LookupError, OverflowError):
            # `!!int abc`, `!!int` with no value (IndexError), `!!bool x`
            # (KeyError), an integer of more than 4300 digits (ValueError)
            self.fail(event, path, f"bad value: {_short(event.value)} is not a valid {tag.removeprefix(_STD)}")


def load_file(path: Path, budget: Budget | None = None) -> MDict:
    """Load one YAML file that must hold exactly one mapping, within the
    limits of `budget` (a fresh one when loading a file on its own)."""
    name = display(path)
    if budget is None:
        budget = Budget()
    text = read_text(path, name, budget)
    builder: _Builder | None = None
    try:
        builder = _Builder(text, name, budget, path.resolve())  # PyYAML's reader checks the text here
        return builder.build()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or str(exc)
        if exc.context and exc.context_mark and exc.context_mark is not mark:
            problem += f" ({exc.context} at line {exc.context_mark.line + 1})"
        raise ConfigError(name, line, "", f"YAML syntax error: {problem}") from None
    except yaml.reader.ReaderError as exc:
        raise ConfigError(name, line_at(text, exc.position), "", f"YAML error: {exc.reason}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(name, None, "", f"YAML error: {exc}") from None
    finally:
        if builder is not None:
            builder.events.dispose()


def merge(base: Any, over: Any) -> Any:
    """Deep-merge: mappings merge key by key, anything else is replaced."""
    if isinstance(base, MDict) and isinstance(over, MDict):
        out = MDict(base)
        out.src = over.src
        out.key_src = dict(base.key_src)
        for key, value in over.items():
            out[key] = merge(base[key], value) if key in base else value
            out.key_src[key] = over.key_src[key]
        return out
    return over


def load_with_extends(path: Path, budget: Budget | None = None, _stack: tuple[Path, ...] = ()) -> MDict:
    """Load `path`, first loading and merging the files its `extends:` names
    (relative to it, in order), then overlaying its own keys. All files read
    share `budget` (a fresh one when None)."""
    if budget is None:
        budget = Budget()
    real = path.resolve()
    if not _stack:
        budget.take_file(display(path), None, "")
    doc = load_file(path, budget)
    parents = doc.pop(EXTENDS_KEY, None)
    ext_src = doc.key_src.pop(EXTENDS_KEY, None)
    if parents is None:
        return doc
    names = parents if isinstance(parents, list) else [parents]
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ConfigError(
            ext_src.file, ext_src.line, EXTENDS_KEY,
            "must be a file name or a list of file names",
        )
    merged: Any = None
    for i, name in enumerate(names):
        target = real.parent / name
        line = parents.item_src[i].line if isinstance(parents, MList) else ext_src.line
        if not target.is_file():
            raise ConfigError(ext_src.file, line, EXTENDS_KEY, f"file not found: {name}")
        chain = (*_stack, real)
        if target.resolve() in chain:
            shown = " -> ".join(display(p) for p in (*chain, target.resolve()))
            raise ConfigError(ext_src.file, line, EXTENDS_KEY, f"include cycle: {shown}")
        budget.take_file(ext_src.file, line, EXTENDS_KEY)
        base = load_with_extends(target, budget, chain)
        merged = base if merged is None else merge(merged, base)
    return merge(merged, doc)


def locate(doc: Any, loc: tuple[Any, ...]) -> tuple[str, int | None]:
    """The file and line of the deepest node that `loc` reaches in `doc`."""
    node = doc
    src: Src | None = getattr(doc, "src", None)
    for step in loc:
        if isinstance(node, MDict) and isinstance(step, str) and step in node:
            src = node.key_src.get(step, src)
            node = node[step]
        elif isinstance(node, MList) and isinstance(step, int) and 0 <= step < len(node):
            src = node.item_src[step]
            node = node[step]
        else:
            break
    if src is None:
        return "<unknown>", None
    return src.file, src.line


def keypath(loc: tuple[Any, ...]) -> str:
    out = ""
    for step in loc:
        if isinstance(step, int):
            out += f"[{step}]"
        else:
            out += f".{step}" if out else str(step)
    return out
