"""Statistics for one metric of one matched cell group: A's samples against B's.

Medians and spread (IQR), the change of the median in %, a bootstrap
confidence interval for that change, a Mann-Whitney U test (scipy), and a
verdict that needs both significance and a minimum effect size. KVM counters
under TCG are almost deterministic, so identical samples on both sides must
read as "no change", and a large shift with few samples still needs enough
samples for the test to be able to say anything (3 a side).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from scipy import stats

Better = Literal["lower", "higher"]
Verdict = Literal["improvement", "regression", "no change", "not enough data"]

ALPHA = 0.05
MIN_SAMPLES = 3
BOOTSTRAP = 2000


@dataclass(frozen=True)
class Comparison:
    metric: str
    better: Better
    n_a: int
    n_b: int
    median_a: float
    median_b: float
    iqr_a: float
    iqr_b: float
    change_pct: float | None  # (median B - median A) / |median A|
    ci_low_pct: float | None
    ci_high_pct: float | None
    p_value: float | None
    min_effect_pct: float
    verdict: Verdict
    test: str = ""

    @property
    def significant(self) -> bool:
        return self.verdict in ("improvement", "regression")


def _pct(a: float, b: float) -> float | None:
    if a == 0:
        return 0.0 if b == 0 else None
    return (b - a) / abs(a) * 100.0


def bootstrap_ci(a: np.ndarray, b: np.ndarray, seed: int = 0, level: float = 0.95) -> tuple[float | None, float | None]:
    """Percentile bootstrap CI of the % change of the median (fixed seed:
    the same samples always give the same report)."""
    rng = np.random.default_rng(seed)
    ia = rng.integers(0, len(a), size=(BOOTSTRAP, len(a)))
    ib = rng.integers(0, len(b), size=(BOOTSTRAP, len(b)))
    ma = np.median(a[ia], axis=1)
    mb = np.median(b[ib], axis=1)
    ok = ma != 0
    if not ok.any():
        return None, None
    changes = (mb[ok] - ma[ok]) / np.abs(ma[ok]) * 100.0
    lo, hi = np.percentile(changes, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return float(lo), float(hi)


def decide(change: float | None, p: float, min_effect_pct: float, better: Better) -> Verdict:
    if change is None or p >= ALPHA or abs(change) < min_effect_pct:
        return "no change"
    return "improvement" if (change < 0) == (better == "lower") else "regression"


def adjust(rows: list[Comparison]) -> list[Comparison]:
    """Benjamini-Hochberg over every tested row of a report (scipy): with
    dozens of metrics and cells, a raw p < 0.05 here and there is expected
    by chance; the adjusted p keeps false discoveries near 5%."""
    tested = [i for i, c in enumerate(rows) if c.p_value is not None]
    if not tested:
        return rows
    adjusted = stats.false_discovery_control([rows[i].p_value for i in tested], method="bh")
    out = list(rows)
    for i, p in zip(tested, adjusted):
        c = rows[i]
        out[i] = replace(c, p_value=float(p), verdict=decide(c.change_pct, float(p), c.min_effect_pct, c.better))
    return out


def p_value(xa: np.ndarray, xb: np.ndarray) -> tuple[float, str]:
    """Mann-Whitney U from 4 samples a side. With 3 its smallest possible
    two-sided p is 0.1, so it could never flag anything: there Welch's t
    test, which suits the near-deterministic KVM counters of TCG runs."""
    if np.ptp(xa) == 0 and np.ptp(xb) == 0:
        return (1.0 if xa[0] == xb[0] else 0.0), "constant"
    if min(len(xa), len(xb)) >= 4:
        return float(stats.mannwhitneyu(xa, xb, alternative="two-sided", method="auto").pvalue), "mann-whitney-u"
    with warnings.catch_warnings():
        # near-identical counters make scipy warn about precision; the
        # constant case is handled above, the rest is fine for a p-value
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(xa, xb, equal_var=False).pvalue), "welch-t"


def compare(metric: str, a: list[float], b: list[float], better: Better, min_effect_pct: float = 5.0) -> Comparison:
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    med_a = float(np.median(xa)) if len(xa) else math.nan
    med_b = float(np.median(xb)) if len(xb) else math.nan
    iqr_a = float(stats.iqr(xa)) if len(xa) else math.nan
    iqr_b = float(stats.iqr(xb)) if len(xb) else math.nan
    if len(xa) < MIN_SAMPLES or len(xb) < MIN_SAMPLES:
        return Comparison(metric, better, len(xa), len(xb), med_a, med_b, iqr_a, iqr_b,
                          _pct(med_a, med_b) if len(xa) and len(xb) else None, None, None, None,
                          min_effect_pct, "not enough data")
    change = _pct(med_a, med_b)
    lo, hi = bootstrap_ci(xa, xb)
    p, test = p_value(xa, xb)
    verdict = decide(change, p, min_effect_pct, better)
    return Comparison(metric, better, len(xa), len(xb), med_a, med_b, iqr_a, iqr_b, change, lo, hi, p,
                      min_effect_pct, verdict, test)
