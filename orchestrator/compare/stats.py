"""Statistics for one metric of one matched cell group: A's samples against B's.

Three outcomes per row, each needing evidence:

- *different*: the change is significant (Welch's t test, p adjusted over the
  report) and its size reaches the minimum effect;
- *same*: equivalence is shown by two one-sided tests (TOST) against
  ± the minimum effect (p adjusted over the report too);
- *undecided*: neither, which is what too few or too noisy samples give.

The interval and both tests come from one model, Welch's t on the logarithms
of the samples: the change is the ratio of geometric means, and its interval
is exact under log-normal noise at any n >= 2 a side, so it holds at the 3 to
10 repetitions a run has (a percentile bootstrap does not: with 3 samples a
side it resamples among 10 medians and its interval is far too narrow; a
rank test cannot reach p < 0.05 with 3 a side). Samples that are not all
positive fall back to Welch's t on the values, relative to A's mean. See
docs/statistics.md.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from scipy import stats

Better = Literal["lower", "higher"]
Outcome = Literal["different", "same", "undecided"]
# improvement and regression are the two directions of "different"; "not
# tested" is a row shown for information only (emulated time under TCG)
Verdict = Literal["improvement", "regression", "same", "undecided", "not tested"]

ALPHA = 0.05
MIN_SAMPLES = 3
DEFAULT_MIN_EFFECT_PCT = 5.0


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
    change_pct: float | None  # B against A: ratio of geometric means - 1, in %
    ci_low_pct: float | None  # 95% interval of that change
    ci_high_pct: float | None
    p_value: float | None  # "different" test, adjusted over the report by adjust()
    min_effect_pct: float
    verdict: Verdict
    test: str = ""
    p_same: float | None = None  # TOST against ± min_effect_pct, adjusted alike
    why: str = ""  # what an undecided or untested row lacks

    @property
    def outcome(self) -> Outcome | None:
        if self.verdict == "not tested":
            return None
        return "different" if self.verdict in ("improvement", "regression") else self.verdict  # type: ignore[return-value]

    @property
    def significant(self) -> bool:
        return self.outcome == "different"


@dataclass(frozen=True)
class _Fit:
    """The change estimate, its standard error and degrees of freedom, on
    the scale the tests run on (log ratio, or difference relative to A)."""
    estimate: float
    se: float
    df: float
    log: bool
    scale: float = 1.0  # relative fallback: |mean A|

    def to_pct(self, x: float) -> float:
        return (math.exp(x) - 1) * 100 if self.log else x / self.scale * 100

    def from_pct(self, pct: float) -> float:
        return math.log1p(pct / 100) if self.log else pct / 100 * self.scale


def _welch(xa: np.ndarray, xb: np.ndarray) -> tuple[float, float, float]:
    """Difference of means (B - A), its standard error and Welch's df."""
    va, vb = xa.var(ddof=1) / len(xa), xb.var(ddof=1) / len(xb)
    se = math.sqrt(va + vb)
    if se == 0:
        return float(xb.mean() - xa.mean()), 0.0, math.inf
    df = (va + vb) ** 2 / (va ** 2 / (len(xa) - 1) + vb ** 2 / (len(xb) - 1))
    return float(xb.mean() - xa.mean()), se, df


def fit(xa: np.ndarray, xb: np.ndarray) -> _Fit | None:
    """The model of the change, or None when there is no reference to
    scale against (A's mean is 0 while its values are not all positive)."""
    if (xa > 0).all() and (xb > 0).all():
        d, se, df = _welch(np.log(xa), np.log(xb))
        return _Fit(d, se, df, log=True)
    scale = abs(float(xa.mean()))
    if scale == 0:
        if (xa == 0).all() and (xb == 0).all():
            return _Fit(0.0, 0.0, math.inf, log=False)
        return None
    d, se, df = _welch(xa, xb)
    return _Fit(d, se, df, log=False, scale=scale)


