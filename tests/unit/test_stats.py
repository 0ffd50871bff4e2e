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
    assert c.verdict == "regression" and c.test == "welch-t-log"


def test_identical_constant_samples_are_same():
    c = compare("kvm.pf_fixed", [11, 11, 11], [11, 11, 11], "lower")
    assert c.verdict == "same" and c.p_value == 1.0 and c.change_pct == 0 and c.outcome == "same"


def test_significant_but_tiny_change_is_same_when_the_interval_is_inside_the_minimum_effect():
    c = compare("kvm.exits", [1000, 1001, 1000, 1001, 1000], [1010, 1011, 1010, 1011, 1010], "lower", 5)
    assert c.p_value < 0.05 and c.verdict == "same" and c.p_same < 0.05


def test_noisy_samples_are_undecided_not_same():
    # the medians agree, but 3 noisy samples cannot show equivalence within 5%
    c = compare("x", [100, 120, 90], [95, 130, 85], "lower", 5)
    assert c.verdict == "undecided" and c.outcome == "undecided" and "noisy" in c.why


def test_a_change_under_the_minimum_effect_that_is_not_shown_within_it_is_undecided():
    c = compare("x", [100, 101, 99, 100], [104, 105, 103, 104], "lower", 5)
    assert c.p_value < 0.05 and c.verdict == "undecided" and "minimum effect" in c.why


def test_ci_covers_the_true_ratio_at_three_samples_a_side():
    # log-normal noise of 5%: the 95% interval must cover the true +10% in
    # about 95% of trials (a bootstrap at n=3 covers far less often)
    rng = np.random.default_rng(3)
    trials, covered = 400, 0
    for _ in range(trials):
        a = 1000 * np.exp(rng.normal(0, 0.05, 3))
        b = 1100 * np.exp(rng.normal(0, 0.05, 3))
        c = compare("x", list(a), list(b), "lower")
        covered += c.ci_low_pct <= 10 <= c.ci_high_pct
    assert 0.9 <= covered / trials <= 0.99


def test_zeros_fall_back_to_the_difference_of_means():
    c = compare("kvm.mmu_cache_miss", [0, 0, 0], [0, 0, 0], "lower")
    assert c.verdict == "same" and c.test == "constant"
    c = compare("kvm.mmu_cache_miss", [0, 10, 20], [200, 210, 220], "lower", 5)
    assert c.test == "welch-t" and c.verdict == "regression"
    assert compare("x", [0, 0, 0], [1, 2, 3], "lower").why.startswith("A's values are all 0")


def test_noise_alone_is_no_change():
    rng = np.random.default_rng(7)
    false_positives = 0
    for _ in range(200):
        a, b = rng.normal(100, 10, 5), rng.normal(100, 10, 5)
        false_positives += compare("x", list(a), list(b), "lower", 0).significant
    assert false_positives / 200 < 0.1  # near the 5% the test promises


def test_too_few_samples_are_undecided_and_say_so():
    c = compare("kvm.pf_fixed", [9487], [1955], "lower")
    assert c.verdict == "undecided" and c.change_pct is None and "3 samples a side" in c.why


def test_ci_contains_the_true_change():
    rng = np.random.default_rng(1)
    a = rng.normal(100, 1, 20)
    b = rng.normal(50, 1, 20)
    c = compare("x", list(a), list(b), "lower")
    assert c.ci_low_pct < -50 < c.ci_high_pct


def test_a_minimum_effect_of_100_percent_or_more_can_still_show_same():
    """min_effect_abs 2 on a count of ~1 (pf_fixed of exec-storm with NPT)
    is a minimum effect of 200%: a ratio of positive counts cannot fall
    below -100%, so equivalence needs only the upper test."""
    c = compare("kvm.pf_fixed", [1, 1, 2, 1], [1, 2, 1, 1], "lower", 200)
    assert c.verdict == "same" and c.p_same < 0.05
    c = compare("kvm.pf_fixed", [1, 1, 1], [4, 9, 2], "lower", 200)
    assert c.verdict != "same"
