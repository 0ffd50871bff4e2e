"""What a knob kind is: the names it owns, the values it takes, and how a
pair of machines is made to run with it and shown to run with it.

A knob is one setting a KVM developer varies (`kvm.tdp_mmu`, THP, L2's
memory backing...). Each kind lives in a module of its own and is listed
in the registry (`knobs/__init__.py`); nothing else in the code knows
knob names. Kinds import nothing from the machine layer: they see a guest
through the small `Guest` protocol, so config validation can use them
without the machine layer, and unit tests pass fakes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Scalar = str | int | float | bool
# When a knob takes effect, which decides what a warm-start template is keyed by:
# l1-boot: on L1's kernel command line; l2-boot: set in L1 or on L2's QEMU
# before L2 starts; live: may change at any time, so applied again after a restore.
Stage = Literal["l1-boot", "l2-boot", "live"]
WORD = re.compile(r"^[A-Za-z0-9_.,:=+/-]+$")  # one kernel command-line word, nothing a shell or QEMU reads


class Guest(Protocol):
    level: str

    def run(self, argv: Sequence[str], *, timeout: float = ..., check: bool = ...) -> Any: ...

    def qmp(self, command: str, **args: Any) -> Any: ...

    def fail(self, cause: str, message: str) -> Exception: ...


class Profile(Protocol):
    """What knobs need from the host profile (machine/profile.py)."""

    virt: str  # svm or vmx, as L1 sees its CPU
    accel: str

    @property
    def tdp_module(self) -> str: ...

    @property
    def tdp_param(self) -> str: ...


@dataclass(frozen=True)
class Values:
    """The values one knob takes: choices, a range of integers, a boolean or words."""

    choices: tuple[str, ...] = ()
    integer: tuple[int, int] | None = None
    boolean: bool = False
    words: bool = False

    def check(self, value: Any) -> str | None:
        if self.boolean:
            return None if isinstance(value, bool) else f"must be true or false (got {value!r})"
        if self.integer is not None:
            lo, hi = self.integer
            if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
                return f"must be an integer from {lo} to {hi} (got {value!r})"
            return None
        if self.words:
            if not isinstance(value, str) or not value.split():
                return f"must be a string of kernel command-line words (got {value!r})"
            bad = [w for w in value.split() if not WORD.match(w)]
            return f"{bad[0]!r} is not a plain command-line word" if bad else None
        if not isinstance(value, str) or value not in self.choices:
            return f"must be one of {', '.join(self.choices)} (got {value!r})"
        return None


Y_N = Values(choices=("Y", "N"))


def text(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def read(guest: Guest, path: str) -> str:
    """A sysfs or procfs file's content; a missing file fails the cell, named."""
    result = guest.run(["cat", path], timeout=30)
    if result.exit_code != 0:
        raise guest.fail("knob", f"{guest.level} has no {path}: {result.stderr.strip()[-200:]}")
    return str(result.stdout).strip()


def selected(content: str) -> str:
    """`always [madvise] never` -> `madvise`; a plain value stays as it is."""
    m = re.search(r"\[([^\]]+)\]", content)
    return m.group(1) if m else content


def write(guest: Guest, path: str, value: str) -> None:
    """Write `value` into a sysfs file in the guest. The script is a constant;
    path and value are its arguments, never part of it."""
    script = 'printf "%s\\n" "$1" > "$2"'
    result = guest.run(["sh", "-c", script, "sh", value, path], timeout=60)
    if result.exit_code != 0:
        raise guest.fail("knob", f"cannot write {value!r} to {path} in {guest.level}: {result.stderr.strip()[-200:]}")


class Kind:
    """One kind of knob. Subclasses override what applies to them."""

    name = ""

    def names(self) -> tuple[str, ...]:
        """Every knob name this kind owns."""
        raise NotImplementedError

    def values(self, knob: str) -> Values:
        raise NotImplementedError

    def stage(self, knob: str) -> Stage:
        raise NotImplementedError

    def l1_cmdline(self, knob: str, value: Scalar, profile: Profile) -> tuple[str, ...]:
        return ()

    def l2_settings(self, knob: str, value: Scalar) -> dict[str, Any]:
        """Fields of L2's machine settings this knob sets."""
        return {}

    def apply(self, l1: Guest, knob: str, value: Scalar, l2cfg: Any) -> None:
        """Set it in L1, before L2 starts (and after a restore, if live).
        `l2cfg`: L2's machine settings, with every knob's part in them."""

    def in_force_l1(self, l1: Guest, knob: str, value: Scalar, profile: Profile) -> str | None:
        """Read back in L1: raises l1.fail("knob", ...) on a mismatch; what was read."""
        return None

    def in_force_l2(self, l1: Guest, l2: Guest, knob: str, value: Scalar, l2cfg: Any) -> str | None:
        return None
