"""Change points and drift on synthetic nightly series."""

from __future__ import annotations

import numpy as np

from orchestrator.history.changes import analyse


def _noise(n: int, seed: int, level: float = 1000.0, pct: float = 1.0) -> np.ndarray:
    return level + np.random.default_rng(seed).normal(0, level * pct / 100, n)


def test_a_step_is_found_at_its_night():
    for seed in range(5):
        x = _noise(30, seed)
        x[18:] *= 1.10  # +10% from night 18
        points, trend = analyse(list(x))
        assert trend is None
        assert [c.index for c in points] == [18], (seed, points)
        assert 8 < points[0].change_pct < 12


def test_two_steps_are_both_found():
    x = _noise(40, 7)
    x[12:] *= 0.85
    x[28:] *= 1.2
    points, _ = analyse(list(x))
    assert [c.index for c in points] == [12, 28]


def test_a_flat_noisy_series_has_no_change_point():
    for seed in range(10):
        points, trend = analyse(list(_noise(30, 100 + seed, pct=3.0)))
        assert points == [] and trend is None, seed


def test_a_drift_is_a_drift_not_steps():
    x = _noise(30, 3) * (1 + 0.005 * np.arange(30))  # +0.5% a night
    points, trend = analyse(list(x))
    assert points == [] and trend is not None
    assert 0.3 < trend.slope_pct_per_night < 0.7


def test_too_short_a_history_says_nothing():
    assert analyse([1.0, 2.0, 3.0]) == ([], None)
