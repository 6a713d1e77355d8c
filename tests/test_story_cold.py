"""The Story's first view on a cold start: step 1 from the clean test rows alone, predicted first
(``uqviz.runs.only_test_rows``), says what the whole story says."""

from __future__ import annotations

import numpy as np
import pytest

from uqviz.metrics.classification import wilson_ci
from uqviz.predictions import Predictions
from uqviz.runs import EvalPlan, only_test_rows
from uqviz.story import FirstStep, baseline_method, first_step_numbers
from uqviz.study import Comparison, Study


def test_only_test_rows_drops_corruptions_ood_sets_and_fit_rows():
    plan = EvalPlan(corruptions=("gaussian_noise", "brightness"), severities=(1, 5),
                    ood_sets=("uniform_noise",), ood_size=50, seed=3, fit_rows=100)
    rows = only_test_rows(plan)
    assert (rows.corruptions, rows.ood_sets, rows.fit_rows) == ((), (), 0)
    assert rows.seed == 3 and rows.corruption_names() == ()
    assert only_test_rows(rows) == rows


def _predictions(right: int, n: int, method: str) -> Predictions:
    """n labelled test rows of 3 classes, the first ``right`` predicted right (probability .8)."""
    labels = np.arange(n) % 3
    predicted = np.where(np.arange(n) < right, labels, (labels + 1) % 3)
    probs = np.full((n, 3), 0.1, dtype=np.float32)
    probs[np.arange(n), predicted] = 0.8
    return Predictions(probs, labels, np.full(n, "test", dtype=object), method=method)


def test_first_step_numbers_are_each_methods_accuracy_with_its_wilson_interval():
    clean = Comparison({"temperature": Study(_predictions(18, 20, "temperature")),
                        "softmax": Study(_predictions(15, 20, "softmax"))})
    first = first_step_numbers(clean)
    assert first == FirstStep(baseline="softmax", n_clean=20, clean_accuracy={
        "temperature": (0.9, *map(float, wilson_ci(18, 20))),
        "softmax": (0.75, *map(float, wilson_ci(15, 20)))})
    # Wilson (1927) by hand for 15 of 20: (p + z²/2n ± z√(p(1-p)/n + z²/4n²)) / (1 + z²/n)
    z, p, n = 1.959963984540054, 0.75, 20
    centre, half = p + z * z / (2 * n), z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert first.clean_accuracy["softmax"][1:] == pytest.approx(
        ((centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)))


def test_the_baseline_is_softmax_when_chosen_else_the_first_method():
    assert baseline_method(["deep_ensemble", "softmax"]) == "softmax"
    assert baseline_method(("mc_dropout", "deep_ensemble")) == "mc_dropout"
    with pytest.raises(ValueError, match="at least one method, got none"):
        baseline_method([])


def test_test_rows_are_predicted_alike_alone_or_among_other_rows():
    """Every method's clean test rows, predicted alone, equal bit for bit the test rows of a
    plan with a corruption, an OOD set and fit rows (the shipped digits networks)."""
    from uqviz.methods import METHOD_IDS
    from uqviz.sources import APP_CONFIG, TrainedSource

    plan = EvalPlan(corruptions=("gaussian_noise",), severities=(3,),
                    ood_sets=("uniform_noise",), fit_rows=100)
    alone = TrainedSource("digits", only_test_rows(plan), APP_CONFIG)
    among = TrainedSource("digits", plan, APP_CONFIG)
    methods = list(METHOD_IDS)
    first, whole = alone.predictions(methods), among.predictions(methods)
    for m in methods:
        test = whole[m].in_group("test")
        assert set(first[m].groups) == {"test"}
        assert first[m].probs.shape[1] == test.probs.shape[1] < whole[m].probs.shape[1]
        np.testing.assert_array_equal(first[m].probs, test.probs, err_msg=m)
        np.testing.assert_array_equal(first[m].labels, test.labels, err_msg=m)


def test_cold_story_shows_step_one_from_the_test_rows_and_tells_the_same_story(
        monkeypatch, tmp_path):
    """A fresh cache: the page predicts the clean test rows first (their own cache file), then
    every row; step 1's words equal the whole story's (two methods keep the test short)."""
    import streamlit as st

    from tests.app_fixtures import framed_page
    from uqviz.runs import predictions_path
    from uqviz.sources import APP_CONFIG, APP_PLAN, DATA_SEED, TrainedSource
    from uqviz.story import story
    from uqviz.stream import DEMO_MIX
    from uqviz.ui.backend import comparison
    from uqviz.ui.story import clean_step, first_step, story_steps

    monkeypatch.setenv("UQVIZ_CACHE", str(tmp_path))
    st.cache_resource.clear()
    methods = ["softmax", "temperature"]
    spec = TrainedSource("digits").spec()
    first_file = predictions_path(spec, DATA_SEED, "softmax", APP_CONFIG, only_test_rows(APP_PLAN))
    assert not first_file.exists()
    at = framed_page("pages/story.py", timeout=600, methods=methods)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert first_file.exists()  # the first view had its own, small run
    headings = [h.value for h in at.subheader]
    assert [h[:1] for h in headings] == list("123456")
    assert len(at.get("plotly_chart")) == 6
    clean = comparison("digits", tuple(methods))
    stream = comparison("digits", tuple(methods), "app", DEMO_MIX)
    whole = story(clean, stream)
    cold = first_step(comparison("digits", tuple(methods), "test"))
    assert (cold.heading, cold.text) == (clean_step(whole).heading, clean_step(whole).text)
    assert headings == [step.heading for step in story_steps(whole, stream)]
    assert cold.text in [m.value for m in at.markdown]
    st.cache_resource.clear()
