"""Accuracy, NLL, Brier, confusion matrix and proportion intervals vs scikit-learn / scipy."""

import math

import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn import metrics as skm

from uqviz.metrics import (
    accuracy,
    brier_score,
    confusion_matrix,
    negative_log_likelihood,
    normal_ci,
    wilson_ci,
)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.full(5, 0.7), size=400)
    labels = rng.integers(0, 5, size=400)
    return probs, labels


def test_against_sklearn(data):
    probs, labels = data
    assert accuracy(probs, labels) == pytest.approx(skm.accuracy_score(labels, probs.argmax(1)))
    assert negative_log_likelihood(probs, labels) == pytest.approx(
        skm.log_loss(labels, probs, labels=range(5))
    )
    assert brier_score(probs, labels) == pytest.approx(skm.brier_score_loss(labels, probs))
    np.testing.assert_array_equal(
        confusion_matrix(probs.argmax(1), labels, 5),
        skm.confusion_matrix(labels, probs.argmax(1), labels=range(5)),
    )


def test_hand_worked():
    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3]])
    labels = np.array([0, 2])
    assert accuracy(probs, labels) == 0.5
    assert negative_log_likelihood(probs, labels) == pytest.approx(
        -(math.log(0.7) + math.log(0.3)) / 2
    )
    # row 1: .09+.04+.01 = .14; row 2: .04+.25+.49 = .78
    assert brier_score(probs, labels) == pytest.approx((0.14 + 0.78) / 2)
    np.testing.assert_array_equal(
        confusion_matrix(np.array([0, 1, 1]), np.array([0, 2, 1]), 3),
        [[1, 0, 0], [0, 1, 0], [0, 1, 0]],
    )


def test_brier_range_and_nll_floor():
    onehot = np.eye(3)[[0, 1, 2]]
    assert brier_score(onehot, np.array([0, 1, 2])) == 0.0
    assert brier_score(onehot, np.array([1, 2, 0])) == pytest.approx(2.0)
    assert negative_log_likelihood(onehot, np.array([1, 2, 0])) == pytest.approx(-math.log(1e-12))


def test_wilson_matches_scipy():
    for k, n in [(0, 10), (7, 20), (20, 20), (813, 1000), (1, 3)]:
        for conf in (0.9, 0.95, 0.99):
            ref = binomtest(k, n).proportion_ci(conf, method="wilson")
            assert wilson_ci(k, n, conf) == pytest.approx((ref.low, ref.high), abs=1e-12)
    lo, hi = wilson_ci(np.array([0, 5]), np.array([10, 10]))
    assert lo.shape == (2,) and lo[1] == pytest.approx(wilson_ci(5, 10)[0])


def test_normal_ci_and_edge_cases():
    z = 1.959963984540054
    assert normal_ci(50, 100) == pytest.approx((0.5 - z * 0.05, 0.5 + z * 0.05))
    assert normal_ci(0, 10) == (0.0, 0.0)  # Wald collapses at 0; Wilson does not
    assert wilson_ci(0, 10)[1] > 0.2
    assert all(isinstance(x, float) and math.isnan(x) for x in wilson_ci(0, 0))
    assert all(math.isnan(x) for x in normal_ci(0, 0))
    with pytest.raises(ValueError, match="confidence"):
        wilson_ci(1, 2, 1.0)
    with pytest.raises(ValueError, match="successes"):
        wilson_ci(3, 2)


def test_validation_errors(data):
    probs, labels = data
    with pytest.raises(ValueError, match="average the samples"):
        accuracy(probs[None], labels)
    with pytest.raises(ValueError, match=r"labels must have shape \(400,\)"):
        brier_score(probs, labels[:-1])
    with pytest.raises(ValueError, match="empty"):
        negative_log_likelihood(probs[:0], labels[:0])
    bad = labels.copy()
    bad[3] = -1
    with pytest.raises(ValueError, match="found -1"):
        accuracy(probs, bad)
    with pytest.raises(ValueError, match="integers"):
        accuracy(probs, labels.astype(float))
    with pytest.raises(ValueError, match="found 7"):
        confusion_matrix(np.array([7]), np.array([0]), 3)
    with pytest.raises(ValueError, match="equal length"):
        confusion_matrix(np.array([0, 1]), np.array([0]), 3)
