"""OOD scores from logits and features (uqviz.metrics.ood_scores) against pytorch-ood 0.4.0 on
the same logits and features, hand-worked cases, and the rule that fitted parts see fit rows
only."""

from __future__ import annotations

import numpy as np
import pytest

from uqviz.metrics.ood_scores import (
    LOGIT_FEATURE_SCORES,
    energy_score,
    fit_knn,
    fit_mahalanobis,
    fit_ood_scores,
    fit_vim,
    gen_score,
    max_logit_score,
    ood_score_summary,
    vim_dimension,
)
from uqviz.numerics import softmax
from uqviz.predictions import FIT_GROUP, Predictions

torch = pytest.importorskip("torch")
detector = pytest.importorskip("pytorch_ood.detector")


def _data(seed: int = 0, c: int = 4, d: int = 16, n_fit: int = 400):
    """Gaussian classes in feature space, a linear head, in-distribution and far rows."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 3, (c, d))
    y = rng.integers(0, c, n_fit)
    fit = means[y] + rng.normal(0, 1, (n_fit, d))
    weight, bias = rng.normal(0, 0.3, (c, d)), rng.normal(0, 0.5, c)
    near = means[rng.integers(0, c, 60)] + rng.normal(0, 1, (60, d))
    far = rng.normal(0, 4, (60, d))
    query = np.vstack([near, far])
    return fit, y, weight, bias, query


def _t(x):
    return torch.tensor(np.asarray(x))


def test_logit_scores_match_pytorch_ood():
    fit, _, weight, bias, query = _data()
    logits = query @ weight.T + bias
    np.testing.assert_allclose(max_logit_score(logits),
                               detector.MaxLogit.score(_t(logits)).numpy(), rtol=1e-12)
    for t in (1.0, 2.5):
        np.testing.assert_allclose(energy_score(logits, temperature=t),
                                   detector.EnergyBased.score(_t(logits), t=t).numpy(),
                                   rtol=1e-12)
    # pytorch-ood averages the M terms, the paper (and we) sum them; it clamps p to
    # [1e-7, 1 - 1e-7], so the logits are scaled to keep every p inside
    soft = 0.3 * logits
    for gamma, m in ((0.1, 3), (0.5, 4)):
        np.testing.assert_allclose(gen_score(soft, gamma=gamma, top_m=m),
                                   m * detector.GEN.score(_t(soft), gamma=gamma, M=m).numpy(),
                                   rtol=1e-10)


def test_knn_matches_pytorch_ood():
    fit, y, _, _, query = _data(1)
    ours = fit_knn(fit, k=7).score(query)
    ref = detector.KNN(None, k=7).fit_features(_t(fit).float(), _t(y)).predict_features(
        _t(query).float()).numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_mahalanobis_and_relative_match_pytorch_ood():
    # pytorch-ood: half the squared distance, covariance = the scatter sum (not / n) + 1e-6 I
    fit, y, _, _, query = _data(2)
    n = fit.shape[0]
    ref = detector.Mahalanobis(None).fit_features(_t(fit).float(), _t(y)).predict_features(
        _t(query).float()).numpy()
    np.testing.assert_allclose(fit_mahalanobis(fit, y).score(query), 2 * n * ref, rtol=1e-4)
    rmd = detector.RMD(None)
    rmd.fit_features(_t(fit).float(), _t(y))
    ref = rmd.predict_features(_t(query).float()).numpy()
    ours = fit_mahalanobis(fit, y, relative=True).score(query)
    np.testing.assert_allclose(ours / n, ref, atol=1e-4 * np.abs(ref).max())


@pytest.mark.parametrize("given_head", [True, False])
def test_vim_matches_pytorch_ood(given_head):
    """With W, b given, or fitted by least squares from features to logits (exact for a
    linear head)."""
    fit, y, weight, bias, query = _data(3)
    fit_logits, query_logits = fit @ weight.T + bias, query @ weight.T + bias
    head = {"weight": weight, "bias": bias} if given_head else {}
    vim = fit_vim(fit, fit_logits, dim=8, **head)
    assert vim.head == ("given" if given_head else "least_squares")
    ref_detector = detector.ViM(None, d=8, w=_t(weight), b=_t(bias))
    ref_detector.fit_features(_t(fit).float(), _t(y))
    ref = ref_detector.predict_features(_t(query).float()).numpy()
    assert vim.alpha == pytest.approx(ref_detector.alpha, rel=1e-4)
    scale = np.abs(ref).max()
    np.testing.assert_allclose(vim.score(query, query_logits), ref, atol=1e-4 * scale)
    np.testing.assert_allclose(vim.score(query), ref, atol=1e-4 * scale)


def test_hand_worked_cases():
    logits = np.array([[0.0, 0.0], [3.0, 1.0]])
    np.testing.assert_allclose(max_logit_score(logits), [0.0, -3.0])
    np.testing.assert_allclose(energy_score(logits), [-np.log(2), -np.log(np.exp(3) + np.e)])
    # p = (1/2, 1/2), γ = 1: 2 · ¼; logits (S = 2) average the per-sample scores
    assert gen_score(np.zeros((1, 2)), gamma=1.0)[0] == pytest.approx(0.5)
    stacked = np.stack([logits, logits + 1.0])
    np.testing.assert_allclose(max_logit_score(stacked), [-0.5, -3.5])
    p = softmax(logits)[1]
    assert gen_score(logits, gamma=1.0)[1] == pytest.approx(2 * p[0] * p[1])
    # KNN: bank e1, e2, -e1; query e1 -> distances 0, √2, 2
    bank = np.array([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]])
    for k, distance in ((1, 0.0), (2, np.sqrt(2)), (3, 2.0)):
        assert fit_knn(bank, k=k).score(np.array([[5.0, 0.0]]))[0] == pytest.approx(distance,
                                                                                     abs=1e-6)
    # Mahalanobis: classes at ±1 with within-class variance 1 in one dimension
    features = np.array([[-2.0], [0.0], [0.0], [2.0]])
    labels = np.array([0, 0, 1, 1])
    fit = fit_mahalanobis(features, labels, ridge_share=0.0)
    np.testing.assert_allclose(fit.score(np.array([[1.0], [4.0]])), [0.0, 9.0], atol=1e-6)
    # relative: the background (mean 0, variance 2) distance is subtracted: 9 − 16/2 = 1
    relative = fit_mahalanobis(features, labels, relative=True, ridge_share=0.0)
    np.testing.assert_allclose(relative.score(np.array([[4.0]])), [1.0], atol=1e-6)


def test_vim_dimension_rule():
    assert [vim_dimension(d) for d in (2048, 1500, 768, 512, 64, 1)] == [1000, 1000, 512, 256,
                                                                         32, 1]


def test_bad_input_is_one_clear_error():
    with pytest.raises(ValueError, match="k must be an integer in 1..3"):
        fit_knn(np.ones((3, 2)), k=5)
    with pytest.raises(ValueError, match="top_m must be in 1..2"):
        gen_score(np.zeros((4, 2)), top_m=3)
    with pytest.raises(ValueError, match="logits contain NaN"):
        energy_score(np.array([[np.nan, 0.0]]))
    with pytest.raises(ValueError, match="fit labels must be known classes"):
        fit_mahalanobis(np.ones((3, 2)), np.array([0, -1, 1]))
    with pytest.raises(ValueError, match="dim must be an integer in 1..3"):
        fit_vim(np.ones((5, 4)), np.ones((5, 2)), dim=4)


def _predictions(seed: int = 0) -> Predictions:
    fit, y, weight, bias, query = _data(seed)
    features = np.vstack([fit, query])
    logits = features @ weight.T + bias
    n_fit, n_q = fit.shape[0], query.shape[0]
    labels = np.concatenate([y, np.zeros(n_q // 2, dtype=int), -np.ones(n_q // 2, dtype=int)])
    group = np.array([FIT_GROUP] * n_fit + ["test"] * (n_q // 2) + ["ood:far"] * (n_q // 2))
    return Predictions(softmax(logits), labels, group, features=features, logits=logits)


def test_fitted_parts_see_fit_rows_only():
    p = _predictions()
    fitted = fit_ood_scores(p)
    assert fitted.available == list(LOGIT_FEATURE_SCORES)
    assert fitted.n_fit == int(p.is_fit.sum())
    # changing every test and OOD row leaves the fitted parts as they are
    rng = np.random.default_rng(9)
    shifted_features = np.where(p.is_fit[:, None], p.features,
                                rng.normal(0, 10, p.features.shape))
    q = Predictions(p.probs, p.labels, p.group, features=shifted_features, logits=p.logits)
    again = fit_ood_scores(q)
    for key in ("knn", "vim", "mahalanobis", "relative_mahalanobis"):
        assert again.settings[key] == fitted.settings[key]
    np.testing.assert_array_equal(again.fits["knn"].bank, fitted.fits["knn"].bank)
    np.testing.assert_array_equal(again.fits["mahalanobis"].means, fitted.fits["mahalanobis"].means)
    # the fit rows are never scored
    assert p.labelled_in_distribution().n == 60
    assert not p.labelled_in_distribution().is_fit.any()


def test_summary_separates_far_rows_and_reports_settings():
    summary = ood_score_summary(_predictions(), n_resamples=50)
    assert set(summary["scores"]) == set(LOGIT_FEATURE_SCORES)
    assert summary["unavailable"] == {}
    assert summary["scores"]["knn"]["settings"]["k"] == 1  # 0.1% of 400 fit rows, at least 1
    assert summary["scores"]["gen"]["settings"] == {"gamma": 0.1, "top_m": 4}
    assert summary["scores"]["vim"]["settings"]["dim"] == 8
    for key in ("knn", "mahalanobis", "relative_mahalanobis", "vim"):
        entry = summary["scores"][key]
        assert entry["auroc"] > 0.8, key  # far rows (σ = 4 around 0) against tight classes
        assert entry["auroc_ci"][0] <= entry["auroc"] <= entry["auroc_ci"][1]
        assert entry["n_in"] == 60 and entry["n_out"] == 60


def test_without_features_or_fit_rows_says_why():
    p = _predictions()
    logits_only = Predictions(p.probs, p.labels, p.group, logits=p.logits)
    fitted = fit_ood_scores(logits_only)
    assert fitted.available == ["max_logit", "energy", "gen"]
    assert "needs features" in fitted.unavailable["knn"]
    no_fit = Predictions(p.probs, p.labels, np.where(p.is_fit, "test", p.group),
                         features=p.features, logits=p.logits)
    fitted = fit_ood_scores(no_fit)
    assert "group 'fit'" in fitted.unavailable["mahalanobis"]
    assert "max_logit" in fitted.available
    probs_only = Predictions(p.probs, p.labels, p.group)
    assert fit_ood_scores(probs_only).available == []


def test_predictions_carry_logits():
    p = _predictions()
    assert p.logits.shape == (1, p.n, p.num_classes) and p.logits.dtype == np.float32
    part = p.select(np.arange(5))
    np.testing.assert_array_equal(part.logits, p.logits[:, :5])
    assert p.with_method("x").logits is p.logits
    with pytest.raises(ValueError, match="logits must be"):
        Predictions(p.probs, p.labels, p.group, logits=p.logits[:, :3])


def test_cli_metrics_prints_every_score_with_its_settings(tmp_path, capsys):
    from uqviz.__main__ import main

    p = _predictions(4)
    path = tmp_path / "lf.npz"
    np.savez(path, logits=p.logits[0], features=p.features, labels=p.labels,
             group=p.group.astype(str))
    assert main(["metrics", str(path), "--json"]) == 0
    import json

    doc = json.loads(capsys.readouterr().out)["methods"]["default"]
    scores = doc["ood_scores"]["scores"]
    assert list(scores) == list(LOGIT_FEATURE_SCORES)
    assert scores["knn"]["settings"] == {"k": 1, "bank_rows": 400, "normalised": True}
    assert doc["n"] == 60  # fit rows are not scored
    assert main(["metrics", str(path)]) == 0
    text = capsys.readouterr().out
    assert "OOD by relative_mahalanobis (classes=4" in text and "OOD by gen (gamma=0.1" in text


def test_knn_k_is_a_thousandth_of_the_bank():
    from uqviz.metrics.ood_scores import default_knn_k

    assert [default_knn_k(n) for n in (1, 450, 1499, 1500, 50_000, 1_281_167)] == [
        1, 1, 1, 2, 50, 1281]
