"""The out-of-distribution page under AppTest, on digits predictions cached by a fixture."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.app_fixtures import framed_page, offer_predictions_file, pretrain_digits
from uqviz.ui.files import env_dataset_name

TIMEOUT = 180
PAGE = "../pages/ood.py"
N_METHODS = 5  # every registered method, the sidebar's default
IMAGE_ELEMENTS = 2 + 2 * N_METHODS  # OOD most/least uncertain, then two galleries per method
LOGIT_FEATURE_LABELS = ["−max logit", "Energy", "GEN", "KNN distance", "ViM", "Mahalanobis",
                        "Relative Mahalanobis"]


@pytest.fixture(scope="module", autouse=True)
def trained():
    pretrain_digits()


def _page(**state) -> AppTest:
    return framed_page(PAGE.removeprefix("../"), TIMEOUT, **state)


def _table(at: AppTest):
    (frame,) = [d for d in at.dataframe]
    return frame.value


def _captions(at: AppTest) -> list[list[str]]:
    return [[img.caption for img in image.proto.imgs] for image in at.get("image")]


def _row(table, method_label: str, score_label: str):
    hit = table[(table["Method"] == method_label) & (table["Score"] == score_label)]
    assert len(hit) == 1, (method_label, score_label, table)
    return hit.iloc[0]


def test_page_runs_with_histograms_table_and_galleries():
    at = _page()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("plotly_chart")) == N_METHODS  # entropy: one histogram per method
    table = _table(at)
    # max_prob and entropy for all five, mutual information for the three sampling methods,
    # and the seven logit and feature scores for all five
    assert len(table) == 2 * N_METHODS + 3 + 7 * N_METHODS
    assert sum(cell.endswith("★") for cell in table["95% CI"]) == 1
    best = table.iloc[int(np.flatnonzero(table["95% CI"].str.endswith("★"))[0])]
    assert best["AUROC"] == table["AUROC"].max()
    galleries = _captions(at)
    assert len(galleries) == IMAGE_ELEMENTS
    assert all(0 < len(g) <= 8 for g in galleries)
    assert len(galleries[0]) == len(galleries[1]) == 8


def test_table_matches_the_core_metric_and_bootstrap():
    from uqviz.metrics.bootstrap import bootstrap_ood_auroc_ci
    from uqviz.metrics.ood import ood_detection
    from uqviz.metrics.scores import uncertainty
    from uqviz.ui.backend import study
    from uqviz.ui.tables import significant

    at = _page(ood_set="ood:natural_patches")
    assert not at.exception, at.exception
    p = study("digits", "mc_dropout").predictions
    clean = p.select(p.group == "test")
    out = p.select(p.group == "ood:natural_patches")
    u_in, u_out = uncertainty(clean.probs, "entropy"), uncertainty(out.probs, "entropy")
    core = ood_detection(u_in, u_out)
    row = _row(_table(at), "MC dropout", "Predictive entropy")
    lower, upper = bootstrap_ood_auroc_ci(u_in, u_out, n_resamples=1000, seed=0)
    assert row["AUROC"] == pytest.approx(core.auroc, abs=1e-12)
    assert row["95% CI"].removesuffix(" ★") == f"[{significant(lower)}, {significant(upper)}]"
    assert row["AUPR-in"] == pytest.approx(core.aupr_in, abs=1e-12)
    assert row["AUPR-out"] == pytest.approx(core.aupr_out, abs=1e-12)
    assert row["FPR95"] == pytest.approx(core.fpr95, abs=1e-12)
    # the reference AUROC, independently of the core
    from sklearn.metrics import roc_auc_score

    y = np.r_[np.ones(u_in.size), np.zeros(u_out.size)]
    assert core.auroc == pytest.approx(roc_auc_score(y, -np.r_[u_in, u_out]), abs=1e-12)


def test_changing_the_ood_set_and_score():
    at = _page()
    first = _table(at)
    assert at.selectbox(key="ood_set").value == "ood:uniform_noise"
    at.selectbox(key="ood_set").set_value("ood:gaussian_noise").run()
    assert not at.exception, at.exception
    second = _table(at)
    assert list(second["AUROC"]) != list(first["AUROC"])
    assert any("N(0.5, 0.25²)" in c.value for c in at.caption)
    at.selectbox(key="ood_score").set_value("mutual_information").run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 3  # softmax and temperature have one sample
    assert len(_captions(at)) == IMAGE_ELEMENTS


def test_deep_ensemble_detects_gaussian_noise_by_mutual_information():
    at = _page(ood_set="ood:gaussian_noise")
    row = _row(_table(at), "Deep ensemble", "Mutual information (epistemic)")
    assert row["AUROC"] >= 0.9


def test_ood_gallery_is_sorted_and_labelled():
    from uqviz.metrics.scores import uncertainty
    from uqviz.ui.backend import study

    at = _page(ood_set="ood:natural_patches", ood_image_method="deep_ensemble")
    assert not at.exception, at.exception
    most, least = _captions(at)[:2]
    p = study("digits", "deep_ensemble").predictions
    out = p.select(p.group == "ood:natural_patches")
    u = np.sort(uncertainty(out.probs, "entropy"))
    assert [float(c.rsplit("u=", 1)[1]) for c in most] == pytest.approx(u[::-1][:8], abs=1e-3)
    assert [float(c.rsplit("u=", 1)[1]) for c in least] == pytest.approx(u[:8], abs=1e-3)


def test_confidently_wrong_are_wrong_and_least_uncertain():
    from uqviz.metrics.scores import uncertainty
    from uqviz.ui.backend import study

    at = _page()
    galleries = _captions(at)
    wrong_softmax = galleries[3]  # OOD most, OOD least, softmax most uncertain, softmax wrong
    assert all("✗" in c for c in wrong_softmax)
    rows = study("digits", "softmax").rows
    u = uncertainty(rows.probs, "entropy")
    expected = np.sort(u[rows.predicted != rows.labels])[:len(wrong_softmax)]
    assert [float(c.rsplit("u=", 1)[1]) for c in wrong_softmax] == pytest.approx(expected,
                                                                                  abs=1e-3)


def test_predictions_file_shows_table_and_no_images(monkeypatch, tmp_path):
    from uqviz.exchange import write_predictions
    from uqviz.metrics.ood import ood_detection
    from uqviz.metrics.scores import uncertainty
    from uqviz.predictions import Predictions
    from uqviz.ui.tables import significant

    rng = np.random.default_rng(0)
    n_in, n_out, c = 300, 60, 4
    labels = np.r_[rng.integers(0, c, n_in), np.full(n_out, -1)]
    logits = rng.normal(size=(n_in + n_out, c))
    logits[:n_in] += 3.0 * np.eye(c)[labels[:n_in]]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    group = np.array(["test"] * n_in + ["ood:x"] * n_out, dtype=object)
    path = tmp_path / "mine.csv"
    write_predictions({"my_model": Predictions(probs[None], labels, group=group)}, path)
    monkeypatch.setenv("UQVIZ_PREDICTIONS", str(path))
    at = _page(dataset=env_dataset_name(path))
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert not at.get("image")
    assert any("holds predictions only" in i.value for i in at.info)
    assert len(at.get("plotly_chart")) == 1
    table = _table(at)
    assert list(table["Score"]) == ["1 − max probability", "Predictive entropy"]
    core = ood_detection(uncertainty(probs[:n_in].astype(np.float32), "max_prob"),
                         uncertainty(probs[n_in:].astype(np.float32), "max_prob"))
    assert table["AUROC"][0] == pytest.approx(core.auroc, abs=1e-6)
    assert significant(core.auroc)
    note = " ".join(c.value for c in at.caption if "Not available here" in c.value)
    assert "needs logits" in note and "needs features" in note and "'fit'" in note


def test_predictions_file_without_ood_rows_says_so(monkeypatch, tmp_path):
    at = _page(dataset=offer_predictions_file(monkeypatch, tmp_path / "plain.csv"))
    assert not at.exception, at.exception
    assert any("no out-of-distribution rows (is_ood=1" in i.value for i in at.info)
    assert not at.dataframe and not at.get("plotly_chart")


# -- the logit and feature scores (issue 24) ---------------------------------------------------
def test_the_new_scores_equal_the_core_summary_for_every_method():
    """Every method lists the seven logit and feature scores with finite AUROCs, equal to the
    study's and to the core's ``ood_score_summary`` on the method's whole predictions (fit
    rows included: it fits on them and scores the rest)."""
    from uqviz.methods import METHOD_IDS
    from uqviz.metrics.ood_scores import LOGIT_FEATURE_SCORES, ood_score_summary
    from uqviz.sources import TrainedSource
    from uqviz.ui.backend import study
    from uqviz.ui.state import method_label
    from uqviz.ui.tables import significant

    group = "ood:gaussian_noise"
    at = _page(ood_set=group)
    assert not at.exception, at.exception
    table = _table(at)
    note = " ".join(c.value for c in at.caption)
    assert "450 fit rows (labelled validation images" in note and "Not available" not in note
    everything = TrainedSource("digits").predictions(list(METHOD_IDS))
    for method in METHOD_IDS:
        core = ood_score_summary(everything[method])["scores"]
        s = study("digits", method)
        for key, score_label in zip(LOGIT_FEATURE_SCORES, LOGIT_FEATURE_LABELS, strict=True):
            row = _row(table, method_label(method), score_label)
            entry = core[key]["groups"][group]
            assert np.isfinite(row["AUROC"]) and 0 <= row["AUROC"] <= 1
            assert row["AUROC"] == pytest.approx(entry["auroc"], abs=1e-12), (method, key)
            assert row["AUROC"] == pytest.approx(s.ood_detection(group, key).auroc, abs=1e-12)
            assert row["FPR95"] == pytest.approx(entry["fpr95"], abs=1e-12)
            low, high = entry["auroc_ci"]
            assert row["95% CI"].removesuffix(" ★") == f"[{significant(low)}, {significant(high)}]"
            assert row["Needs"] == LOGIT_FEATURE_SCORES[key].needs


def test_a_logit_score_draws_its_histograms_and_gallery():
    from uqviz.ui.backend import study

    at = _page(ood_set="ood:natural_patches", ood_score="energy", ood_image_method="softmax")
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == N_METHODS
    figure = at.get("plotly_chart")[0].proto.spec
    assert '"Energy"' in figure
    most = _captions(at)[0]
    energy = study("digits", "softmax").score_values("ood:natural_patches", "energy")
    assert [float(c.rsplit("u=", 1)[1]) for c in most] == pytest.approx(
        np.sort(energy)[::-1][:8], abs=1e-3)


@pytest.fixture(scope="module")
def offered_models(tmp_path_factory):
    """Two copies of a tiny TorchScript net offered through UQVIZ_MODELS: one whose model.json
    names a features output, one without (named apart: the sidebar lists them by name)."""
    from tests.user_model_fixtures import (
        export_torchscript,
        train_tiny_net,
        write_config,
        write_folder,
    )
    from uqviz.user_model import ModelSource

    root = tmp_path_factory.mktemp("ood_models")
    net = train_tiny_net()
    for name, features in (("with", 1), ("without", None)):
        (root / name).mkdir()
        export_torchscript(net, root / name / f"{name}.pt")
        write_config(root / name, features_output=features)
    write_folder(root / "data" / "images", {"red": 12, "green": 12, "blue": 12})
    mp = pytest.MonkeyPatch()
    mp.setenv("UQVIZ_DATA_ROOTS", str(root / "data"))
    mp.setenv("UQVIZ_MODELS", ":".join(f"{root / n / f'{n}.pt'}=images"
                                       for n in ("with", "without")))
    keys = {n: ModelSource.create([root / n / f"{n}.pt"], root / "data" / "images").key
            for n in ("with", "without")}
    yield keys
    mp.undo()


@pytest.mark.parametrize("features", ["with", "without"])
def test_a_users_model_shows_the_scores_it_has(offered_models, features):
    key = offered_models[features]
    at = _page(dataset=key, **{f"methods:{key}": ["softmax", "tta"]})
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.session_state["dataset"] == key
    table = _table(at)
    scores = set(table["Score"])
    assert {"−max logit", "Energy", "GEN"} <= scores
    assert np.isfinite(table["AUROC"]).all()
    note = " ".join(c.value for c in at.caption)
    if features == "with":
        assert set(LOGIT_FEATURE_LABELS) <= scores
        assert "your labelled calibration images" in note and "Not available" not in note
    else:
        assert not {"KNN distance", "ViM", "Mahalanobis"} & scores
        assert "Not available here" in note and "features_output" in note