def _sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with df degrees of freedom."""
    return float(stats.t.sf(t, df))


def tests(f: _Fit, min_effect_pct: float) -> tuple[float, float, float, float]:
    """(95% CI low, high, p different, p same) on f's scale, in %."""
    if f.se == 0:  # both sides constant: the change is known exactly
        pct = f.to_pct(f.estimate)
        return pct, pct, (0.0 if f.estimate != 0 else 1.0), (0.0 if abs(pct) < min_effect_pct else 1.0)
    q = float(stats.t.ppf(1 - ALPHA / 2, f.df))
    low, high = f.to_pct(f.estimate - q * f.se), f.to_pct(f.estimate + q * f.se)
    p_diff = 2 * _sf(abs(f.estimate) / f.se, f.df)
    if min_effect_pct <= 0:
        return low, high, p_diff, 1.0
    upper = f.from_pct(min_effect_pct)
    p_upper = _sf((upper - f.estimate) / f.se, f.df)
    if f.log and min_effect_pct >= 100:
        # a ratio of positive values is never below -100%, so never below
        # -m: only the upper test is left (min_effect_abs on a count of 1)
        return low, high, p_diff, p_upper
    lower = f.from_pct(-min_effect_pct)
    return low, high, p_diff, max(_sf((f.estimate - lower) / f.se, f.df), p_upper)


def decide(change: float | None, p_diff: float | None, p_same: float | None, min_effect_pct: float,
           better: Better) -> tuple[Verdict, str]:
    """The verdict from (adjusted) p-values, and what an undecided row lacks."""
    if change is None or p_diff is None:
        return "undecided", "no reference to scale the change against"
    if p_diff < ALPHA and abs(change) >= min_effect_pct:
        return ("improvement" if (change < 0) == (better == "lower") else "regression"), ""
    if p_same is not None and p_same < ALPHA:
        return "same", ""
    if p_diff < ALPHA:
        return "undecided", f"significant but under the {min_effect_pct:g}% minimum effect, and not shown within it"
    return "undecided", "too noisy for these samples: neither a change nor equivalence is shown"


def adjust(rows: list[Comparison]) -> list[Comparison]:
    """Benjamini-Hochberg over every tested row of a report (scipy), for
    both families (different, same) apart: with dozens of rows, a raw
    p < 0.05 here and there is expected by chance."""
    tested = [i for i, c in enumerate(rows) if c.p_value is not None and c.verdict != "not tested"]
    if not tested:
        return rows
    p_diff = stats.false_discovery_control([rows[i].p_value for i in tested], method="bh")
    p_same = stats.false_discovery_control([1.0 if rows[i].p_same is None else rows[i].p_same for i in tested],
                                           method="bh")
    out = list(rows)
    for i, pd, ps in zip(tested, p_diff, p_same):
        c = rows[i]
        same = None if c.p_same is None else float(ps)
        verdict, why = decide(c.change_pct, float(pd), same, c.min_effect_pct, c.better)
        out[i] = replace(c, p_value=float(pd), p_same=same, verdict=verdict, why=why)
    return out


def needed_samples(n: int) -> int:
    return max(0, MIN_SAMPLES - n)


def compare(metric: str, a: list[float], b: list[float], better: Better,
            min_effect_pct: float = DEFAULT_MIN_EFFECT_PCT) -> Comparison:
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    med = [float(np.median(x)) if len(x) else math.nan for x in (xa, xb)]
    iqr = [float(stats.iqr(x)) if len(x) else math.nan for x in (xa, xb)]
    base = Comparison(metric, better, len(xa), len(xb), med[0], med[1], iqr[0], iqr[1], None, None, None, None,
                      min_effect_pct, "undecided")
    if len(xa) < MIN_SAMPLES or len(xb) < MIN_SAMPLES:
        return replace(base, why=f"{MIN_SAMPLES} samples a side are needed, {len(xa)}/{len(xb)} here")
    f = fit(xa, xb)
    if f is None:
        return replace(base, why="A's values are all 0: no reference to scale a change against")
    with warnings.catch_warnings():
        # near-identical counters make scipy warn about precision; the
        # constant case is exact (se == 0) and handled apart
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high, p_diff, p_same = tests(f, min_effect_pct)
    change = f.to_pct(f.estimate)
    verdict, why = decide(change, p_diff, p_same, min_effect_pct, better)
    test = "constant" if f.se == 0 else ("welch-t-log" if f.log else "welch-t")
    return replace(base, change_pct=change, ci_low_pct=low, ci_high_pct=high, p_value=p_diff, p_same=p_same,
                   verdict=verdict, test=test, why=why)
