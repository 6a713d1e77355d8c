"""Intervals for an accuracy: Wald, Wilson and percentile bootstrap on hand-worked numbers,
their exact coverage, and the nested-subsample comparison the Confidence intervals page draws."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom, binomtest, norm

from uqviz.metrics import (
    AccuracyIntervals,
    accuracy_intervals,
    bootstrap_mean_ci,
    normal_ci,
    subsample_sizes,
    wilson_ci,
)

Z95 = 1.959963984540054


def _ones(k: int, n: int) -> np.ndarray:
    return np.r_[np.ones(k), np.zeros(n - k)]


def test_wald_by_hand_and_against_scipy():
    # 45 of 50: p = 0.9, se = sqrt(0.9 · 0.1 / 50) = 0.0424264, half width 1.96 · se = 0.0831542
    assert normal_ci(45, 50) == pytest.approx((0.8168458, 0.9831542), abs=1e-7)
    se = math.sqrt(0.9 * 0.1 / 50)
    assert normal_ci(45, 50) == pytest.approx(norm.interval(0.95, loc=0.9, scale=se), abs=1e-12)
    assert normal_ci(45, 50, 0.9) == pytest.approx(norm.interval(0.9, loc=0.9, scale=se))


def test_wald_fails_near_one_wilson_does_not():
    # 19 of 20: 0.95 ± 1.96 · sqrt(0.95 · 0.05 / 20) = 0.95 ± 0.0955 leaves [0, 1] ...
    lo, hi = normal_ci(19, 20, clip=False)
    assert (lo, hi) == pytest.approx((0.8544832, 1.0455168), abs=1e-7)
    assert normal_ci(19, 20) == pytest.approx((lo, 1.0))  # ... and is clipped by default
    # 20 of 20: zero width, "certainly 100%" from twenty rows
    assert normal_ci(20, 20) == (1.0, 1.0) and normal_ci(20, 20, clip=False) == (1.0, 1.0)
    w_lo, w_hi = wilson_ci(20, 20)
    assert w_hi == 1.0 and w_lo == pytest.approx(20 / (20 + Z95**2))  # (n / (n + z²), 1)
    assert np.isnan(normal_ci(0, 0, clip=False)[0])


def test_wilson_by_hand():
    # 8 of 10: centre (0.8 + z²/20) / (1 + z²/10) = 0.716738,
    # half z / (1 + z²/10) · sqrt(0.016 + z²/400) = 0.226582
    assert wilson_ci(8, 10) == pytest.approx((0.4901625, 0.9433178), abs=1e-7)
    ref = binomtest(8, 10).proportion_ci(0.95, method="wilson")
    assert wilson_ci(8, 10) == pytest.approx((ref.low, ref.high), abs=1e-12)
    # 0 of 10 and 10 of 10: the interval touches 0 (resp. 1) and keeps its width
    assert wilson_ci(0, 10) == pytest.approx((0.0, Z95**2 / (10 + Z95**2)), abs=1e-12)
    assert wilson_ci(10, 10) == pytest.approx((10 / (10 + Z95**2), 1.0), abs=1e-12)


def test_bootstrap_of_a_proportion_is_the_binomial_quantiles():
    # resampling 0/1 rows: the resampled mean is Binomial(n, k/n) / n
    n, k = 40, 34
    lo, hi = bootstrap_mean_ci(_ones(k, n), n_resamples=20000, seed=0)
    assert lo == pytest.approx(binom.ppf(0.025, n, k / n) / n, abs=1.01 / n)
    assert hi == pytest.approx(binom.ppf(0.975, n, k / n) / n, abs=1.01 / n)
    assert bootstrap_mean_ci(np.ones(25), seed=3) == (1.0, 1.0)  # all right: no spread at all


def test_exact_coverage_wald_undercovers_at_90_percent_and_30_rows():
    """Coverage = sum_k P(k) · 1[p in interval(k)] over every outcome k (no simulation noise;
    the bootstrap depends on the rows only through k)."""
    p, n = 0.9, 30
    k = np.arange(n + 1)
    pmf = binom.pmf(k, n, p)

    def coverage(lo, hi):
        return float(np.sum(pmf * ((lo <= p) & (p <= hi))))

    wald = coverage(*normal_ci(k, np.full_like(k, n)))
    wilson = coverage(*wilson_ci(k, np.full_like(k, n)))
    boot = np.array([bootstrap_mean_ci(_ones(j, n), n_resamples=1000, seed=0) for j in k])
    bootstrap = coverage(boot[:, 0], boot[:, 1])
    assert wald == pytest.approx(0.8085, abs=1e-3)  # nominal 0.95
    assert wilson >= 0.95
    assert wald < bootstrap < 0.99


def test_subsample_sizes():
    sizes = subsample_sizes(450)
    assert sizes[0] == 20 and sizes[-1] == 450
    assert np.all(np.diff(sizes) > 0) and 10 <= len(sizes) <= 13
    assert subsample_sizes(7).tolist()[-1] == 7 and subsample_sizes(7)[0] == 7
    assert subsample_sizes(1).tolist() == [1]
    with pytest.raises(ValueError, match="n_total"):
        subsample_sizes(0)


def test_accuracy_intervals_on_nested_subsamples():
    rng = np.random.default_rng(0)
    correct = rng.random(10_000) < 0.8
    res = accuracy_intervals(correct, [100, 10_000, 1000, 100], n_resamples=300, seed=1)
    assert isinstance(res, AccuracyIntervals)
    assert res.sizes.tolist() == [100, 1000, 10_000]
    assert res.accuracy[-1] == pytest.approx(correct.mean())
    order = np.random.default_rng(1).permutation(correct.size)
    assert res.accuracy[0] == pytest.approx(correct[order[:100]].mean())
    k = np.rint(res.accuracy * res.sizes)
    np.testing.assert_allclose(res.wilson, np.column_stack(wilson_ci(k, res.sizes)))
    np.testing.assert_allclose(res.wald, np.column_stack(normal_ci(k, res.sizes)))
    # every interval holds the accuracy, and widths shrink like 1 / sqrt(n)
    for iv in (res.wald, res.wilson, res.bootstrap):
        assert np.all((iv[:, 0] <= res.accuracy) & (res.accuracy <= iv[:, 1]))
    for name, width in res.widths.items():
        assert width[0] / width[-1] == pytest.approx(10.0, rel=0.25), name
        assert width[-1] == pytest.approx(2 * Z95 * math.sqrt(0.16 / 10_000), rel=0.15), name
    assert not res.wald_outside.any() and not res.wald_zero_width.any()


def test_accuracy_intervals_flag_wald_failures():
    correct = np.r_[np.ones(30, dtype=bool), np.zeros(1, dtype=bool)]
    res = accuracy_intervals(correct, [31], n_resamples=200)
    assert res.accuracy[0] == pytest.approx(30 / 31)
    assert res.wald_outside.tolist() == [True]  # 0.968 ± 0.062
    assert res.wald[0, 1] == 1.0 and res.wald_unclipped[0, 1] > 1.0
    perfect = accuracy_intervals(np.ones(20, dtype=int), [20], n_resamples=200)
    assert perfect.wald_zero_width.tolist() == [True]
    assert perfect.widths["wilson"][0] > 0.1


def test_accuracy_intervals_validation():
    with pytest.raises(ValueError, match=r"sizes must be in 1\.\.5"):
        accuracy_intervals(np.ones(5, dtype=bool), [6])
    with pytest.raises(ValueError, match="non-empty 1-D"):
        accuracy_intervals(np.ones((2, 2), dtype=bool), [1])
    with pytest.raises(ValueError, match="boolean or 0/1"):
        accuracy_intervals(np.array([0.5, 1.0]), [1])
    with pytest.raises(ValueError, match="confidence"):
        accuracy_intervals(np.ones(5, dtype=bool), [5], confidence=95)
