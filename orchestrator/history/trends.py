"""Each series' trend across nights, with its change points or drift, and
what differed between the two nights around each change point."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestrator.history.changes import ChangePoint, Drift, analyse


@dataclass
class Trend:
    series: str
    metric: str
    nights: list[str]  # run ids, in order
    values: list[float]
    points: list[ChangePoint] = field(default_factory=list)
    drift: Drift | None = None


def trends(nights: list[dict[str, Any]]) -> list[Trend]:
    out: dict[tuple[str, str], Trend] = {}
    for night in nights:
        for series, metrics in night["series"].items():
            for metric, value in metrics.items():
                t = out.setdefault((series, metric), Trend(series, metric, [], []))
                t.nights.append(night["run"])
                t.values.append(value)
    for t in out.values():
        t.points, t.drift = analyse(t.values)
    return [out[k] for k in sorted(out)]


def kernel_changes(nights: list[dict[str, Any]], before: str, after: str) -> list[str]:
    """What differs in the kernels between two nights (keys, patches)."""
    by_run = {n["run"]: n for n in nights}
    a, b = by_run[before]["kernels"], by_run[after]["kernels"]
    out = []
    for name in sorted(set(a) | set(b)):
        ka, kb = a.get(name), b.get(name)
        if ka is None or kb is None:
            out.append(f"{name}: {'added' if ka is None else 'removed'}")
        elif ka.get("key") != kb.get("key"):
            patches = "" if ka.get("patches") == kb.get("patches") else \
                f"; patches {ka.get('patches')} -> {kb.get('patches')}"
            out.append(f"{name}: key {str(ka.get('key'))[:12]} -> {str(kb.get('key'))[:12]}{patches}")
    for field_ in ("accel",):
        if by_run[before].get(field_) != by_run[after].get(field_):
            out.append(f"{field_}: {by_run[before].get(field_)} -> {by_run[after].get(field_)}")
    return out or ["the same kernels (keys) and accelerator: the change came from elsewhere (host, tool, noise)"]
