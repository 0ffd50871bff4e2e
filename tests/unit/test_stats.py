"""The statistics on synthetic samples whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from orchestrator.compare.stats import compare


def test_clear_decrease_of_a_lower_is_better_metric_is_an_improvement():
    c = compare("kvm.pf_fixed", [34133, 34120, 34150], [5079, 5081, 5070], "lower", 20)
    assert c.verdict == "improvement" and c.change_pct == pytest.approx(-85.1, abs=0.1)
    assert c.p_value < 0.001 and c.ci_high_pct < -80


def test_same_shift_of_a_higher_is_better_metric_is_a_regression():
    c = compare("workload.bogo_ops_per_s", [100, 101, 99, 100], [80, 81, 79, 80], "higher", 5)
    assert c.verdict == "regression" and c.test == "mann-whitney-u"


def test_identical_constant_samples_are_no_change():
    c = compare("kvm.pf_fixed", [11, 11, 11], [11, 11, 11], "lower")
    assert c.verdict == "no change" and c.p_value == 1.0 and c.change_pct == 0


def test_significant_but_tiny_change_is_no_change():
    c = compare("kvm.exits", [1000, 1001, 1000, 1001, 1000], [1010, 1011, 1010, 1011, 1010], "lower", 5)
    assert c.p_value < 0.05 and c.verdict == "no change"


def test_noise_alone_is_no_change():
    rng = np.random.default_rng(7)
    false_positives = 0
    for _ in range(200):
        a, b = rng.normal(100, 10, 5), rng.normal(100, 10, 5)
        false_positives += compare("x", list(a), list(b), "lower", 0).significant
    assert false_positives / 200 < 0.1  # near the 5% the test promises


def test_too_few_samples():
    c = compare("kvm.pf_fixed", [9487], [1955], "lower")
    assert c.verdict == "not enough data" and c.change_pct == pytest.approx(-79.39, abs=0.01)


def test_ci_contains_the_true_change():
    rng = np.random.default_rng(1)
    a = rng.normal(100, 1, 20)
    b = rng.normal(50, 1, 20)
    c = compare("x", list(a), list(b), "lower")
    assert c.ci_low_pct < -50 < c.ci_high_pct
