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
    # max_prob and entropy for all five, mutual information for the three sampling methods
    assert len(table) == 2 * N_METHODS + 3
    assert sum(cell.endswith("★") for cell in table["AUROC [95% CI]"]) == 1
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
    assert row["AUROC [95% CI]"].removesuffix(" ★") == (
        f"{significant(core.auroc)} [{significant(lower)}, {significant(upper)}]")
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
    assert list(second["AUROC [95% CI]"]) != list(first["AUROC [95% CI]"])
    assert any("N(0.5, 0.25²)" in c.value for c in at.caption)
    at.selectbox(key="ood_score").set_value("mutual_information").run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 3  # softmax and temperature have one sample
    assert len(_captions(at)) == IMAGE_ELEMENTS


def test_deep_ensemble_detects_gaussian_noise_by_mutual_information():
    at = _page(ood_set="ood:gaussian_noise")
    row = _row(_table(at), "Deep ensemble", "Mutual information (epistemic)")
    assert float(row["AUROC [95% CI]"].split()[0]) >= 0.9


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
    assert table["AUROC [95% CI]"][0].startswith(significant(core.auroc))


def test_predictions_file_without_ood_rows_says_so(monkeypatch, tmp_path):
    at = _page(dataset=offer_predictions_file(monkeypatch, tmp_path / "plain.csv"))
    assert not at.exception, at.exception
    assert any("no out-of-distribution rows (is_ood=1" in i.value for i in at.info)
    assert not at.dataframe and not at.get("plotly_chart")
