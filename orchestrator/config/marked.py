"""YAML loading that remembers where every key came from.

We compose the YAML node graph ourselves (safe: only the standard tags are
accepted) and build plain dicts and lists that carry the file and line of
each key and item, so later validation can point at the exact spot even
after `extends:` has merged several files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

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


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _convert(node: yaml.Node, loader: _Loader, file: str, path: str, origin: Path | None = None) -> Any:
    if isinstance(node, yaml.MappingNode):
        if node.tag != _STD + "map":
            raise ConfigError(file, _line(node), path, f"tag {node.tag!r} is not allowed")
        out = MDict()
        out.src = Src(file, _line(node), origin)
        out.key_src = {}
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode) or knode.tag != _STD + "str":
                raise ConfigError(file, _line(knode), path, "mapping keys must be plain strings")
            key = knode.value
            sub = f"{path}.{key}" if path else key
            if key in out:
                raise ConfigError(file, _line(knode), sub, "duplicate key")
            out.key_src[key] = Src(file, _line(knode), origin)
            out[key] = _convert(vnode, loader, file, sub, origin)
        return out
    if isinstance(node, yaml.SequenceNode):
        if node.tag != _STD + "seq":
            raise ConfigError(file, _line(node), path, f"tag {node.tag!r} is not allowed")
        seq = MList()
        seq.src = Src(file, _line(node), origin)
        seq.item_src = []
        for i, item in enumerate(node.value):
            seq.item_src.append(Src(file, _line(item), origin))
            seq.append(_convert(item, loader, file, f"{path}[{i}]", origin))
        return seq
    assert isinstance(node, yaml.ScalarNode)
    if node.tag not in _SCALAR_TAGS:
        raise ConfigError(file, _line(node), path, f"tag {node.tag!r} is not allowed")
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        raise ConfigError(file, _line(node), path, f"bad value: {exc}") from exc


def load_file(path: Path) -> MDict:
    """Load one YAML file that must hold exactly one mapping."""
    name = display(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(name, None, "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(name, None, "", f"cannot read: {exc}") from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or str(exc)
        if exc.context and exc.context_mark and exc.context_mark is not mark:
            problem += f" ({exc.context} at line {exc.context_mark.line + 1})"
        raise ConfigError(name, line, "", f"YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(name, None, "", f"YAML error: {exc}") from None
    finally:
        loader.dispose()
    if node is None:
        raise ConfigError(name, 1, "", "empty document; expected a mapping")
    if not isinstance(node, yaml.MappingNode):
        kind = "a list" if isinstance(node, yaml.SequenceNode) else "a scalar"
        raise ConfigError(name, _line(node), "", f"the document is {kind}; expected a mapping")
    return _convert(node, _Loader(""), name, "", path.resolve())


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


def load_with_extends(path: Path, _stack: tuple[Path, ...] = ()) -> MDict:
    """Load `path`, first loading and merging the files its `extends:` names
    (relative to it, in order), then overlaying its own keys."""
    real = path.resolve()
    doc = load_file(path)
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
        base = load_with_extends(target, chain)
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
