"""Calibration errors vs torchmetrics, hand-worked equal-mass bins, reliability bins."""

import numpy as np
import pytest
import torch
from torchmetrics.functional.classification import (
    binary_calibration_error,
    multiclass_calibration_error,
)

from uqviz.metrics import (
    adaptive_calibration_error,
    classwise_calibration_error,
    expected_calibration_error,
    maximum_calibration_error,
    reliability_bins,
)


def _data(n=2000, c=10, seed=0, concentration=0.3):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(c, concentration), size=n)
    # labels that follow the prediction more often than chance
    labels = np.where(rng.random(n) < 0.6, probs.argmax(1), rng.integers(0, c, n))
    return probs, labels


def _torchmetrics(probs, labels, n_bins, norm):
    return float(
        multiclass_calibration_error(
            torch.from_numpy(probs), torch.from_numpy(labels), num_classes=probs.shape[1],
            n_bins=n_bins, norm=norm,
        )
    )


@pytest.mark.parametrize("n_bins", [1, 5, 15, 40])
@pytest.mark.parametrize("seed", [0, 1])
def test_ece_and_mce_equal_torchmetrics(n_bins, seed):
    # float32 like Predictions; torchmetrics accumulates in float32, we in float64
    probs, labels = _data(seed=seed)
    probs = probs.astype(np.float32)
    assert (probs.max(1) < 1.0).all()  # torchmetrics gives conf == 1 a bin of its own
    ece = expected_calibration_error(probs, labels, n_bins=n_bins)
    mce = maximum_calibration_error(probs, labels, n_bins=n_bins)
    assert ece == pytest.approx(_torchmetrics(probs, labels, n_bins, "l1"), abs=1e-6)
    assert mce == pytest.approx(_torchmetrics(probs, labels, n_bins, "max"), abs=1e-6)


def test_ece_hand_worked():
    # confidences .9 .9 .6 .3 -> with 2 bins: [0, .5) holds .3?  top-label conf is >= 1/C;
    # use C=4 so a .3 top label is possible.
    probs = np.array(
        [
            [0.9, 0.05, 0.03, 0.02],  # conf .9, predicted 0, label 0: correct
            [0.9, 0.05, 0.03, 0.02],  # conf .9, label 1: wrong
            [0.2, 0.6, 0.1, 0.1],  # conf .6, label 1: correct
            [0.3, 0.25, 0.25, 0.2],  # conf .3, label 2: wrong
        ]
    )
    labels = np.array([0, 1, 1, 2])
    # bin [0, .5): {.3 wrong} gap .3; bin [.5, 1]: {.9 ok, .9 wrong, .6 ok}: acc 2/3, conf .8
    expected = 1 / 4 * 0.3 + 3 / 4 * abs(2 / 3 - 0.8)
    assert expected_calibration_error(probs, labels, n_bins=2) == pytest.approx(expected)
    assert maximum_calibration_error(probs, labels, n_bins=2) == pytest.approx(0.3)


def test_confidence_one_joins_the_last_bin():
    probs = np.array([[1.0, 0.0], [0.95, 0.05], [0.55, 0.45]])
    labels = np.array([0, 1, 0])
    bins = reliability_bins(probs, labels, n_bins=10)
    assert bins.count[-1] == 2 and bins.count.sum() == 3
    # last bin: conf (1 + .95)/2 = .975, acc 1/2; bin [.5,.6): conf .55 acc 1
    expected = 2 / 3 * abs(0.975 - 0.5) + 1 / 3 * abs(0.55 - 1.0)
    assert expected_calibration_error(probs, labels, n_bins=10) == pytest.approx(expected)


def test_adaptive_ece_hand_worked():
    # confidences (C=2) .95 .6 .9 .7 .8 with correctness 1 0 0 1 1; 2 equal-mass bins
    # sorted: .6(0) .7(1) .8(1) | .9(0) .95(1)  (np.array_split: sizes 3, 2)
    conf = np.array([0.95, 0.6, 0.9, 0.7, 0.8])
    correct = np.array([1, 0, 0, 1, 1], dtype=bool)
    probs = np.stack([conf, 1 - conf], axis=1)
    labels = np.where(correct, 0, 1)
    bin1 = abs(2 / 3 - (0.6 + 0.7 + 0.8) / 3)
    bin2 = abs(1 / 2 - (0.9 + 0.95) / 2)
    expected = 3 / 5 * bin1 + 2 / 5 * bin2
    assert adaptive_calibration_error(probs, labels, n_bins=2) == pytest.approx(expected)
    # same thing written with np.array_split, as the definition says
    order = np.argsort(conf, kind="stable")
    split = np.array_split(order, 2)
    by_split = sum(len(b) / 5 * abs(correct[b].mean() - conf[b].mean()) for b in split)
    assert adaptive_calibration_error(probs, labels, n_bins=2) == pytest.approx(by_split)
    # more bins than rows: empty bins contribute nothing, each row its own bin
    assert adaptive_calibration_error(probs, labels, n_bins=8) == pytest.approx(
        np.mean(np.abs(correct - conf))
    )


