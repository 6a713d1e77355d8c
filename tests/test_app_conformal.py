"""The conformal prediction page under AppTest, on digits predictions cached by a fixture."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.app_fixtures import framed_page, pretrain_digits
from uqviz.ui.files import env_dataset_name

TIMEOUT = 120
PAGE = "pages/conformal.py"
CHARTS = 3  # set sizes, coverage per class, coverage and size against alpha


@pytest.fixture(scope="module", autouse=True)
def trained():
    pretrain_digits()


def _page(**state) -> AppTest:
    return framed_page(PAGE, TIMEOUT, **state)


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _captions(at: AppTest) -> list[str]:
    return [img.caption for image in at.get("image") for img in image.proto.imgs]


def _parse(caption: str) -> tuple[set[str], str, bool]:
    """``"{3, 5} · true 5 ✓"`` -> ({"3", "5"}, "5", True)."""
    members, rest = caption[1:].split("}", 1)
    true, mark = rest.removeprefix(" · true ").rsplit(" ", 1)
    return {m for m in members.split(", ") if m}, true, mark == "✓"


def _rows(method: str = "softmax"):
    """The scored rows of the page's default stream (``DEMO_MIX``): labelled clean and
    shifted rows."""
    from uqviz.stream import DEMO_MIX
    from uqviz.ui.backend import study

    return study("digits", method, "app", DEMO_MIX).rows


def test_page_runs_with_charts_metrics_and_examples():
    at = _page()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("plotly_chart")) == CHARTS
    assert [m.label for m in at.metric] == ["Coverage", "Target 1 − α", "Average of 100 splits",
                                            "Mean set size"]
    assert _metric(at, "Target 1 − α") == "90%"
    captions = _captions(at)
    assert len(captions) == 8
    for caption in captions:  # ✓ exactly when the true class is in the set shown
        members, true, ok = _parse(caption)
        assert ok == (true in members), caption


def test_alpha_moves_coverage_and_shrinks_sets():
    at = _page()
    at.slider(key="conf_alpha").set_value(0.05).run()
    cov_05, size_05 = _metric(at, "Coverage"), float(_metric(at, "Mean set size"))
    at.slider(key="conf_alpha").set_value(0.2).run()
    assert not at.exception
    assert _metric(at, "Target 1 − α") == "80%"
    assert _metric(at, "Coverage") != cov_05
    assert float(_metric(at, "Coverage").rstrip("%")) < float(cov_05.rstrip("%"))
    assert float(_metric(at, "Mean set size")) < size_05


def test_aps_and_raps_controls():
    at = _page()
    assert not [n for n in at.number_input if n.key in ("conf_lam", "conf_k_reg")]
    assert not [c for c in at.checkbox if c.key == "conf_nonrandomized"]  # LAC: never random
    at.radio(key="conf_score").set_value("aps").run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == CHARTS
    at.checkbox(key="conf_nonrandomized").check().run()
    assert not at.exception
    at.radio(key="conf_score").set_value("raps").run()
    assert not at.exception
    at.number_input(key="conf_lam").set_value(0.3).run()
    at.number_input(key="conf_k_reg").set_value(2).run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == CHARTS


def test_shown_numbers_equal_the_core():
    from uqviz.conformal import split_conformal

    at = _page(conf_method="deep_ensemble", conf_score="raps", conf_cal_share=30, conf_seed=7,
               conf_lam=0.05, conf_k_reg=2, conf_alpha=0.15)
    assert not at.exception, at.exception
    rows = _rows("deep_ensemble")
    core = split_conformal(rows.mean_probs, rows.labels, alpha=0.15, score="raps",
                           cal_fraction=0.3, seed=7, randomized=True, lam=0.05, k_reg=2)
    assert _metric(at, "Coverage") == f"{100 * core.coverage:.1f}%"
    assert _metric(at, "Mean set size") == f"{core.mean_set_size:.2f}"
    lo, hi = core.coverage_ci
    assert any(f"{100 * lo:.1f}–{100 * hi:.1f}%" in c.value and f"{core.n_cal:,} calibration"
               in c.value for c in at.caption)
    # The average over splits goes through coverage_vs_alpha; check it seed by seed.
    average = np.mean([split_conformal(rows.mean_probs, rows.labels, alpha=0.15, score="raps",
                                       cal_fraction=0.3, seed=s, lam=0.05, k_reg=2).coverage
                       for s in range(100)])
    assert _metric(at, "Average of 100 splits") == f"{100 * average:.1f}%"
    assert abs(average - 0.85) < 0.02  # the guarantee, on average over splits


def test_missed_examples_are_misses():
    at = _page(conf_alpha=0.3, conf_examples="missed")
    assert not at.exception
    captions = _captions(at)
    assert captions
    for caption in captions:
        members, true, ok = _parse(caption)
        assert not ok and true not in members, caption


def test_predictions_file_has_no_images_but_works(monkeypatch, tmp_path):
    from uqviz.conformal import split_conformal
    from uqviz.exchange import read_predictions, write_predictions
    from uqviz.predictions import Predictions
    from uqviz.study import Study

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 400)
    logits = rng.normal(size=(400, 4)) + 2.5 * np.eye(4)[labels]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    path = tmp_path / "mine.csv"
    write_predictions({"my_model": Predictions(probs[None], labels)}, path)
    monkeypatch.setenv("UQVIZ_PREDICTIONS", str(path))
    at = _page(dataset=env_dataset_name(path))
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert not at.get("image")
    assert any("mine.csv (your predictions) holds predictions only" in i.value for i in at.info)
    assert len(at.get("plotly_chart")) == CHARTS
    rows = Study(read_predictions(path).by_method["my_model"]).rows
    core = split_conformal(rows.mean_probs, rows.labels, alpha=0.1)  # the page's defaults
    assert _metric(at, "Coverage") == f"{100 * core.coverage:.1f}%"
