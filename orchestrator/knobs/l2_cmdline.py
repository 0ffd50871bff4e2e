"""`l2.cmdline`: words added to L2's kernel command line, read back from
L2's /proc/cmdline."""

from __future__ import annotations

from typing import Any

from orchestrator.knobs.base import Guest, Kind, Scalar, Stage, Values, read, text


class L2Cmdline(Kind):
    name = "l2-cmdline"

    def names(self) -> tuple[str, ...]:
        return ("l2.cmdline",)

    def values(self, knob: str) -> Values:
        return Values(words=True)

    def stage(self, knob: str) -> Stage:
        return "l2-boot"

    def l2_settings(self, knob: str, value: Scalar) -> dict[str, Any]:
        return {"cmdline": tuple(text(value).split())}  # added to the config's own words

    def in_force_l2(self, l1: Guest, l2: Guest, knob: str, value: Scalar, l2cfg: Any) -> str:
        words = read(l2, "/proc/cmdline").split()
        missing = [w for w in text(value).split() if w not in words]
        if missing:
            raise l2.fail("knob", f"L2's /proc/cmdline lacks {' '.join(missing)}")
        return f"l2.cmdline: {text(value)} in /proc/cmdline"


KIND = L2Cmdline()
