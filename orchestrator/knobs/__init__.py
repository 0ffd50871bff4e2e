"""The knob registry: one module per kind of knob (see base.py).

A cell's knobs are (name, value) pairs: `tdp`, the matrix's knobs and the
experiment's own. These functions do, for all of them, what each kind does
for its own: command-line words for L1, L2's settings, writes in L1 before
L2 starts, and the read-backs that refuse a cell whose settings are not in
force.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from orchestrator.knobs import l1_param, l1_sysfs, l2_cmdline, l2_memory, tdp
from orchestrator.knobs.base import Guest, Kind, Profile, Scalar, Stage, text

KINDS: tuple[Kind, ...] = (tdp.KIND, l1_param.KIND, l1_sysfs.KIND, l2_memory.KIND, l2_cmdline.KIND)
BY_NAME: dict[str, Kind] = {name: kind for kind in KINDS for name in kind.names()}
Knobs = tuple[tuple[str, Scalar], ...]


def problem(name: str, value: Scalar) -> str | None:
    """None if `name: value` is a knob setting, else what is wrong with it."""
    kind = BY_NAME.get(name)
    if kind is None:
        close = difflib.get_close_matches(name, list(BY_NAME), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f"; known: {', '.join(sorted(BY_NAME))}"
        return f"unknown knob {name!r}{hint}"
    bad = kind.values(name).check(value)
    return f"{name} {bad}" if bad else None


def stage(name: str) -> Stage:
    return BY_NAME[name].stage(name)


def at_boot(knobs: Knobs) -> Knobs:
    """The knobs a booted pair cannot change: what a warm template is keyed by."""
    return tuple((k, v) for k, v in knobs if stage(k) != "live")


def live(knobs: Knobs) -> Knobs:
    return tuple((k, v) for k, v in knobs if stage(k) == "live")


def l1_cmdline(knobs: Knobs, profile: Profile) -> tuple[str, ...]:
    return tuple(word for k, v in knobs for word in BY_NAME[k].l1_cmdline(k, v, profile))


def l2_config(l2cfg: Any, knobs: Knobs) -> Any:
    """L2's machine settings with the knobs' part in them (command-line words are added)."""
    update: dict[str, Any] = {}
    for k, v in knobs:
        for field, value in BY_NAME[k].l2_settings(k, v).items():
            if isinstance(value, tuple):
                value = (*update.get(field, getattr(l2cfg, field)), *value)
            update[field] = value
    return l2cfg.model_copy(update=update) if update else l2cfg


def apply(l1: Guest, knobs: Knobs, l2cfg: Any) -> None:
    for k, v in knobs:
        BY_NAME[k].apply(l1, k, v, l2cfg)


def in_force_l1(l1: Guest, knobs: Knobs, profile: Profile) -> dict[str, str]:
    """Every knob L1 can show, read back; a mismatch fails the cell."""
    out = {}
    for k, v in knobs:
        seen = BY_NAME[k].in_force_l1(l1, k, v, profile)
        if seen is not None:
            out[k] = seen
    return out


def in_force_l2(l1: Guest, l2: Guest, knobs: Knobs, l2cfg: Any) -> dict[str, str]:
    out = {}
    for k, v in knobs:
        seen = BY_NAME[k].in_force_l2(l1, l2, k, v, l2cfg)
        if seen is not None:
            out[k] = seen
    return out


def describe(knobs: Iterable[tuple[str, Scalar]]) -> str:
    return " ".join(f"{k}={text(v)}" for k, v in knobs)


__all__ = ["BY_NAME", "KINDS", "Knobs", "Scalar", "text", "apply", "at_boot", "describe", "in_force_l1", "in_force_l2",
           "l1_cmdline", "l2_config", "live", "problem", "stage"]
