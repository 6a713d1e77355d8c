"""Bootstrap intervals: the vectorised versions equal the generic loop on the same resamples."""

import math

import numpy as np
import pytest

import uqviz.metrics.bootstrap as bootstrap_module
from uqviz.metrics import (
    TABLE_METRICS,
    accuracy,
    adaptive_calibration_error,
    area_under_risk_coverage,
    bootstrap_ci,
    bootstrap_classification_cis,
    bootstrap_ece_ci,
    bootstrap_mean_ci,
    bootstrap_ood_auroc_ci,
    bootstrap_two_sample_ci,
    brier_score,
    excess_aurc,
    expected_calibration_error,
    maximum_calibration_error,
    negative_log_likelihood,
    ood_detection,
    resample_indices,
)


def _data(n=300, c=5, seed=0):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(c, 0.4), size=n)
    labels = np.where(rng.random(n) < 0.7, probs.argmax(1), rng.integers(0, c, n))
    return probs, labels


def _selective(fn):
    return lambda p, y: fn(1.0 - p.max(1), p.argmax(1) == y)


PLAIN = {
    "accuracy": accuracy,
    "nll": negative_log_likelihood,
    "brier": brier_score,
    "ece": expected_calibration_error,
    "adaptive_ece": adaptive_calibration_error,
    "mce": maximum_calibration_error,
    "aurc": _selective(area_under_risk_coverage),
    "eaurc": _selective(excess_aurc),
}


def test_resample_indices_are_seeded_and_chunked(monkeypatch):
    first = np.concatenate(list(resample_indices(50, 30, seed=3)))
    again = np.concatenate(list(resample_indices(50, 30, seed=3)))
    other = np.concatenate(list(resample_indices(50, 30, seed=4)))
    assert first.shape == (30, 50) and first.min() >= 0 and first.max() < 50
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    monkeypatch.setattr(bootstrap_module, "CHUNK_ELEMENTS", 50 * 7)
    chunks = list(resample_indices(50, 30, seed=3))
    assert [c.shape[0] for c in chunks] == [7, 7, 7, 7, 2]


@pytest.mark.parametrize("small_chunks", [False, True])
def test_vectorised_metrics_equal_the_generic_bootstrap(small_chunks, monkeypatch):
    if small_chunks:  # several chunks, and the last one shorter
        monkeypatch.setattr(bootstrap_module, "CHUNK_ELEMENTS", 300 * 13)
    probs, labels = _data()
    fast = bootstrap_classification_cis(probs, labels, n_resamples=60, seed=1)
    assert set(fast) == set(TABLE_METRICS)
    for metric, fn in PLAIN.items():
        slow = bootstrap_ci(fn, probs, labels, n_resamples=60, seed=1)
        assert fast[metric] == pytest.approx(slow, abs=1e-10), metric
        point = fn(probs, labels)
        assert fast[metric][0] <= fast[metric][1]
        if metric in ("accuracy", "nll", "brier"):  # unbiased means: the point is inside
            assert fast[metric][0] <= point <= fast[metric][1]


def test_mean_and_ece_shortcuts():
    probs, labels = _data(n=500, seed=2)
    correct = (probs.argmax(1) == labels).astype(float)
    assert bootstrap_mean_ci(correct, n_resamples=200, seed=5) == pytest.approx(
        bootstrap_ci(np.mean, correct, n_resamples=200, seed=5), abs=1e-12
    )
    assert bootstrap_ece_ci(probs, labels, n_resamples=100, seed=5) == pytest.approx(
        bootstrap_ci(expected_calibration_error, probs, labels, n_resamples=100, seed=5),
        abs=1e-12,
    )
    assert bootstrap_ece_ci(probs, labels, n_bins=5, n_resamples=50) == pytest.approx(
        bootstrap_ci(lambda p, y: expected_calibration_error(p, y, n_bins=5), probs, labels,
                     n_resamples=50)
    )


def test_ood_auroc_bootstrap_equals_two_sample_loop():
    rng = np.random.default_rng(3)
    u_in = np.round(rng.normal(0, 1, 200), 1)  # ties across the sets too
    u_out = np.round(rng.normal(1, 1, 120), 1)
    fast = bootstrap_ood_auroc_ci(u_in, u_out, n_resamples=80, seed=2)
    slow = bootstrap_two_sample_ci(lambda a, b: ood_detection(a, b).auroc, u_in, u_out,
                                   n_resamples=80, seed=2)
    assert fast == pytest.approx(slow, abs=1e-12)
    assert fast[0] < ood_detection(u_in, u_out).auroc < fast[1]


def test_interval_narrows_with_more_rows_and_covers():
    rng = np.random.default_rng(4)
    small = (rng.random(100) < 0.8).astype(float)
    large = (rng.random(10_000) < 0.8).astype(float)
    lo_s, hi_s = bootstrap_mean_ci(small)
    lo_l, hi_l = bootstrap_mean_ci(large)
    assert hi_l - lo_l < (hi_s - lo_s) / 5
    assert lo_l < 0.8 < hi_l
    # 95% percentile interval of a mean is about ±1.96 standard errors
    se = math.sqrt(0.8 * 0.2 / 10_000)
    assert (hi_l - lo_l) == pytest.approx(2 * 1.96 * se, rel=0.15)
    lo90, hi90 = bootstrap_mean_ci(large, confidence=0.9)
    assert lo_l < lo90 < hi90 < hi_l


def test_nan_statistics_are_ignored():
    values = np.array([0.0, 1.0, 2.0])
    assert all(math.isnan(x) for x in bootstrap_ci(lambda v: math.nan, values, n_resamples=10))


def test_validation():
    probs, labels = _data(n=20)
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_mean_ci(np.ones(5), n_resamples=0)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_mean_ci(np.ones(5), confidence=1.0)
    with pytest.raises(ValueError, match="empty"):
        bootstrap_mean_ci(np.ones(0))
    with pytest.raises(ValueError, match="first dimension"):
        bootstrap_ci(accuracy, probs, labels[:-1])
    with pytest.raises(ValueError, match="unknown metrics"):
        bootstrap_classification_cis(probs, labels, metrics=("auroc",))
    with pytest.raises(ValueError, match="empty"):
        bootstrap_ood_auroc_ci(np.array([0.1]), np.array([]))
