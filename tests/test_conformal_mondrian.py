"""Class-conditional (Mondrian) split conformal sets: coverage >= 1 − α within every class,
checked by simulation; each class's threshold against MAPIE calibrated on that class's rows;
a hand-worked case; the command line."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from uqviz.conformal import ConformalSplit, conformal_quantile

ALPHA = 0.1
PRIORS = np.array([0.5, 0.3, 0.15, 0.05])


def _draw(rng: np.random.Generator, n: int):
    """Rows of a model that is overconfident against the rare classes: the true class gets a
    high logit for the common classes only, so marginal sets under-cover the rare ones."""
    labels = rng.choice(PRIORS.size, size=n, p=PRIORS)
    logits = rng.normal(0, 1, (n, PRIORS.size)) + np.log(PRIORS) * 2
    logits[np.arange(n), labels] += np.array([3.0, 2.5, 1.0, 0.5])[labels]
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    return probs / probs.sum(axis=1, keepdims=True), labels


def _class_coverage_over_draws(class_conditional: bool, score: str, draws: int = 200,
                               n: int = 1000):
    rng = np.random.default_rng(2024)
    per_draw = np.full((draws, PRIORS.size), np.nan)
    for d in range(draws):
        probs, labels = _draw(rng, n)
        result = ConformalSplit(probs, labels, score=score, seed=d).sets(
            ALPHA, class_conditional=class_conditional)
        per_draw[d] = result.per_class_coverage
    return per_draw


@pytest.mark.parametrize("score", ["lac", "aps"])
def test_every_class_is_covered_on_average_over_draws(score):
    """Given the calibration rows' class counts, a class's test rows are exchangeable with its
    calibration rows, so E[coverage of class k] >= 1 − α. The margin is three standard errors
    of the mean over the 200 draws, from the measured spread (the rarest class, about 25
    calibration and 25 test rows per draw, has a per-draw spread of about 0.07, so a standard
    error near 0.005); marginal sets fail the same check on the rare classes, so the check
    has power."""
    mondrian = _class_coverage_over_draws(True, score)
    marginal = _class_coverage_over_draws(False, score)
    for k in range(PRIORS.size):
        column = mondrian[:, k][~np.isnan(mondrian[:, k])]
        margin = 3 * column.std(ddof=1) / math.sqrt(column.size)
        assert column.mean() >= 1 - ALPHA - margin, (k, column.mean(), margin)
        # and not wildly above: at most 1 − α + 1/(n_k + 1) + margin, n_k ≈ 1000 · ½ · prior
        assert column.mean() <= 1 - ALPHA + 1 / (500 * PRIORS[k] + 1) + margin + 0.01
    rare = marginal[:, -1][~np.isnan(marginal[:, -1])]
    assert rare.mean() < 1 - ALPHA - 3 * rare.std(ddof=1) / math.sqrt(rare.size)


@pytest.mark.filterwarnings("ignore:WARNING. your conformalization dataset:UserWarning")
def test_each_threshold_equals_mapie_calibrated_on_that_class():
    """Mondrian sets are split conformal run once per class: MAPIE's LAC quantile on the
    calibration rows of class k equals our q̂_k, and the column k of its sets is ours."""
    from mapie.classification import SplitConformalClassifier
    from sklearn.base import BaseEstimator, ClassifierMixin

    class Fixed(ClassifierMixin, BaseEstimator):
        def __init__(self, probs=None):
            self.probs = probs

        def fit(self, X, y=None):
            self.classes_ = np.arange(self.probs.shape[1])
            return self

        def predict_proba(self, X):
            return self.probs[np.asarray(X)[:, 0].astype(int)]

        def predict(self, X):
            return self.predict_proba(X).argmax(axis=1)

    probs, labels = _draw(np.random.default_rng(5), 3000)
    ours = ConformalSplit(probs, labels, score="lac", seed=1).sets(ALPHA,
                                                                   class_conditional=True)
    rows = np.arange(len(probs), dtype=float)[:, None]
    for k in range(PRIORS.size):
        cal = ours.cal_indices[labels[ours.cal_indices] == k]
        model = SplitConformalClassifier(
            estimator=Fixed(probs).fit(rows, labels), confidence_level=1 - ALPHA,
            conformity_score="lac", prefit=True).conformalize(rows[cal], labels[cal])
        _, sets = model.predict_set(rows[ours.test_indices])
        qhat = float(np.ravel(model._mapie_classifier.conformity_score_function_.quantiles_)[0])
        assert ours.class_qhat[k] == pytest.approx(qhat, abs=1e-12)
        np.testing.assert_array_equal(ours.sets[:, k], sets[:, k, 0])


def test_hand_worked_thresholds_and_summary():
    # class 0: calibration LAC scores 0.1, 0.2, 0.3 (n = 3): k = ceil(4 · 0.5) = 2 -> 0.2;
    # class 1: one calibration row (n = 1): k = ceil(2 · 0.5) = 1 -> its score 0.4
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.4, 0.6],  # calibration
                      [0.85, 0.15], [0.3, 0.7]])
    labels = np.array([0, 0, 0, 1, 0, 1])
    split = ConformalSplit(probs, labels, cal_fraction=4 / 6, seed=0)
    result = split.sets(0.5, class_conditional=True)
    cal = set(result.cal_indices.tolist())
    expected = {}
    for k in (0, 1):
        scores = [1 - probs[i, k] for i in cal if labels[i] == k]
        expected[k] = conformal_quantile(np.array(scores), 0.5) if scores else math.inf
    np.testing.assert_allclose(result.class_qhat, [expected[0], expected[1]])
    doc = result.class_summary(("cat", "dog"))
    assert set(doc) == {"class_conditional", "coverage_per_class", "set_size_per_class",
                        "n_cal_per_class", "qhat_per_class"}
    assert sum(doc["n_cal_per_class"].values()) == 4
    assert split.sets(0.5).class_summary().keys() == {
        "class_conditional", "coverage_per_class", "set_size_per_class", "n_cal_per_class"}
    json.dumps(doc)


def test_a_class_without_calibration_rows_gets_every_set():
    probs = np.array([[0.9, 0.1, 0.0]] * 20)
    labels = np.zeros(20, dtype=int)
    result = ConformalSplit(probs, labels).sets(0.2, class_conditional=True)
    assert result.class_n_cal.tolist() == [10, 0, 0]
    assert math.isinf(result.class_qhat[1]) and result.sets[:, 1].all()
    assert result.class_summary()["qhat_per_class"]["1"] is None


def test_cli_class_conditional(tmp_path, capsys):
    from uqviz.__main__ import main

    probs, labels = _draw(np.random.default_rng(3), 600)
    path = tmp_path / "p.npz"
    np.savez(path, probs=probs, labels=labels, class_names=np.array(["a", "b", "c", "d"]))
    for flag in ([], ["--class-conditional"]):
        assert main(["conformal", str(path), "--json", *flag]) == 0
        row = json.loads(capsys.readouterr().out)["methods"]["default"]
        assert list(row["coverage_per_class"]) == ["a", "b", "c", "d"]
        assert list(row["set_size_per_class"]) == ["a", "b", "c", "d"]
        assert row["class_conditional"] is bool(flag)
        assert ("qhat_per_class" in row) is bool(flag)
    assert main(["conformal", str(path), "--class-conditional"]) == 0
    text = capsys.readouterr().out
    assert "class-conditional qhat" in text and "class d: coverage" in text
