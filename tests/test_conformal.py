"""Split conformal prediction: hand-worked scores, coverage guarantee, nesting, MAPIE agreement."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import StratifiedShuffleSplit

from uqviz.conformal import (
    ConformalSplit,
    class_scores,
    conformal_quantile,
    conformal_summary,
    conformity_scores,
    prediction_sets,
    split_calibration,
)
from uqviz.metrics import wilson_ci
from uqviz.predictions import Predictions


def _calibrated_data(rng, n, num_classes=10, concentration=0.5):
    """Dirichlet probabilities and labels drawn from them (a perfectly calibrated model)."""
    probs = rng.dirichlet(np.full(num_classes, concentration), size=n)
    probs /= probs.sum(axis=1, keepdims=True)
    labels = (probs.cumsum(axis=1) > rng.uniform(size=(n, 1))).argmax(axis=1)
    return probs, labels


# -- hand-worked cases -------------------------------------------------------------------------
def test_scores_by_hand():
    probs = np.array([[0.5, 0.3, 0.2]])
    np.testing.assert_allclose(class_scores(probs, score="lac"), [[0.5, 0.7, 0.8]])
    np.testing.assert_allclose(class_scores(probs, score="aps"), [[0.5, 0.8, 1.0]])
    np.testing.assert_allclose(class_scores(probs, score="aps", u=np.array([0.5])),
                               [[0.25, 0.65, 0.9]])
    # RAPS with lam = 0.1, k_reg = 1: ranks 1, 2, 3 get penalties 0, 0.1, 0.2.
    np.testing.assert_allclose(class_scores(probs, score="raps", lam=0.1, k_reg=1),
                               [[0.5, 0.9, 1.2]])
    # Classes are ranked by probability, not by index.
    np.testing.assert_allclose(class_scores(np.array([[0.2, 0.5, 0.3]]), score="aps"),
                               [[1.0, 0.5, 0.8]])
    np.testing.assert_allclose(
        conformity_scores(np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]]), np.array([1, 0]),
                          score="aps"),
        [0.8, 0.9])


def test_quantile_by_hand():
    scores = np.arange(1, 11) / 10  # n = 10
    assert conformal_quantile(scores, 0.2) == pytest.approx(0.9)  # k = ceil(11 * 0.8) = 9
    assert conformal_quantile(scores, 0.5) == pytest.approx(0.6)  # k = ceil(5.5) = 6
    assert conformal_quantile(scores, 1 / 11) == pytest.approx(1.0)  # k = 10 exactly
    assert conformal_quantile(scores, 0.05) == math.inf  # k = 11 > n
    assert conformal_quantile(np.arange(99), 0.1) == 89  # (99 + 1) * 0.9 = 90 -> 90th smallest


def test_quantile_is_the_kth_order_statistic():
    rng = np.random.default_rng(0)
    for n in (5, 37, 200):
        scores = rng.uniform(size=n)
        for alpha in (0.05, 0.1, 0.2, 0.5):
            k = math.ceil((n + 1) * (1 - alpha))
            expected = math.inf if k > n else np.sort(scores)[k - 1]
            assert conformal_quantile(scores, alpha) == expected
            if k <= n:
                assert expected == np.quantile(scores, k / n, method="inverted_cdf")


def test_split_calibration_partitions_and_is_seeded():
    cal, test = split_calibration(101, 0.3, seed=4)
    assert cal.size == 30 and test.size == 71
    np.testing.assert_array_equal(np.sort(np.concatenate([cal, test])), np.arange(101))
    again, _ = split_calibration(101, 0.3, seed=4)
    np.testing.assert_array_equal(cal, again)
    assert not np.array_equal(cal, split_calibration(101, 0.3, seed=5)[0])
    with pytest.raises(ValueError, match="cal_fraction"):
        split_calibration(3, 0.1, seed=0)


def test_result_fields_by_hand():
    rng = np.random.default_rng(1)
    probs, labels = _calibrated_data(rng, 400, num_classes=4)
    result = ConformalSplit(probs, labels, score="lac", seed=2).sets(0.2)
    cal, test = split_calibration(400, 0.5, seed=2)
    np.testing.assert_array_equal(result.test_indices, test)
    np.testing.assert_array_equal(result.cal_indices, cal)
    qhat = conformal_quantile(1 - probs[cal, labels[cal]], 0.2)
    assert result.qhat == qhat
    np.testing.assert_array_equal(result.sets, 1 - probs[test] <= qhat)
    covered = result.sets[np.arange(test.size), labels[test]]
    assert result.coverage == covered.mean()
    assert result.coverage_ci == wilson_ci(int(covered.sum()), test.size)
    np.testing.assert_array_equal(result.set_sizes, result.sets.sum(axis=1))
    assert result.mean_set_size == pytest.approx(result.sets.sum(axis=1).mean())
    for c in range(4):
        assert result.per_class_coverage[c] == pytest.approx(covered[labels[test] == c].mean())
    assert (result.n_cal, result.n_test) == (200, 200)
    assert result.score == "lac" and result.alpha == 0.2 and not result.randomized


def test_per_class_coverage_is_nan_for_absent_classes():
    probs = np.tile([[0.6, 0.3, 0.1]], (20, 1))
    result = ConformalSplit(probs, np.zeros(20, dtype=int)).sets(0.2)
    assert np.isnan(result.per_class_coverage[1:]).all()


def test_bad_arguments():
    probs = np.full((10, 2), 0.5)
    labels = np.zeros(10, dtype=int)
    split = ConformalSplit(probs, labels)
    for alpha in (1.0, 0.0, -0.1):
        with pytest.raises(ValueError, match=f"alpha must be in \\(0, 1\\), got {alpha}"):
            split.sets(alpha)
    with pytest.raises(ValueError, match="alpha must be in"):
        split.levels([0.1, 1.0])
    with pytest.raises(ValueError, match="alphas is empty"):
        split.curve([])
    with pytest.raises(ValueError, match="n_draws must be an integer >= 1, got 0"):
        split.draws([0.1], 0)
    # the settings are checked once, when the split is made
    with pytest.raises(ValueError, match="score must be one of"):
        ConformalSplit(probs, labels, score="thr")
    with pytest.raises(ValueError, match="found -1"):
        ConformalSplit(probs, np.r_[labels[:-1], -1])
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        ConformalSplit(probs[None], labels)
    with pytest.raises(ValueError, match="cal_fraction must be in"):
        ConformalSplit(probs, labels, cal_fraction=1.0)
    with pytest.raises(ValueError, match="leaves 0 calibration and 10 test rows"):
        ConformalSplit(probs, labels, cal_fraction=0.01)
    with pytest.raises(ValueError, match="seed must be an integer >= 0, got -1"):
        ConformalSplit(probs, labels, seed=-1)
    with pytest.raises(ValueError, match="lam must be"):
        ConformalSplit(probs, labels, score="raps", lam=-0.1)
    with pytest.raises(ValueError, match="k_reg must be"):
        ConformalSplit(probs, labels, score="raps", k_reg=1.5)


# -- the coverage guarantee --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("score", "randomized"),
    [("lac", False), ("aps", True), ("raps", True)],
)
def test_mean_coverage_over_seeds_matches_the_finite_sample_value(score, randomized):
    """E[coverage] = k/(n+1) for continuous exchangeable scores, in [1-a, 1-a + 1/(n+1)]."""
    alpha, n_cal, n_test, repeats = 0.1, 50, 200, 400
    coverages = np.empty(repeats)
    for seed in range(repeats):
        probs, labels = _calibrated_data(np.random.default_rng(10_000 + seed), n_cal + n_test)
        result = ConformalSplit(probs, labels, score=score, seed=seed,
                                cal_fraction=n_cal / (n_cal + n_test), randomized=randomized,
                                lam=0.05, k_reg=2).sets(alpha)
        assert result.n_cal == n_cal
        coverages[seed] = result.coverage
    mean = coverages.mean()
    monte_carlo_error = coverages.std(ddof=1) / math.sqrt(repeats)
    k = math.ceil((n_cal + 1) * (1 - alpha))
    assert abs(mean - k / (n_cal + 1)) < 4 * monte_carlo_error
    assert 1 - alpha - 4 * monte_carlo_error <= mean
    assert mean <= 1 - alpha + 1 / (n_cal + 1) + 4 * monte_carlo_error
    # The (k+1)-th order statistic (numpy's method="higher" at level k/n) would over-cover by
    # 1/(n+1); the test can tell the two apart.
    assert 1 / (n_cal + 1) > 6 * monte_carlo_error


@pytest.mark.parametrize("score", ["aps", "raps"])
def test_non_randomized_sets_are_conservative_and_never_empty(score):
    """Keeping the class that crosses q̂ over-covers: mean coverage >= 1 - alpha, no empty set."""
    alpha, repeats = 0.1, 200
    coverages = np.empty(repeats)
    for seed in range(repeats):
        probs, labels = _calibrated_data(np.random.default_rng(20_000 + seed), 250)
        result = ConformalSplit(probs, labels, score=score, seed=seed, cal_fraction=0.2,
                                randomized=False, lam=0.05, k_reg=2).sets(alpha)
        assert result.set_sizes.min() >= 1
        coverages[seed] = result.coverage
    monte_carlo_error = coverages.std(ddof=1) / math.sqrt(repeats)
    assert coverages.mean() >= 1 - alpha - 3 * monte_carlo_error


# -- nesting -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("score", "randomized"),
                         [("aps", False), ("aps", True), ("raps", True), ("lac", False)])
def test_sets_are_nested_as_alpha_shrinks(score, randomized):
    rng = np.random.default_rng(3)
    probs, labels = _calibrated_data(rng, 600)
    alphas = [0.5, 0.3, 0.2, 0.1, 0.05, 0.02]
    split = ConformalSplit(probs, labels, score=score, seed=1, randomized=randomized)
    results = [split.sets(a) for a in alphas]
    for bigger_alpha, smaller_alpha in zip(results, results[1:], strict=False):
        assert smaller_alpha.qhat >= bigger_alpha.qhat
        assert (bigger_alpha.sets <= smaller_alpha.sets).all()
    curve = split.curve(alphas)
    np.testing.assert_allclose(curve.coverage, [r.coverage for r in results])
    np.testing.assert_allclose(curve.mean_set_size, [r.mean_set_size for r in results])
    np.testing.assert_allclose(curve.qhat, [r.qhat for r in results])
    np.testing.assert_allclose(curve.coverage_low, [r.coverage_ci[0] for r in results])
    np.testing.assert_allclose(curve.coverage_high, [r.coverage_ci[1] for r in results])
    assert (np.diff(curve.coverage) >= 0).all() and (np.diff(curve.mean_set_size) >= 0).all()


# -- one split, every answer -------------------------------------------------------------------
@pytest.mark.parametrize(("score", "randomized"),
                         [("lac", True), ("aps", True), ("aps", False), ("raps", True),
                          ("raps", False)])
def test_one_split_gives_the_same_numbers_through_sets_levels_and_curve(rng, score,
                                                                         randomized):
    from uqviz.conformal import SLIDER_ALPHAS, class_coverage, covered_test_rows

    probs, labels = _calibrated_data(rng, 257, num_classes=6)
    split = ConformalSplit(probs, labels, score=score, cal_fraction=0.3, seed=4,
                           randomized=randomized, lam=0.05, k_reg=2)
    alphas = np.concatenate([[0.001], SLIDER_ALPHAS])  # 0.001: k > n_cal, q̂ infinite
    levels, curve = split.levels(alphas), split.curve(alphas)
    assert math.isinf(levels.qhat[0])
    for i, alpha in enumerate(alphas):
        result = split.sets(alpha)
        hits = int(covered_test_rows(result, labels).sum())
        assert levels.qhat[i] == curve.qhat[i] == result.qhat
        assert levels.hits[i] == hits
        assert levels.coverage[i] == curve.coverage[i] == result.coverage
        assert (curve.coverage_low[i], curve.coverage_high[i]) == result.coverage_ci
        assert (levels.coverage_low[i], levels.coverage_high[i]) == result.coverage_ci
        assert levels.mean_set_size[i] == pytest.approx(result.mean_set_size, rel=1e-14)
        assert curve.mean_set_size[i] == pytest.approx(result.mean_set_size, rel=1e-14)
        np.testing.assert_array_equal(
            levels.size_counts[i], np.bincount(result.set_sizes, minlength=7))
        by_class, expected = levels.class_coverage(i), class_coverage(result, labels)
        for field in ("coverage", "low", "high", "counts"):
            np.testing.assert_array_equal(getattr(by_class, field), getattr(expected, field))
    assert levels.n_cal == curve.n_cal == result.n_cal == 77
    assert levels.n_test == curve.n_test == result.n_test == 180


@pytest.mark.parametrize(("score", "randomized", "passes"),
                         [("lac", True, 1), ("aps", True, 1), ("raps", False, 2)])
def test_the_split_and_its_scores_are_computed_once(rng, monkeypatch, score, randomized,
                                                    passes):
    """Every answer reads the cached split, uniforms and scores: the scores are computed once
    (twice for non-randomized APS/RAPS: calibration mass with u = 0, set mass with u = 1)."""
    import uqviz.conformal as conformal

    probs, labels = _calibrated_data(rng, 200, num_classes=4)
    calls = []
    real = conformal._class_scores
    monkeypatch.setattr(conformal, "_class_scores",
                        lambda *args: calls.append(args[0].shape) or real(*args))
    split = ConformalSplit(probs, labels, score=score, randomized=randomized)
    assert calls == []  # nothing computed before it is asked for
    split.sets(0.1)
    split.sets(0.2, class_conditional=True)
    split.levels([0.1, 0.2])
    split.curve([0.1, 0.2])
    split.draws([0.1, 0.2], 1)  # seed 0: this split itself
    assert len(calls) == passes
    for name in ("split", "uniforms", "set_scores", "calibration_scores"):
        assert getattr(split, name) is getattr(split, name)
    assert split.set_scores.shape == (200, 4) and split.calibration_scores.shape == (100,)
    assert (split.uniforms is None) == (score == "lac" or not randomized)


def test_a_split_keeps_its_checked_settings():
    probs = np.full((10, 2), 0.5, dtype=np.float32)
    split = ConformalSplit(probs, np.zeros(10, dtype=np.int32), randomized=np.True_,
                           seed=np.int64(2), lam=0, k_reg=np.int64(1))
    assert split.probs.dtype == np.float64 and split.labels.dtype == np.int64
    assert (split.seed, split.randomized, split.lam, split.k_reg) == (2, True, 0.0, 1)
    assert type(split.seed) is int and type(split.k_reg) is int
    with pytest.raises(AttributeError):
        split.seed = 3  # frozen: a new seed is a new split (dataclasses.replace)


def test_study_shares_one_split_between_its_conformal_answers(rng):
    from uqviz.study import Study

    probs, labels = _calibrated_data(rng, 200, num_classes=4)
    study = Study(Predictions(probs[None], labels))
    split = study.conformal_split(score="aps", seed=0)
    assert study.conformal_split(score="aps", seed=0) is split
    result = study.conformal(alpha=0.2, score="aps")
    assert study.conformal(alpha=0.2, score="aps") is result
    np.testing.assert_array_equal(result.sets, split.sets(0.2).sets)
    np.testing.assert_array_equal(study.conformal_curve([0.1, 0.2], score="aps").coverage,
                                  split.curve([0.1, 0.2]).coverage)
    comparison = study.class_conditional_comparison(alpha=0.2, score="aps")
    assert comparison.marginal is result
    np.testing.assert_array_equal(comparison.mondrian.class_qhat,
                                  split.sets(0.2, class_conditional=True).class_qhat)


def test_fixed_u_sets_are_nested_and_prefixes_of_the_ranking():
    rng = np.random.default_rng(4)
    probs, _ = _calibrated_data(rng, 300)
    u = rng.uniform(size=300)
    order = np.argsort(-probs, axis=1, kind="stable")
    previous = np.zeros_like(probs, dtype=bool)
    for qhat in np.linspace(0, 1.2, 25):
        for score in ("aps", "raps"):
            sets = prediction_sets(probs, qhat, score=score, u=u, lam=0.05, k_reg=2)
            ranked = np.take_along_axis(sets, order, axis=1)
            assert (np.diff(ranked.astype(int), axis=1) <= 0).all()  # a prefix of the ranking
            if score == "aps":
                assert (previous <= sets).all()
                previous = sets


# -- conformal_summary -------------------------------------------------------------------------
def test_summary_uses_labelled_in_distribution_rows_with_samples_averaged():
    rng = np.random.default_rng(5)
    probs = rng.dirichlet(np.ones(3), size=(4, 100)).astype(np.float32)
    labels = rng.integers(0, 3, size=100)
    labels[:10] = -1
    group = np.array(["test"] * 90 + ["ood:noise"] * 10, dtype=object)
    p = Predictions(probs, labels, group=group)
    summary = conformal_summary(p, alpha=0.2, seed=3, score="aps")
    assert set(summary) == {"qhat", "coverage", "mean_set_size", "n_cal", "n_test"}
    json.dumps(summary, allow_nan=False)
    rows = (labels >= 0) & (group == "test")
    expected = ConformalSplit(probs.mean(axis=0)[rows], labels[rows], seed=3,
                              score="aps").sets(0.2)
    assert summary["n_cal"] + summary["n_test"] == rows.sum() == 80
    assert summary["qhat"] == pytest.approx(expected.qhat)
    assert summary["coverage"] == pytest.approx(expected.coverage)
    assert summary["mean_set_size"] == pytest.approx(expected.mean_set_size)
    assert conformal_summary(p, alpha=0.01)["qhat"] is None  # k > n_cal: every class


# -- agreement with MAPIE ----------------------------------------------------------------------
class _FixedProbabilities(ClassifierMixin, BaseEstimator):
    """A prefit classifier whose predict_proba looks up fixed rows: X[:, 0] is the row index."""

    def __init__(self, probs=None):
        self.probs = probs

    def fit(self, X, y=None):
        self.classes_ = np.arange(self.probs.shape[1])
        return self

    def predict_proba(self, X):
        return self.probs[np.asarray(X)[:, 0].astype(int)]

    def predict(self, X):
        return self.predict_proba(X).argmax(axis=1)


class _ZeroUniform(np.random.RandomState):
    """MAPIE always randomizes APS/RAPS; u = 0 everywhere gives the non-randomized variant."""

    def uniform(self, low=0.0, high=1.0, size=None):
        return np.zeros(size)


def _mapie(probs, labels, cal, test, alpha, score, random_state, include_last_label):
    from mapie.classification import SplitConformalClassifier

    rows = np.arange(len(probs), dtype=float)[:, None]
    model = SplitConformalClassifier(
        estimator=_FixedProbabilities(probs).fit(rows, labels), confidence_level=1 - alpha,
        conformity_score=score, prefit=True, random_state=random_state,
    ).conformalize(rows[cal], labels[cal])
    _, sets = model.predict_set(rows[test],
                                conformity_score_params={"include_last_label": include_last_label})
    function = model._mapie_classifier.conformity_score_function_
    return sets[:, :, 0], float(np.ravel(function.quantiles_)[0]), function


ALPHA, SPLIT_SEED, MAPIE_SEED = 0.1, 3, 7


@pytest.fixture(scope="module")
def mapie_data():
    return _calibrated_data(np.random.default_rng(0), 4000, num_classes=10, concentration=0.5)


def test_lac_sets_equal_mapie(mapie_data):
    probs, labels = mapie_data
    ours = ConformalSplit(probs, labels, score="lac", seed=SPLIT_SEED).sets(ALPHA)
    sets, qhat, _ = _mapie(probs, labels, ours.cal_indices, ours.test_indices, ALPHA, "lac",
                           None, True)
    assert ours.qhat == pytest.approx(qhat, abs=1e-12)
    np.testing.assert_array_equal(ours.sets, sets)


def test_non_randomized_aps_equals_mapie_include_last_label(mapie_data):
    """Calibration on the inclusive cumulative mass (MAPIE with zero uniforms), test sets that
    keep the class crossing q̂ (MAPIE's include_last_label=True): never empty."""
    probs, labels = mapie_data
    ours = ConformalSplit(probs, labels, score="aps", seed=SPLIT_SEED,
                          randomized=False).sets(ALPHA)
    sets, qhat, _ = _mapie(probs, labels, ours.cal_indices, ours.test_indices, ALPHA, "aps",
                           _ZeroUniform(MAPIE_SEED), True)
    assert ours.qhat == pytest.approx(qhat, abs=1e-12)
    np.testing.assert_array_equal(ours.sets, sets)
    assert ours.set_sizes.min() >= 1


def test_randomized_aps_equals_mapie_given_mapie_uniforms(mapie_data):
    probs, labels = mapie_data
    cal, test = split_calibration(len(labels), 0.5, SPLIT_SEED)
    sets, mapie_qhat, _ = _mapie(probs, labels, cal, test, ALPHA, "aps", MAPIE_SEED,
                                 "randomized")
    # MAPIE draws u for calibration and for test rows from fresh RandomState(seed) streams.
    u_cal = np.random.RandomState(MAPIE_SEED).uniform(size=cal.size)
    u_test = np.random.RandomState(MAPIE_SEED).uniform(size=test.size)
    qhat = conformal_quantile(conformity_scores(probs[cal], labels[cal], score="aps", u=u_cal),
                              ALPHA)
    assert qhat == pytest.approx(mapie_qhat, abs=1e-12)
    np.testing.assert_array_equal(prediction_sets(probs[test], qhat, score="aps", u=u_test), sets)
    # MAPIE's default include_last_label=True keeps every class whose higher-ranked mass is
    # below qhat: our score with u = 1, strictly below qhat (not one of our variants).
    default_sets, _, _ = _mapie(probs, labels, cal, test, ALPHA, "aps", MAPIE_SEED, True)
    u_one = np.ones(test.size)
    np.testing.assert_array_equal(class_scores(probs[test], score="aps", u=u_one) < qhat,
                                  default_sets)


def _raps_against_mapie(probs, labels, randomized, alpha):
    """Our RAPS with MAPIE's chosen lam, k_reg, calibration rows and uniforms."""
    cal, test = split_calibration(len(labels), 0.5, SPLIT_SEED)
    state = MAPIE_SEED if randomized else _ZeroUniform(MAPIE_SEED)
    sets, mapie_qhat, function = _mapie(probs, labels, cal, test, alpha, "raps", state,
                                        "randomized")
    lam, k_reg = float(function.lambda_star), int(np.ravel(function.k_star)[0])
    # MAPIE keeps 10% of the calibration rows (StratifiedShuffleSplit's default) to choose
    # lam and k_reg and calibrates on the rest.
    split_state = MAPIE_SEED if randomized else _ZeroUniform(MAPIE_SEED)
    kept, _ = next(StratifiedShuffleSplit(n_splits=1, random_state=split_state)
                   .split(cal[:, None], labels[cal]))
    cal = cal[kept]
    u_cal = np.random.RandomState(MAPIE_SEED).uniform(size=cal.size) if randomized else None
    u_test = np.random.RandomState(MAPIE_SEED).uniform(size=test.size) if randomized else None
    kw = {"score": "raps", "lam": lam, "k_reg": k_reg}
    qhat = conformal_quantile(conformity_scores(probs[cal], labels[cal], u=u_cal, **kw),
                              alpha)
    ours = prediction_sets(probs[test], qhat, u=u_test, **kw)
    return ours, sets, qhat, mapie_qhat, class_scores(probs[test], u=u_test, **kw)


@pytest.mark.parametrize("randomized", [True, False])
def test_raps_equals_mapie_when_qhat_is_below_one(mapie_data, randomized):
    ours, sets, qhat, mapie_qhat, _ = _raps_against_mapie(*mapie_data, randomized, ALPHA)
    assert qhat == pytest.approx(mapie_qhat, abs=1e-12)
    assert qhat < 1
    np.testing.assert_array_equal(ours, sets)


@pytest.mark.parametrize("randomized", [True, False])
def test_raps_beyond_qhat_one_mapie_adds_at_most_one_class_above_qhat(randomized):
    """With qhat > 1 (penalised sets larger than k_reg + 1) MAPIE's tie-breaking formula keeps
    one extra class whose score exceeds qhat in some rows; our sets are {score <= qhat}."""
    probs, labels = _calibrated_data(np.random.default_rng(0), 4000, 10, concentration=1.0)
    ours, sets, qhat, mapie_qhat, scores = _raps_against_mapie(probs, labels, randomized, 0.05)
    assert qhat == pytest.approx(mapie_qhat, abs=1e-12)
    assert qhat > 1
    agree = (ours == sets).all(axis=1)
    assert 0.8 < agree.mean() < 1.0
    assert (ours <= sets).all()
    extra = sets & ~ours
    assert (extra.sum(axis=1) <= 1).all()
    assert (scores[extra] > qhat).all()


# -- what the conformal page shows besides one split -------------------------------------------
def test_split_sizes_quantile_rank_and_number_of_draws():
    from uqviz.conformal import number_of_draws, quantile_rank, split_sizes

    assert split_sizes(10, 0.3) == (3, 7)
    assert split_sizes(3, 0.1) == (0, 3)  # too few: the page says so instead of splitting
    assert quantile_rank(99, 0.1) == 90  # (99 + 1) * 0.9, not 91 from rounding error
    assert quantile_rank(10, 0.2) == 9
    assert number_of_draws(450, 10) == 100  # small sets: 100 splits
    assert number_of_draws(200_000, 10) == 10  # 2e7 / 2e6, the floor
    assert number_of_draws(40_000, 10) == 50


def test_draws_average_the_splits_of_seeds_zero_to_n(rng):
    probs, labels = _calibrated_data(rng, 300, num_classes=5)
    alphas = np.array([0.1, 0.2, 0.3])
    split = ConformalSplit(probs, labels, score="aps", cal_fraction=0.4, seed=5, lam=0.0,
                           k_reg=0)
    avg = split.draws(alphas, 7)
    by_hand = [[ConformalSplit(probs, labels, score="aps", cal_fraction=0.4, seed=s, lam=0.0,
                               k_reg=0).sets(a).coverage for a in alphas] for s in range(7)]
    np.testing.assert_allclose(avg.coverage, np.mean(by_hand, axis=0))
    assert avg.n_draws == 7 and avg.at(0.21) == avg.coverage[1]
    with pytest.raises(ValueError, match="n_draws"):
        split.draws(alphas, 0)


def test_study_average_coverage_is_memoised(rng):
    from uqviz.conformal import AVERAGE_ALPHAS, CURVE_ALPHAS
    from uqviz.study import Study

    assert np.isin(CURVE_ALPHAS, AVERAGE_ALPHAS).all()
    assert np.isin(np.round(np.arange(0.01, 0.505, 0.01), 2), AVERAGE_ALPHAS).all()
    probs, labels = _calibrated_data(rng, 200, num_classes=4)
    study = Study(Predictions(probs[None], labels))
    avg = study.average_coverage(CURVE_ALPHAS, 3, score="lac", cal_fraction=0.5)
    assert study.average_coverage(CURVE_ALPHAS, 3, score="lac", cal_fraction=0.5) is avg
    np.testing.assert_allclose(avg.coverage, ConformalSplit(
        probs, labels, score="lac", cal_fraction=0.5).draws(CURVE_ALPHAS, 3).coverage)


def test_class_coverage_counts_and_wilson_intervals(rng):
    from uqviz.conformal import class_coverage, covered_test_rows

    probs, labels = _calibrated_data(rng, 400, num_classes=4)
    labels[labels == 3] = 2  # class 3 has no row: NaN coverage and interval
    result = ConformalSplit(probs, labels, seed=3).sets(0.2)
    test_labels = labels[result.test_indices]
    covered = covered_test_rows(result, labels)
    np.testing.assert_array_equal(
        covered, [result.sets[i, y] for i, y in enumerate(test_labels)])
    per_class = class_coverage(result, labels)
    assert per_class.target == pytest.approx(0.8)
    for c in range(3):
        n_c, hits = int((test_labels == c).sum()), int(covered[test_labels == c].sum())
        assert per_class.counts[c] == n_c
        assert per_class.coverage[c] == pytest.approx(hits / n_c)
        assert (per_class.low[c], per_class.high[c]) == pytest.approx(wilson_ci(hits, n_c))
    assert per_class.counts[3] == 0
    assert np.isnan([per_class.coverage[3], per_class.low[3], per_class.high[3]]).all()


def test_set_examples_random_largest_and_missed(rng):
    from uqviz.conformal import covered_test_rows, set_examples

    probs, labels = _calibrated_data(rng, 300, num_classes=5)
    result = ConformalSplit(probs, labels, seed=1).sets(0.3)
    covered = covered_test_rows(result, labels)
    missed = set_examples(result, labels, "missed")
    assert len(missed.rows) == min(8, int((~covered).sum())) > 0
    assert not missed.covered.any()
    np.testing.assert_array_equal(missed.rows, result.test_indices[~covered][:8])
    largest = set_examples(result, labels, "largest", k=5)
    sizes = [len(m) for m in largest.members]
    assert sizes == sorted(result.set_sizes, reverse=True)[:5]
    random = set_examples(result, labels, "random", seed=4)
    assert random.rows.tolist() == set_examples(result, labels, "random", seed=4).rows.tolist()
    for ex in (missed, largest, random):
        np.testing.assert_array_equal(ex.labels, labels[ex.rows])
        assert [y in m for m, y in zip(ex.members, ex.labels, strict=True)] == list(ex.covered)
    names = ("a", "b", "c", "d", "e")
    caption = missed.captions(names)[0]
    assert caption.startswith("{") and caption.endswith(f"true {names[missed.labels[0]]} ✗")
    assert set_examples(result, labels, "missed", k=0).captions(names) == []
    with pytest.raises(ValueError, match="kind must be one of"):
        set_examples(result, labels, "worst")
