"""The conformal prediction page under AppTest, on digits predictions cached by a fixture.

The α slider, its four numbers and its two charts are a browser component
(``uqviz.ui.components.conformal_alpha``): here, what it is sent; the examples and the curve
against the target at the committed α (session state ``conf_alpha``)."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.app_fixtures import framed_page, pretrain_digits
from uqviz.conformal import SLIDER_ALPHAS
from uqviz.ui.files import env_dataset_name

TIMEOUT = 120
PAGE = "pages/conformal.py"
CHARTS = 1  # coverage and size against alpha (set sizes and per class: the component's SVG)


@pytest.fixture(scope="module", autouse=True)
def trained():
    pretrain_digits()


def _page(**state) -> AppTest:
    return framed_page(PAGE, TIMEOUT, **state)


def _component(at: AppTest) -> dict:
    (element,) = at.get("bidi_component")
    proto = element.proto
    assert proto.component_name == "uqviz_conformal_alpha"
    assert "<script" not in proto.html_content and "https://" not in proto.js_content
    return json.loads(proto.json)


def _array(data: dict, name: str) -> np.ndarray:
    """One of the component's arrays; per-level ones have one row per α of the slider."""
    dtype = "<i4" if name in ("rank", "hits", "sizeCounts", "classHits", "classCounts") \
        else "<f8"
    values = np.frombuffer(base64.b64decode(data[name]), dtype=dtype)
    return values.reshape(data["levels"], -1) if name in ("sizeCounts", "classHits") else values


def _at(data: dict, alpha: float) -> dict:
    """What the component shows at ``alpha``, from the numbers it is sent."""
    k = int(np.flatnonzero(_array(data, "alphas") == alpha)[0])
    return {"coverage": _array(data, "hits")[k] / data["nTest"],
            "mean_set_size": _array(data, "meanSize")[k],
            "average": _array(data, "average")[k]}


def _marked_alpha(at: AppTest) -> float:
    """α of the curve's dotted line (drawn at 1 − α)."""
    figure = json.loads(at.get("plotly_chart")[-1].proto.spec)
    (shape,) = {round(s["x0"], 12) for s in figure["layout"]["shapes"]}
    return round(1 - shape, 2)


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
    data = _component(at)
    assert data["alpha"] == 0.1 and data["nDraws"] == 100 and data["levels"] == 50
    assert np.array_equal(_array(data, "alphas"), SLIDER_ALPHAS)
    assert data["names"] == [str(n) for n in _rows().names]
    assert _marked_alpha(at) == 0.1
    captions = _captions(at)
    assert len(captions) == 8
    for caption in captions:  # ✓ exactly when the true class is in the set shown
        members, true, ok = _parse(caption)
        assert ok == (true in members), caption


def test_alpha_moves_coverage_and_shrinks_sets():
    at = _page()
    data = _component(at)
    at05, at20 = _at(data, 0.05), _at(data, 0.2)
    assert at20["coverage"] < at05["coverage"]
    assert at20["mean_set_size"] < at05["mean_set_size"]
    at.session_state["conf_alpha"] = 0.2  # as the component commits it
    at.run()
    assert not at.exception
    assert _marked_alpha(at) == 0.2
    assert _component(at)["digest"] == data["digest"]  # the same data: only α moved


@pytest.mark.parametrize("stored, shown", [(0.123, 0.12), (7, 0.5), (0.0, 0.01), ("abc", 0.1),
                                           (float("nan"), 0.1), (None, 0.1)])
def test_any_stored_alpha_is_a_level_of_the_slider(stored, shown):
    at = _page(conf_alpha=stored)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert _component(at)["alpha"] == shown
    assert _marked_alpha(at) == shown


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
    from uqviz.conformal import ConformalSplit, class_coverage, quantile_rank

    at = _page(conf_method="deep_ensemble", conf_score="raps", conf_cal_share=30, conf_seed=7,
               conf_lam=0.05, conf_k_reg=2, conf_alpha=0.15)
    assert not at.exception, at.exception
    data = _component(at)
    assert data["alpha"] == 0.15
    rows = _rows("deep_ensemble")
    settings = dict(score="raps", cal_fraction=0.3, seed=7, randomized=True, lam=0.05, k_reg=2)
    split = ConformalSplit(rows.mean_probs, rows.labels, **settings)
    for k, alpha in enumerate(SLIDER_ALPHAS):  # every level the component can show
        core = split.sets(alpha)
        assert _array(data, "hits")[k] / data["nTest"] == core.coverage
        assert (_array(data, "low")[k], _array(data, "high")[k]) == core.coverage_ci
        assert _array(data, "qhat")[k] == core.qhat
        assert _array(data, "rank")[k] == quantile_rank(core.n_cal, alpha)
        assert _array(data, "meanSize")[k] == core.mean_set_size
        assert np.array_equal(_array(data, "sizeCounts")[k],
                              np.bincount(core.set_sizes, minlength=rows.num_classes + 1))
        per_class = class_coverage(core, rows.labels)
        assert np.array_equal(_array(data, "classCounts"), per_class.counts)
        assert np.array_equal(_array(data, "classHits")[k] / per_class.counts,
                              per_class.coverage)
        assert (data["nCal"], data["nTest"]) == (core.n_cal, core.n_test)
    # The average over splits goes through ConformalSplit.curve; check it seed by seed.
    average = np.mean([ConformalSplit(rows.mean_probs, rows.labels,
                                      **dict(settings, seed=s)).sets(0.15).coverage
                       for s in range(100)])
    assert f"{100 * _at(data, 0.15)['average']:.1f}" == f"{100 * average:.1f}"
    assert abs(average - 0.85) < 0.02  # the guarantee, on average over splits
    assert _marked_alpha(at) == 0.15


