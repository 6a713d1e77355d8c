"""Logits, features and fit rows through the runs, the stream, the study and a user's model
(issue 24): fit rows only fit (never scored, never in a stream), the stream keeps the logits,
and the study's OOD scores are the core's (``uqviz.metrics.ood_scores``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from uqviz.metrics.ood_scores import LOGIT_FEATURE_SCORES, fit_ood_scores, ood_score_summary
from uqviz.numerics import softmax
from uqviz.predictions import FIT_GROUP, Predictions
from uqviz.stream import StreamMix, stream_predictions, stream_rows
from uqviz.study import Comparison, Study, set_fit_rows_aside

C, D = 4, 6
SHIFT = StreamMix(shift="blur:3", shift_share=0.3, ood="ood:far", ood_share=0.2, seed=3)


def synthetic(rng: np.random.Generator, *, n_test: int = 200, n_fit: int = 120,
              n_ood: int = 80, samples: int = 1, fit_last: bool = True) -> Predictions:
    """Features around class means, logits a linear map of them (+ noise per sample); a
    corrupted copy of the test rows (``blur:3``), far-away OOD rows and fit rows."""
    means = rng.normal(0.0, 3.0, (C, D))
    weight = rng.normal(size=(C, D))

    def block(labels, far=False):
        centre = rng.normal(8.0, 1.0, (len(labels), D)) if far else means[labels]
        return centre + rng.normal(size=(len(labels), D))

    y_test, y_fit = rng.integers(0, C, n_test), rng.integers(0, C, n_fit)
    parts = [("test", y_test, block(y_test)), ("blur:3", y_test, block(y_test) * 0.5),
             ("ood:far", np.full(n_ood, -1), block(np.full(n_ood, -1), far=True))]
    fit = (FIT_GROUP, y_fit, block(y_fit))
    parts = [*parts, fit] if fit_last else [parts[0], fit, *parts[1:]]
    labels = np.concatenate([p[1] for p in parts])
    features = np.concatenate([p[2] for p in parts]).astype(np.float32)
    group = np.concatenate([np.full(len(p[1]), p[0], dtype=object) for p in parts])
    logits = (features @ weight.T)[None] + rng.normal(0, 0.3, (samples, len(labels), C))
    logits = logits.astype(np.float32)
    return Predictions(softmax(logits, dtype=np.float32), labels, group, features=features,
                       logits=logits, method="m")


@pytest.fixture
def p(rng) -> Predictions:
    return synthetic(rng, samples=3)


# -- fit rows set aside ------------------------------------------------------------------------
def test_fit_rows_are_set_aside_without_copying_when_last(p):
    rest, fit = set_fit_rows_aside(p)
    assert FIT_GROUP not in rest.groups and fit.n == 120 and (fit.group == FIT_GROUP).all()
    assert rest.n == p.n - 120
    for name in ("probs", "logits", "features"):  # a trailing block: slices of p's arrays
        assert np.shares_memory(getattr(rest, name), getattr(p, name)), name
    np.testing.assert_array_equal(rest.logits, p.logits[:, ~p.is_fit])
    np.testing.assert_array_equal(fit.features, p.features[p.is_fit])


def test_fit_rows_anywhere_are_set_aside(rng):
    p = synthetic(rng, fit_last=False)
    rest, fit = set_fit_rows_aside(p)
    assert FIT_GROUP not in rest.groups and fit.n == 120
    np.testing.assert_array_equal(rest.probs, p.probs[:, ~p.is_fit])
    same, none = set_fit_rows_aside(rest)
    assert same is rest and none is None


@pytest.mark.parametrize("mix", [StreamMix(), SHIFT], ids=["clean", "mixed"])
def test_fit_rows_never_reach_the_scored_rows_or_the_stream(p, mix):
    study = Study(p, mix)
    assert FIT_GROUP not in study.predictions.groups
    assert study.fit_predictions.n == 120
    for rows in (study.all_rows, study.stream_rows, study.scored, study.table_rows):
        assert not rows.predictions.is_fit.any()
    assert not np.isin(study.stream_index, np.flatnonzero(p.is_fit)).any()
    assert study.n == (200 if mix.is_clean else study.scored.n)
    # the stream module on its own leaves fit rows out too
    assert not p.is_fit[stream_rows(p, mix).rows].any()
    # the summary scores the same rows with and without fit rows in the file
    assert study.summary() == Study(p.select(~p.is_fit), mix).summary()


def test_the_stream_keeps_logits_and_features(p):
    rows, stream = stream_predictions(p, SHIFT)
    assert rows.logits is not None and rows.logits.shape == (3, stream.rows.size, C)
    np.testing.assert_array_equal(rows.logits, p.logits[:, stream.rows])
    np.testing.assert_array_equal(rows.features, p.features[stream.rows])
    study = Study(p, SHIFT)
    assert study.stream.logits is not None
    energy = study.score_values(None, "energy")  # scored on the stream's labelled rows
    assert energy.shape == (study.n,)


# -- the study's OOD scores are the core's ----------------------------------------------------
def test_study_scores_equal_the_core_summary(p):
    study = Study(p)
    core = ood_score_summary(p, n_resamples=1000, seed=0)
    assert study.ood_scores.n_fit == core["n_fit"] == 120
    assert study.ood_scores.available == list(LOGIT_FEATURE_SCORES) == list(core["scores"])
    for key, entry in core["scores"].items():
        got = study.ood_detection("ood:far", key)
        assert got.auroc == pytest.approx(entry["auroc"], abs=1e-12), key
        assert got.aupr_in == pytest.approx(entry["aupr_in"], abs=1e-12)
        assert got.aupr_out == pytest.approx(entry["aupr_out"], abs=1e-12)
        assert got.fpr95 == pytest.approx(entry["fpr95"], abs=1e-12)
        assert study.ood_auroc_ci("ood:far", key) == pytest.approx(entry["auroc_ci"], abs=1e-12)
        fitted = fit_ood_scores(p)  # fitted on the fit rows of the whole file: the same values
        np.testing.assert_allclose(study.score_values("ood:far", key),
                                   fitted.score(key, p.in_group("ood:far")), rtol=1e-6)
    # far-away features give large logits: confident, low entropy (why feature scores matter)
    assert study.ood_detection("ood:far", "entropy").auroc < 0.5 < study.ood_detection(
        "ood:far", "mahalanobis").auroc


def test_fitted_parts_depend_on_the_fit_rows_only(p, rng):
    study = Study(p)
    moved = p.features.copy()
    moved[~p.is_fit] += rng.normal(0, 5.0, moved[~p.is_fit].shape).astype(np.float32)
    other = Study(Predictions(p.probs, p.labels, p.group, features=moved, logits=p.logits))
    for key in ("knn", "vim", "mahalanobis"):
        assert other.ood_scores.settings[key] == study.ood_scores.settings[key]
    np.testing.assert_array_equal(other.ood_scores.fits["knn"].bank,
                                  study.ood_scores.fits["knn"].bank)


def test_the_table_lists_every_score_for_every_method(p, rng):
    single = synthetic(rng, samples=1)
    comp = Comparison({"three": Study(p.with_method("three")),
                       "one": Study(single.with_method("one"))})
    rows, best = comp.ood_table("ood:far")
    keys = {(r.method, r.score) for r in rows}
    assert {("three", k) for k in LOGIT_FEATURE_SCORES} <= keys
    assert ("three", "mutual_information") in keys and ("one", "mutual_information") not in keys
    assert len(rows) == (3 + 7) + (2 + 7) and 0 <= best < len(rows)
    assert all(np.isfinite(r.result.auroc) for r in rows)


def test_unknown_and_unavailable_scores_say_why(rng):
    p = synthetic(rng)
    study = Study(Predictions(p.probs, p.labels, p.group, logits=p.logits))  # no features
    assert study.ood_scores.available == ["max_logit", "energy", "gen"]
    assert "needs features" in study.ood_scores.unavailable["knn"]
    with pytest.raises(ValueError, match="score 'knn' is not available: needs features"):
        study.score_values("ood:far", "knn")
    with pytest.raises(ValueError, match="unknown OOD score 'nope'; valid: max_prob"):
        study.score_values(None, "nope")
    no_fit = Study(p.select(~p.is_fit))
    assert "group 'fit'" in no_fit.ood_scores.unavailable["mahalanobis"]
    assert no_fit.ood_score_keys()[-3:] == ["max_logit", "energy", "gen"]


# -- the runs' fit rows -----------------------------------------------------------------------
def _splits(n_val: int):
    from uqviz.data.base import DataSplits

    x = torch.arange(n_val, dtype=torch.float32).view(n_val, 1, 1, 1)
    y = torch.arange(n_val) % 3
    return DataSplits(x[:2], y[:2], x, y, x[:2], y[:2])


def test_fit_input_is_a_seeded_subset_of_the_validation_rows():
    from uqviz.runs import EvalPlan, fit_input

    block = fit_input(_splits(50), EvalPlan(fit_rows=20, seed=4))
    again = fit_input(_splits(50), EvalPlan(fit_rows=20, seed=4))
    rows = block.images.view(-1).long().numpy()
    assert block.group == FIT_GROUP and len(rows) == 20 and np.all(np.diff(rows) > 0)
    np.testing.assert_array_equal(block.labels, rows % 3)
    assert torch.equal(block.images, again.images)
    assert not torch.equal(fit_input(_splits(50), EvalPlan(fit_rows=20, seed=5)).images,
                           block.images)
    assert len(fit_input(_splits(10), EvalPlan(fit_rows=20)).labels) == 10  # all of them
    assert fit_input(_splits(10), EvalPlan(fit_rows=0)) is None
    with pytest.raises(ValueError, match="fit_rows must be >= 0, got -1"):
        fit_input(_splits(10), EvalPlan(fit_rows=-1))


def test_runs_write_and_read_logits():
    from uqviz.runs import _from_arrays, _to_arrays

    p = synthetic(np.random.default_rng(1), samples=2)
    back = _from_arrays(_to_arrays(p), "m", ("a", "b", "c", "d"))
    np.testing.assert_array_equal(back.logits, p.logits)
    np.testing.assert_array_equal(back.features, p.features)
    assert back.fit_rows().n == 120


# -- a user's model -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def user_workdir(tmp_path_factory):
    from tests.user_model_fixtures import export_torchscript, train_tiny_net, write_folder

    root = tmp_path_factory.mktemp("user_ood")
    export_torchscript(train_tiny_net(), root / "net.pt")
    write_folder(root / "images", {"red": 12, "green": 12, "blue": 12})
    return root


@pytest.mark.parametrize("features", [True, False], ids=["features", "no-features"])
def test_a_users_model_gives_logits_and_fit_rows(user_workdir, tmp_path, features):
    import shutil

    from tests.user_model_fixtures import write_config
    from uqviz.runs import EvalPlan
    from uqviz.user_model import MethodSettings, ModelSource

    shutil.copy(user_workdir / "net.pt", tmp_path / "net.pt")
    write_config(tmp_path, **({} if features else {"features_output": None}))
    plan = EvalPlan(corruptions=(), ood_sets=("uniform_noise",), ood_size=20)
    src = ModelSource.create([tmp_path / "net.pt"], user_workdir / "images", plan=plan,
                             settings=MethodSettings(mc_samples=3))
    run = src.run(["softmax", "temperature", "mc_dropout"])
    soft, temp, mc = (run.predictions[m] for m in ("softmax", "temperature", "mc_dropout"))
    for q in (soft, temp, mc):  # logits always; the probabilities are their softmax
        assert q.logits is not None and q.logits.shape == q.probs.shape
        np.testing.assert_allclose(softmax(q.logits, dtype=np.float32), q.probs, atol=1e-6)
    np.testing.assert_allclose(temp.logits, soft.logits / run.temperature, rtol=1e-5)
    n_cal = src.sizes["calibration"]
    assert n_cal >= 9
    if features:  # the calibration part, predicted by every method, as fit rows (last)
        for q in (soft, mc):
            assert q.fit_rows().n == n_cal and q.groups[-1] == FIT_GROUP
            assert all(str(i).startswith("fit/") for i in q.ids[q.is_fit])
        study = Study(mc)
        assert study.ood_scores.available == list(LOGIT_FEATURE_SCORES)
        assert study.ood_scores.n_fit == n_cal and FIT_GROUP not in study.predictions.groups
    else:  # no features: no fit rows, the logit scores only
        assert not soft.is_fit.any()
        study = Study(soft)
        assert study.ood_scores.available == ["max_logit", "energy", "gen"]
        assert "needs features" in study.ood_scores.unavailable["knn"]
    rows, _ = Comparison({study.method: study}).ood_table("ood:uniform_noise")
    assert {r.score for r in rows} >= {"max_logit", "energy", "gen"}
    assert all(np.isfinite(r.result.auroc) for r in rows)
