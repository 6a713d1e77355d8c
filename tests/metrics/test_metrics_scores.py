"""Uncertainty scores: hand-worked cases, scipy cross-checks, the oriented accessor."""

import numpy as np
import pytest
from scipy.stats import entropy as scipy_entropy

from uqviz.metrics import (
    UNCERTAINTY_SCORES,
    ScoreInfo,
    entropy,
    expected_entropy,
    margin,
    max_prob,
    mutual_information,
    predicted_class_variance,
    uncertainty,
)


def _random_probs(s, n, c, seed=0):
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.full(c, 0.5), size=(s, n))


def test_two_disagreeing_samples_hand_worked():
    # two confident samples that disagree: mean is uniform, all uncertainty is epistemic
    probs = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])  # (S=2, N=1, C=2)
    assert max_prob(probs) == pytest.approx([0.5])
    assert margin(probs) == pytest.approx([0.0])
    assert entropy(probs) == pytest.approx([np.log(2)])
    assert expected_entropy(probs) == pytest.approx([0.0])
    assert mutual_information(probs) == pytest.approx([np.log(2)])
    # predicted class 0 (tie -> lowest index); its probability is 1 then 0: variance 1/4
    assert predicted_class_variance(probs) == pytest.approx([0.25])


def test_hand_worked_margin_and_max_prob():
    probs = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    np.testing.assert_allclose(max_prob(probs), [0.5, 0.8])
    np.testing.assert_allclose(margin(probs), [0.2, 0.7])
    np.testing.assert_allclose(uncertainty(probs, "max_prob"), [0.5, 0.2])
    np.testing.assert_allclose(uncertainty(probs, "margin"), [0.8, 0.3])


def test_entropies_match_scipy():
    probs = _random_probs(4, 50, 6)
    mean = probs.mean(axis=0)
    np.testing.assert_allclose(entropy(probs), scipy_entropy(mean, axis=1))
    per_sample = scipy_entropy(probs, axis=2)  # (S, N)
    np.testing.assert_allclose(expected_entropy(probs), per_sample.mean(axis=0))
    np.testing.assert_allclose(
        mutual_information(probs),
        np.maximum(scipy_entropy(mean, axis=1) - per_sample.mean(axis=0), 0.0),
        atol=1e-12,
    )


def test_variance_matches_loop():
    probs = _random_probs(5, 30, 4, seed=1)
    predicted = probs.mean(axis=0).argmax(axis=1)
    expected = [np.var(probs[:, i, predicted[i]]) for i in range(30)]
    np.testing.assert_allclose(predicted_class_variance(probs), expected)


def test_two_d_input_equals_one_sample_and_decomposition_vanishes():
    probs = _random_probs(1, 40, 5, seed=2)
    flat = probs[0]
    for fn in (max_prob, margin, entropy, expected_entropy):
        np.testing.assert_allclose(fn(flat), fn(probs))
    np.testing.assert_allclose(expected_entropy(flat), entropy(flat))
    assert np.all(mutual_information(flat) == 0.0)
    assert np.all(predicted_class_variance(flat) == 0.0)


def test_mutual_information_bounds_and_float32():
    probs = _random_probs(8, 200, 10, seed=3).astype(np.float32)
    mi = mutual_information(probs)
    assert mi.dtype == np.float64 and mi.shape == (200,)
    assert np.all(mi >= 0.0)
    assert np.all(mi <= entropy(probs) + 1e-12)
    assert np.all(entropy(probs) <= np.log(10) + 1e-9)


def test_uncertainty_orientation_higher_is_more_uncertain():
    confident = np.array([[0.98, 0.01, 0.01]])
    unsure = np.array([[0.34, 0.33, 0.33]])
    for key in ("max_prob", "margin", "entropy", "expected_entropy"):
        assert uncertainty(unsure, key)[0] > uncertainty(confident, key)[0], key
    stacked = np.stack([np.array([[0.9, 0.1]]), np.array([[0.1, 0.9]])])
    agreeing = np.stack([np.array([[0.9, 0.1]]), np.array([[0.9, 0.1]])])
    for key in ("mutual_information", "variance"):
        assert uncertainty(stacked, key)[0] > uncertainty(agreeing, key)[0], key


def test_score_table_and_unknown_key():
    assert list(UNCERTAINTY_SCORES) == [
        "max_prob", "margin", "entropy", "expected_entropy", "mutual_information", "variance"
    ]
    for key, info in UNCERTAINTY_SCORES.items():
        assert isinstance(info, ScoreInfo) and info.key == key and info.label and info.meaning
        uncertainty(np.array([[0.6, 0.4]]), key)  # every key is accepted
    assert not UNCERTAINTY_SCORES["entropy"].needs_samples
    assert UNCERTAINTY_SCORES["mutual_information"].needs_samples
    with pytest.raises(ValueError, match="valid: max_prob, margin"):
        uncertainty(np.array([[0.6, 0.4]]), "confidence")
    with pytest.raises(AttributeError):
        UNCERTAINTY_SCORES["entropy"].label = "x"


def test_bad_shapes():
    with pytest.raises(ValueError, match="got shape"):
        entropy(np.ones(3))
    with pytest.raises(ValueError, match="got shape"):
        max_prob(np.ones((1, 1, 2, 2)))
    with pytest.raises(ValueError, match="C >= 2"):
        margin(np.ones((3, 1)))
    assert entropy(np.zeros((2, 0, 3))).shape == (0,)
