"""The exact percentile bootstrap of a proportion (``exact_bootstrap_ci``): hand-worked small
cases, the binomial quantiles it is defined by, agreement with a Monte Carlo bootstrap within
Monte Carlo error, large n without underflow, and its use by ``accuracy_intervals``."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom

from uqviz.metrics import bootstrap_mean_ci
from uqviz.metrics.bootstrap import resample_indices
from uqviz.metrics.classification import (
    EXACT_BOOTSTRAP_MAX_N,
    accuracy_intervals,
    exact_bootstrap_ci,
    nested_subsample_hits,
)


def _ones(k: int, n: int) -> np.ndarray:
    return np.r_[np.ones(k), np.zeros(n - k)]


def test_hand_worked_small_cases():
    # 4 of 5: Binomial(5, 0.8) CDF 0.00032, 0.00672, 0.05792, 0.26272, 0.67232, 1 for j = 0..5
    # -> smallest j with F(j) >= 0.025 is 2, with F(j) >= 0.975 is 5
    assert exact_bootstrap_ci(4, 5) == (0.4, 1.0)
    # 5 of 10: F(1) = 11/1024 < 0.025 <= F(2) = 56/1024; F(7) = 968/1024 < 0.975 <= F(8)
    assert exact_bootstrap_ci(5, 10) == (0.2, 0.8)
    # 1 of 2: F = 1/4, 3/4, 1 -> (0, 1)
    assert exact_bootstrap_ci(1, 2) == (0.0, 1.0)
    # 90% interval of 4 of 5: F(1) = 0.00672 < 0.05 <= F(2); F(4) = 0.67232 < 0.95 <= F(5)
    assert exact_bootstrap_ci(4, 5, confidence=0.9) == (0.4, 1.0)
    # 50% interval of 5 of 10: F(3) = 176/1024 < 0.25 <= F(4) = 386/1024;
    # F(5) = 638/1024 < 0.75 <= F(6) = 848/1024
    assert exact_bootstrap_ci(5, 10, confidence=0.5) == (0.4, 0.6)


def test_all_right_or_all_wrong_has_zero_width_and_empty_is_nan():
    for n in (1, 20, 1_000_000):
        assert exact_bootstrap_ci(n, n) == (1.0, 1.0)
        assert exact_bootstrap_ci(0, n) == (0.0, 0.0)
    lo, hi = exact_bootstrap_ci(0, 0)
    assert math.isnan(lo) and math.isnan(hi)


@pytest.mark.parametrize("n", [1, 7, 20, 137, 1000, 54_321, 1_000_000, EXACT_BOOTSTRAP_MAX_N])
def test_the_binomial_quantiles_as_scipy_defines_them(n):
    """``binom.ppf(q) = min{j : F(j) >= q}``, the convention of ``exact_bootstrap_ci``."""
    rng = np.random.default_rng(n)
    ks = {0, n, n // 2, min(1, n), max(n - 1, 0), *rng.integers(0, n + 1, 25).tolist()}
    for k in sorted(ks):
        p = k / n
        expected = (binom.ppf(0.025, n, p) / n, binom.ppf(0.975, n, p) / n)
        assert exact_bootstrap_ci(k, n) == pytest.approx(expected, abs=0.0), (k, n)


def test_large_n_does_not_underflow():
    # (1 - p)^n underflows at n = 1e6 (0.5^1e6 = 0), the weights relative to the mode do not
    n = 1_000_000
    assert exact_bootstrap_ci(500_000, n) == (binom.ppf(0.025, n, 0.5) / n,
                                              binom.ppf(0.975, n, 0.5) / n)
    lo, hi = exact_bootstrap_ci(999_999, n)
    assert (lo, hi) == (0.999997, 1.0)  # F(999_997) = 0.0803, F(999_996) = 0.0190
    assert exact_bootstrap_ci(1, n) == (0.0, 3e-06)


def _resampled_means(k: int, n: int, b: int, seed: int) -> np.ndarray:
    values = _ones(k, n)
    return np.concatenate([values[index].mean(axis=1)
                           for index in resample_indices(n, b, seed)])


@pytest.mark.parametrize(("k", "n"), [(17, 20), (180, 200), (50, 100), (980, 1000),
                                      (3, 400)])
def test_agrees_with_a_monte_carlo_bootstrap_within_its_error(k, n):
    b = 40_000
    lo, hi = exact_bootstrap_ci(k, n)
    means = _resampled_means(k, n, b, seed=k)
    # the empirical CDF of the resampled proportions reaches each level at the exact
    # quantile and not one count before, up to 4 standard errors of a proportion of B draws
    for level, quantile in ((0.025, lo), (0.975, hi)):
        tolerance = 4 * math.sqrt(level * (1 - level) / b)
        assert np.mean(means <= quantile + 0.5 / n) >= level - tolerance, (level, quantile)
        assert np.mean(means <= quantile - 0.5 / n) <= level + tolerance, (level, quantile)
    # and bootstrap_mean_ci's interval (linear interpolation between resamples) is within one
    # count plus its Monte Carlo error of the exact one
    mc = bootstrap_mean_ci(_ones(k, n), n_resamples=b, seed=k)
    spread = math.sqrt(k / n * (1 - k / n) / n)  # the resampled proportion's standard deviation
    tolerance = 1 / n + 4 * 2.7 * spread / math.sqrt(b)  # 2.7 s / sqrt(B): the 2.5% quantile
    assert mc == pytest.approx((lo, hi), abs=tolerance)


def test_vectorised_like_wilson_ci():
    lo, hi = exact_bootstrap_ci(np.array([4, 5, 0]), np.array([5, 10, 0]))
    np.testing.assert_array_equal(lo, [0.4, 0.2, np.nan])
    np.testing.assert_array_equal(hi, [1.0, 0.8, np.nan])
    lo, hi = exact_bootstrap_ci([[1, 2]], 2)  # broadcast
    assert lo.shape == (1, 2) and hi.tolist() == [[1.0, 1.0]]


def test_validation():
    with pytest.raises(ValueError, match="successes must be in 0..n"):
        exact_bootstrap_ci(6, 5)
    with pytest.raises(ValueError, match="successes must be in 0..n"):
        exact_bootstrap_ci(-1, 5)
    with pytest.raises(ValueError, match="whole numbers"):
        exact_bootstrap_ci(2.5, 5)
    with pytest.raises(ValueError, match="at most"):
        exact_bootstrap_ci(1, EXACT_BOOTSTRAP_MAX_N + 1)
    with pytest.raises(ValueError, match="confidence"):
        exact_bootstrap_ci(4, 5, confidence=95)


def test_accuracy_intervals_use_it_without_resamples():
    rng = np.random.default_rng(3)
    correct = rng.random(5000) < 0.9
    exact = accuracy_intervals(correct, [20, 500, 5000], n_resamples=None, seed=0)
    assert exact.n_resamples is None
    hits = nested_subsample_hits(correct, seed=0)[exact.sizes - 1]
    np.testing.assert_array_equal(exact.bootstrap,
                                  np.column_stack(exact_bootstrap_ci(hits, exact.sizes)))
    # the Monte Carlo bootstrap of the same subsamples is within one count and its error
    mc = accuracy_intervals(correct, [20, 500, 5000], n_resamples=2000, seed=0)
    np.testing.assert_array_equal(mc.accuracy, exact.accuracy)
    np.testing.assert_array_equal(mc.wilson, exact.wilson)
    spread = np.sqrt(exact.accuracy * (1 - exact.accuracy) / exact.sizes)
    tolerance = 1 / exact.sizes + 4 * 2.7 * spread / math.sqrt(2000)
    assert np.all(np.abs(mc.bootstrap - exact.bootstrap) <= tolerance[:, None])


def test_nested_subsample_hits_is_the_seeded_shuffle():
    correct = np.array([1, 0, 1, 1, 0, 0, 1, 1], dtype=bool)
    order = np.random.default_rng(5).permutation(correct.size)
    hits = nested_subsample_hits(correct, seed=5)
    assert hits.dtype == np.int64
    np.testing.assert_array_equal(hits, np.cumsum(correct[order]))
    with pytest.raises(ValueError, match="boolean or 0/1"):
        nested_subsample_hits(np.array([0.5, 1.0]))