def test_missed_examples_are_misses():
    at = _page(conf_alpha=0.3, conf_examples="missed")
    assert not at.exception
    captions = _captions(at)
    assert captions
    for caption in captions:
        members, true, ok = _parse(caption)
        assert not ok and true not in members, caption


def test_predictions_file_has_no_images_but_works(monkeypatch, tmp_path):
    from uqviz.conformal import ConformalSplit
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
    core = ConformalSplit(rows.mean_probs, rows.labels).sets(0.1)  # the page's defaults
    assert _at(_component(at), 0.1)["coverage"] == core.coverage


@pytest.mark.parametrize("score", ["lac", "aps", "raps"])
def test_every_level_equals_the_core_without_randomization(monkeypatch, tmp_path, score):
    """Non-randomized APS/RAPS keep the class that crosses q̂ (and LAC is never randomized):
    the counts at each level are still ``ConformalSplit.sets``'s."""
    from tests.app_fixtures import offer_predictions_file
    from uqviz.conformal import ConformalSplit
    from uqviz.exchange import read_predictions
    from uqviz.sources import FileSource
    from uqviz.study import Study

    path = tmp_path / "levels.csv"
    dataset = offer_predictions_file(monkeypatch, path, rows=250, classes=6, seed=4)
    at = _page(dataset=dataset, conf_score=score, conf_nonrandomized=True, conf_cal_share=40,
               conf_seed=3)
    assert not at.exception, at.exception
    data = _component(at)
    rows = Study(FileSource.from_path(path, read_predictions(path)).predictions(["m"])["m"]).rows
    split = ConformalSplit(rows.mean_probs, rows.labels, score=score, cal_fraction=0.4, seed=3,
                           randomized=False, lam=0.1, k_reg=1)
    for k, alpha in enumerate(SLIDER_ALPHAS):
        core = split.sets(alpha)
        assert _array(data, "hits")[k] / data["nTest"] == core.coverage
        assert _array(data, "qhat")[k] == core.qhat
        assert _array(data, "meanSize")[k] == core.mean_set_size
        assert np.array_equal(_array(data, "sizeCounts")[k],
                              np.bincount(core.set_sizes, minlength=7))


def test_the_class_conditional_toggle_shows_both_sets_per_class():
    """The Mondrian toggle adds the per-class panel: the numbers are
    ``Study.class_conditional_comparison``'s, i.e. ``ConformalSplit.sets`` with and without
    ``class_conditional`` on the same split."""
    from uqviz.conformal import ConformalSplit

    at = _page(conf_alpha=0.1, conf_seed=2)
    assert not at.exception, at.exception
    assert not at.dataframe
    at.toggle(key="conf_mondrian").set_value(True).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    (frame,) = [d.value for d in at.dataframe]
    rows = _rows()
    split = ConformalSplit(rows.mean_probs, rows.labels, score="lac", cal_fraction=0.5, seed=2,
                           randomized=True, lam=0.1, k_reg=1)
    marginal, mondrian = split.sets(0.1), split.sets(0.1, class_conditional=True)
    assert list(frame["Class"]) == list(rows.names)
    np.testing.assert_array_equal(frame["Calibration images"], mondrian.class_n_cal)
    np.testing.assert_allclose(frame["Coverage, marginal"], marginal.per_class_coverage)
    np.testing.assert_allclose(frame["Coverage, class-conditional"], mondrian.per_class_coverage)
    np.testing.assert_allclose(frame["Set size, marginal"], marginal.per_class_set_size)
    np.testing.assert_allclose(frame["Set size, class-conditional"],
                               mondrian.per_class_set_size)
    metrics = {m.label: m for m in at.metric}
    assert metrics["Calibration, smallest class"].value == f"{mondrian.class_n_cal.min():,}"
    assert metrics["Mean set size, marginal"].value == f"{marginal.mean_set_size:.2f}"
    assert metrics["Mean set size, class-conditional"].value == f"{mondrian.mean_set_size:.2f}"
    cost = mondrian.mean_set_size - marginal.mean_set_size
    assert metrics["Mean set size, class-conditional"].proto.delta == f"{cost:+.2f} classes"
