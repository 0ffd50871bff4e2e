"""Change points and drift in a noisy nightly series.

Change points: E-divisive means (Matteson and James, 2014; the method of
MongoDB's signal processing work and of Hunter/Apache Otava), with a
permutation test for each split. It assumes no distribution, which fits
performance counters (skewed, sometimes bimodal). Splits are found one at
a time, each the best left in any segment, until the best is no longer
significant or too small to matter (a relative step below `min_step_pct`
is noise for a reviewer, however significant).

Drift: a slow trend has no single step, and E-divisive would cut it in
arbitrary places. So a series is first asked whether a straight line
explains it better than the best single step (smaller residual sum of
squares) and trends by Kendall's tau; if so it is reported as a drift
with its Theil-Sen slope per night, and not cut into steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ALPHA = 0.01  # permutation test level of a split
PERMUTATIONS = 199
MIN_SEGMENT = 3  # nights on each side of a split
MIN_STEP_PCT = 2.0


@dataclass(frozen=True)
class ChangePoint:
    index: int  # the first night after the change
    before: float  # median of the segment before
    after: float
    p_value: float

    @property
    def change_pct(self) -> float:
        return (self.after - self.before) / abs(self.before) * 100.0 if self.before else 0.0


@dataclass(frozen=True)
class Drift:
    slope_pct_per_night: float  # Theil-Sen slope, relative to the series' median
    p_value: float


def _q(d: np.ndarray, lo: int, hi: int) -> tuple[float, int]:
    """The best split of x[lo:hi] by the energy statistic (alpha = 1), and
    its value; d is the matrix of |x_i - x_j|."""
    best, where = -np.inf, -1
    for tau in range(lo + MIN_SEGMENT, hi - MIN_SEGMENT + 1):
        a, b = slice(lo, tau), slice(tau, hi)
        n, m = tau - lo, hi - tau
        e = 2 * d[a, b].mean() - d[a, a].mean() - d[b, b].mean()
        q = e * n * m / (n + m)
        if q > best:
            best, where = q, tau
    return best, where


def _significance(x: np.ndarray, lo: int, hi: int, q: float, rng: np.random.Generator) -> float:
    seg = x[lo:hi].copy()
    higher = 0
    for _ in range(PERMUTATIONS):
        rng.shuffle(seg)
        d = np.abs(seg[:, None] - seg[None, :])
        if _q(d, 0, len(seg))[0] >= q:
            higher += 1
    return (higher + 1) / (PERMUTATIONS + 1)


def change_points(values: list[float], seed: int = 0) -> list[ChangePoint]:
    x = np.asarray(values, dtype=float)
    d = np.abs(x[:, None] - x[None, :])
    rng = np.random.default_rng(seed)
    cuts = [0, len(x)]
    found: list[ChangePoint] = []
    while True:
        candidates = []
        for lo, hi in zip(cuts, cuts[1:]):
            if hi - lo >= 2 * MIN_SEGMENT:
                q, tau = _q(d, lo, hi)
                candidates.append((q, tau, lo, hi))
        if not candidates:
            break
        q, tau, lo, hi = max(candidates)
        before, after = float(np.median(x[lo:tau])), float(np.median(x[tau:hi]))
        step = abs(after - before) / abs(before) * 100 if before else (0.0 if after == before else 100.0)
        p = _significance(x, lo, hi, q, rng)
        if p > ALPHA or step < MIN_STEP_PCT:
            break
        found.append(ChangePoint(tau, before, after, p))
        cuts = sorted(cuts + [tau])
    return sorted(found, key=lambda c: c.index)


def drift(values: list[float]) -> Drift | None:
    """A trend that a line explains better than any single step."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    n = len(x)
    if n < 2 * MIN_SEGMENT:
        return None
    t = np.arange(n)
    tau, p = stats.kendalltau(t, x)
    if not (p < ALPHA):
        return None
    slope, intercept = np.polyfit(t, x, 1)
    line = float(((x - (slope * t + intercept)) ** 2).sum())
    step = min(float(((x[:k] - x[:k].mean()) ** 2).sum() + ((x[k:] - x[k:].mean()) ** 2).sum())
               for k in range(MIN_SEGMENT, n - MIN_SEGMENT + 1))
    if line >= step:
        return None
    ts = stats.theilslopes(x, t)
    median = float(np.median(x))
    return Drift(float(ts.slope) / abs(median) * 100 if median else 0.0, float(p))


def analyse(values: list[float]) -> tuple[list[ChangePoint], Drift | None]:
    """Drift if a line explains the series best, else its change points."""
    trend = drift(values)
    return ([], trend) if trend else (change_points(values), None)
