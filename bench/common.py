"""Shared by the benchmarks: medians with their ratio to the best case."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def report(title: str, figures: dict[str, list[float]], unit: str = "s") -> None:
    """One line per figure: its median, the ratio of that median to the
    figure's best sample (how noisy the host was), and every sample."""
    print(f"== {title}")
    for name, samples in figures.items():
        if not samples:
            print(f"{name:40s} no samples")
            continue
        med, best = statistics.median(samples), min(samples)
        ratio = med / best if best else float("nan")
        shown = ", ".join(f"{s:.2f}" for s in samples)
        print(f"{name:40s} median {med:8.2f} {unit}  x{ratio:5.2f} of best   samples [{shown}]")
