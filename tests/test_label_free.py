"""Accuracy without labels (uqviz.metrics.label_free): hand-worked cases for each estimator, the
temperature fit against the project's (torch-importing) one, closeness and interval coverage on
exchangeable data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from uqviz.metrics.label_free import (
    ESTIMATORS,
    atc_threshold,
    average_confidence,
    average_thresholded_confidence,
    confidence_scores,
    difference_of_confidences,
    estimate_accuracy,
    fit_reference,
    temperature_from_probs,
    temperature_scaled,
)

REF = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.7, 0.3]])
REF_LABELS = np.array([0, 0, 1, 1])  # predicted 0 everywhere: correct 1, 1, 0, 0
TARGET = np.array([[0.65, 0.35], [0.55, 0.45], [0.95, 0.05]])


def synthetic(n: int, rng: np.random.Generator, *, classes: int = 10, scale: float = 2.5,
              sharpen: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z); the model reports softmax(sharpen · z) (overconfident for
    sharpen > 1, so AC is biased and temperature scaling recovers T = sharpen)."""
    z = rng.normal(0.0, scale, (n, classes))
    true = np.exp(z - z.max(axis=1, keepdims=True))
    true /= true.sum(axis=1, keepdims=True)
    labels = (true.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    reported = np.exp(sharpen * (z - z.max(axis=1, keepdims=True)))
    return reported / reported.sum(axis=1, keepdims=True), labels


def test_hand_worked_estimators():
    # reference accuracy 0.5, mean confidence 0.75; target confidences 0.65, 0.55, 0.95
    assert average_confidence(TARGET) == pytest.approx((0.65 + 0.55 + 0.95) / 3)
    assert difference_of_confidences(REF, REF_LABELS, TARGET) == pytest.approx(
        0.5 + (0.65 + 0.55 + 0.95) / 3 - 0.75)
    # two errors: t = 2nd smallest reference confidence = 0.7; target above 0.7: only 0.95
    assert atc_threshold(REF.max(axis=1), np.array([1, 1, 0, 0], bool)) == 0.7
    assert average_thresholded_confidence(REF, REF_LABELS, TARGET) == pytest.approx(1 / 3)
    # two classes: the negative entropy orders rows like the confidence
    assert average_thresholded_confidence(REF, REF_LABELS, TARGET,
                                          score="negative_entropy") == pytest.approx(1 / 3)
    assert confidence_scores(np.array([[0.5, 0.5]]), "negative_entropy")[0] == pytest.approx(
        -math.log(2))
    assert atc_threshold(np.array([0.3, 0.9]), np.array([True, True])) == -math.inf


def test_atc_threshold_matches_reference_accuracy(rng):
    for n in (5, 50, 333):
        scores, correct = rng.random(n), rng.random(n) < 0.7
        t = atc_threshold(scores, correct)
        assert np.mean(scores > t) == pytest.approx(correct.mean())


def test_estimate_accuracy_points_equal_the_plain_functions(rng):
    ref, ref_y = synthetic(300, rng)
    target, _ = synthetic(200, rng, scale=1.8)
    fitted = fit_reference(ref, ref_y, n_boot=20)
    got = estimate_accuracy(fitted, target)
    t = fitted.temperature
    ref_t, target_t = temperature_scaled(ref, t), temperature_scaled(target, t)
    expected = {
        "ac": average_confidence(target), "ac_ts": average_confidence(target_t),
        "doc": difference_of_confidences(ref, ref_y, target),
        "doc_ts": difference_of_confidences(ref_t, ref_y, target_t),
        "atc_mc": average_thresholded_confidence(ref, ref_y, target),
        "atc_ne": average_thresholded_confidence(ref, ref_y, target, score="negative_entropy"),
        "atc_mc_ts": average_thresholded_confidence(ref_t, ref_y, target_t),
        "atc_ne_ts": average_thresholded_confidence(ref_t, ref_y, target_t,
                                                    score="negative_entropy"),
    }
    assert [e.estimator for e in got.estimates] == list(ESTIMATORS)
    for name, value in expected.items():
        assert got[name].estimate == pytest.approx(value, abs=1e-12), name
        assert got[name].low <= got[name].estimate <= got[name].high


def test_temperature_matches_the_methods_fit(rng):
    from uqviz.methods.temperature import nll_optimal_temperature  # imports torch: test only

    for sharpen in (0.7, 1.0, 2.0):
        probs, labels = synthetic(400, rng, sharpen=sharpen)
        ours = temperature_from_probs(probs, labels)
        theirs = nll_optimal_temperature(np.log(np.maximum(probs, 1e-12)), labels)
        assert ours == pytest.approx(theirs, rel=1e-4)
        assert ours == pytest.approx(sharpen, rel=0.25)  # it recovers the sharpening


def test_estimates_close_to_the_truth_on_exchangeable_data(rng):
    ref, ref_y = synthetic(4000, rng)
    target, target_y = synthetic(4000, rng)
    truth = float((target.argmax(axis=1) == target_y).mean())
    got = estimate_accuracy(fit_reference(ref, ref_y, n_boot=30), target,
                            target_correct=target.argmax(axis=1) == target_y)
    assert got.true_accuracy == truth
    for e in got.estimates:
        if e.estimator == "ac":  # overconfident model: AC is biased upwards, as it should be
            assert e.estimate > truth + 0.05
        else:  # 4000 + 4000 rows: standard error about 0.01
            assert abs(e.estimate - truth) < 0.04, e


def test_interval_coverage_at_the_nominal_rate(rng):
    """On exchangeable data each 95% interval covers the realised target accuracy in at least
    95% of draws, less 3 binomial standard deviations (0.046 for 200 draws; 0.146 for the 20
    draws of the slower temperature-scaled estimator). Measured (seed 0): doc 0.95, atc_mc
    0.95, atc_ne 0.955, ac_ts 20/20."""
    draws, scaled_draws = 200, 20
    plain = ("doc", "atc_mc", "atc_ne")
    covered = dict.fromkeys((*plain, "ac_ts"), 0)
    for i in range(draws):
        ref, ref_y = synthetic(300, rng)
        target, target_y = synthetic(300, rng)
        truth = (target.argmax(axis=1) == target_y).mean()
        scaled = i < scaled_draws
        fitted = fit_reference(ref, ref_y, n_boot=40, seed=i, with_temperature=scaled)
        got = estimate_accuracy(fitted, target, estimators=plain + (("ac_ts",) if scaled else ()),
                                seed=10_000 + i)
        for e in got.estimates:
            covered[e.estimator] += e.low <= truth <= e.high
    for name in plain:
        assert covered[name] / draws >= 0.95 - 3 * math.sqrt(0.05 * 0.95 / draws), name
    assert covered["ac_ts"] / scaled_draws >= 0.95 - 3 * math.sqrt(0.05 * 0.95 / scaled_draws)


def test_bad_input_says_what_is_wrong(rng):
    ref, ref_y = synthetic(50, rng)
    fitted = fit_reference(ref, ref_y, n_boot=5, with_temperature=False)
    with pytest.raises(ValueError, match="unknown estimator.*valid: ac"):
        estimate_accuracy(fitted, ref, estimators=("nope",))
    with pytest.raises(ValueError, match="with_temperature"):
        estimate_accuracy(fitted, ref, estimators=("ac_ts",))
    with pytest.raises(ValueError, match="n_boot must be"):
        fit_reference(ref, ref_y, n_boot=1)
    with pytest.raises(ValueError, match="empty"):
        estimate_accuracy(fitted, ref[:0], estimators=("ac",))