def test_adaptive_ece_equals_array_split_on_random_data():
    probs, labels = _data(n=997, seed=4)
    conf = probs.max(1)
    correct = probs.argmax(1) == labels
    split = np.array_split(np.argsort(conf, kind="stable"), 15)
    expected = sum(len(b) / 997 * abs(correct[b].mean() - conf[b].mean()) for b in split)
    assert adaptive_calibration_error(probs, labels) == pytest.approx(expected, abs=1e-12)


def test_classwise_ece_equals_mean_of_torchmetrics_binary():
    probs, labels = _data(n=1500, c=4, seed=5, concentration=1.0)
    expected = np.mean(
        [
            float(
                binary_calibration_error(
                    torch.from_numpy(np.ascontiguousarray(probs[:, k])),
                    torch.from_numpy((labels == k).astype(np.int64)),
                    n_bins=15,
                    norm="l1",
                )
            )
            for k in range(4)
        ]
    )
    assert classwise_calibration_error(probs, labels) == pytest.approx(expected, abs=1e-9)


def test_classwise_ece_hand_worked():
    probs = np.array([[0.8, 0.2], [0.3, 0.7]])
    labels = np.array([0, 0])
    # class 0 with 2 bins: .8 in [.5,1] with y=1 gap .2; .3 in [0,.5) with y=1 gap .7
    # class 1: .2 in [0,.5) y=0 gap .2; .7 in [.5,1] y=0 gap .7
    assert classwise_calibration_error(probs, labels, n_bins=2) == pytest.approx(0.45)


def test_perfectly_calibrated_sample_has_small_ece():
    rng = np.random.default_rng(6)
    conf = rng.uniform(0.5, 1.0, size=200_000)
    correct = rng.random(conf.size) < conf
    probs = np.stack([conf, 1 - conf], axis=1)
    labels = np.where(correct, 0, 1)
    assert expected_calibration_error(probs, labels) < 0.01
    assert adaptive_calibration_error(probs, labels) < 0.01
    # an overconfident model (right only 70% of the time at mean confidence .75) is not
    overconfident = np.where(rng.random(conf.size) < 0.7, 0, 1)
    assert expected_calibration_error(probs, overconfident) > 0.04


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_reliability_bins(strategy):
    probs, labels = _data(n=500, seed=7)
    bins = reliability_bins(probs, labels, n_bins=15, strategy=strategy)
    reference = (expected_calibration_error if strategy == "uniform"
                 else adaptive_calibration_error)(probs, labels, n_bins=15)
    assert bins.ece == pytest.approx(reference, abs=1e-12)
    assert bins.n == 500 and bins.count.sum() == 500 and bins.strategy == strategy
    for name in ("lower", "upper", "count", "confidence", "accuracy", "gap"):
        assert getattr(bins, name).shape == (15,)
    filled = bins.count > 0
    np.testing.assert_allclose(bins.gap[filled], bins.confidence[filled] - bins.accuracy[filled])
    assert np.all(bins.lower[filled] <= bins.confidence[filled] + 1e-12)
    assert np.all(bins.confidence[filled] <= bins.upper[filled] + 1e-12)
    # ECE recomputed from what the plot shows
    recomputed = np.nansum(bins.count / bins.n * np.abs(bins.gap))
    assert recomputed == pytest.approx(bins.ece)
    if strategy == "quantile":
        np.testing.assert_array_equal(bins.count, [len(b) for b in np.array_split(range(500), 15)])


def test_empty_uniform_bins_hold_nan():
    probs = np.array([[0.9, 0.1], [0.8, 0.2]])
    bins = reliability_bins(probs, np.array([0, 1]), n_bins=10)
    assert bins.count.tolist() == [0] * 8 + [1, 1]
    assert np.isnan(bins.confidence[:8]).all() and np.isnan(bins.accuracy[:8]).all()
    assert np.isnan(bins.gap[:8]).all()
    np.testing.assert_allclose(bins.lower, np.linspace(0, 0.9, 10))
    np.testing.assert_allclose(bins.upper, np.linspace(0.1, 1.0, 10))
    with pytest.raises(ValueError, match="strategy"):
        reliability_bins(probs, np.array([0, 1]), strategy="equal")
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error(probs, np.array([0, 1]), n_bins=0)
    with pytest.raises(ValueError, match="empty"):
        expected_calibration_error(probs[:0], np.array([], dtype=int))
