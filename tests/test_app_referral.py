"""The Referral page's workbench under AppTest (no browser): what the component is sent, the
values kept under the page's keys and the URL, and the panels' operating point."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.app_fixtures import offer_predictions_file
from uqviz.exchange import read_predictions
from uqviz.sources import FileSource
from uqviz.study import Study
from uqviz.ui.backend import POLICY_KEY

TIMEOUT = 600  # a limit, not a target
PAGE = "pages/referral.py"


def _page(monkeypatch, tmp_path, *, rows=300, mode=None, query=None) -> tuple[AppTest, Study]:
    """The page on a random predictions file; ``query``: the URL's parameters (the mode's
    radio reads its own from the URL in a browser, here from session state)."""
    path = tmp_path / "referral.csv"
    dataset = offer_predictions_file(monkeypatch, path, rows=rows, classes=4, seed=3)
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    at.session_state["dataset"] = dataset
    if mode:
        at.session_state["ref_mode"] = mode
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    study = Study(FileSource.from_path(path, read_predictions(path)).predictions(["m"])["m"])
    return at, study


def _component(at: AppTest) -> dict:
    (element,) = at.get("bidi_component")
    proto = element.proto
    assert proto.component_name == "uqviz_referral_workbench"
    assert "<script" not in proto.html_content and "https://" not in proto.js_content
    return json.loads(proto.json)


def _array(text: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype)


def _policy(at: AppTest) -> dict:
    return json.loads(at.session_state[POLICY_KEY])


def test_the_component_gets_every_cut_and_the_panels_its_point(monkeypatch, tmp_path):
    at, study = _page(monkeypatch, tmp_path)
    data = _component(at)
    score = at.selectbox(key="ref_score").value
    index = study.referral_index(score)
    assert data["n"] == index.n == 300 and data["exact"] and data["mode"] == "threshold"
    kept = _array(data["kept"], "<i4")
    assert np.array_equal(kept, index.cuts)
    assert np.array_equal(_array(data["correct"], "<i4"), index.cum_correct[index.cuts])
    thresholds = _array(data["thresholds"], "<f8")
    assert np.array_equal(thresholds[1:], index.sorted_uncertainty[index.cuts[1:] - 1])
    assert data["z"] == pytest.approx(1.959964, abs=1e-6)
    assert data["resolution"].startswith("Thresholds at each of the")
    # the default threshold: the scores' 90% quantile, snapped down to a cut
    t = data["values"]["threshold"]
    assert t in thresholds[1:] and t <= np.quantile(index.sorted_uncertainty, 0.9)
    point = index.at_threshold(t)
    assert _policy(at)["expected_referral_rate"] == point.referred_fraction
    assert _policy(at)["threshold"] == t
    assert at.query_params["ref_threshold"] == repr(t)
    assert len(at.get("plotly_chart")) == 3  # confusion matrix, the team, one-vs-rest


def test_values_come_from_the_link_and_go_back_to_it(monkeypatch, tmp_path):
    at, study = _page(monkeypatch, tmp_path, mode="budget", query={"ref_budget": "20"})
    data = _component(at)
    assert data["mode"] == "budget" and data["values"]["budget"] == 20.0
    index = study.referral_index(at.selectbox(key="ref_score").value)
    assert _policy(at)["expected_referral_rate"] == index.at_budget(0.2).referred_fraction
    assert at.query_params["ref_budget"] == "20"
    assert "ref_threshold" not in at.query_params

    at.session_state["ref_budget"] = 32.5  # as the component commits it
    at.run()
    assert at.query_params["ref_budget"] == "32.5"
    assert _policy(at)["expected_referral_rate"] == index.at_budget(0.325).referred_fraction
    at.radio(key="ref_mode").set_value("cost").run()
    assert at.query_params["ref_cost_error"] == "10"
    assert at.query_params["ref_cost_review"] == "1"
    assert "ref_budget" not in at.query_params
    assert _policy(at)["expected_cost_per_case"] == index.for_costs(10.0, 1.0).expected_cost


def test_values_outside_the_sliders_are_snapped(monkeypatch, tmp_path):
    at, study = _page(monkeypatch, tmp_path, mode="target",
                      query={"ref_target": "120", "ref_budget": "abc"})
    data = _component(at)
    assert data["values"]["target"] == 100.0 and data["values"]["budget"] == 10.0
    index = study.referral_index(at.selectbox(key="ref_score").value)
    point = index.for_target_accuracy(1.0)
    assert _policy(at)["expected_referral_rate"] == point.referred_fraction
    assert _policy(at)["target_reached"] == point.reached


def test_a_new_score_starts_from_its_own_default_threshold(monkeypatch, tmp_path):
    at, study = _page(monkeypatch, tmp_path)
    score = at.selectbox(key="ref_score").value
    at.session_state["ref_threshold"] = 0.0  # below the slider: its lowest threshold
    at.run()
    lowest = study.referral_index(score).compact(1000).thresholds[1]
    assert _component(at)["values"]["threshold"] == lowest
    assert _policy(at)["threshold"] == lowest

    other = "entropy" if score != "entropy" else "margin"
    at.selectbox(key="ref_score").set_value(other).run()
    assert not at.exception
    index = study.referral_index(other)
    t = _component(at)["values"]["threshold"]
    assert t == _policy(at)["threshold"]
    assert index.sorted_uncertainty[0] < t <= np.quantile(index.sorted_uncertainty, 0.9)
    assert index.at_threshold(t).referred_fraction == pytest.approx(0.1, abs=0.02)


def test_team_accuracy_by_hand_and_as_the_team_report_estimates_it():
    from uqviz.metrics.selective import team_accuracy_curve
    from uqviz.team import Accuracy, team_accuracy

    # (1 − r)·a + r·q: 0.9 at r = 0; 0.5·0.96 + 0.5·0.8 = 0.88; q where everything is referred
    got = team_accuracy_curve(np.array([0.0, 0.5, 1.0]), np.array([0.9, 0.96, np.nan]), 0.8)
    np.testing.assert_allclose(got, [0.9, 0.88, 0.8])
    estimate, _ = team_accuracy(50, 50, Accuracy.of(48, 50), 0.8, None)  # uqviz.team's estimate
    assert got[1] == pytest.approx(estimate)
    with pytest.raises(ValueError, match="reviewer accuracy"):
        team_accuracy_curve(np.zeros(1), np.ones(1), 1.5)


def test_reviewers_accuracy_draws_the_team_beside_the_model(monkeypatch, tmp_path):
    from uqviz.metrics.selective import team_accuracy_curve

    at, study = _page(monkeypatch, tmp_path)
    at.slider(key="ref_reviewer_accuracy").set_value(80).run()
    assert not at.exception, at.exception
    (team,) = [t for c in at.get("plotly_chart") for t in json.loads(c.proto.spec)["data"]
               if "team" in str(t.get("name", ""))]
    assert "80%" in team["name"]
    score = at.selectbox(key="ref_score").value
    curve = study.referral_curve(score)
    expected = team_accuracy_curve(curve.referred_fraction, curve.accuracy_retained, 0.8)
    y = team["y"]
    y = _array(y["bdata"], y["dtype"]) if isinstance(y, dict) else np.asarray(y)
    assert y[0] == pytest.approx(expected[0]) and y[-1] == pytest.approx(expected[-1])
    assert len(_policy(at)["classes"]) == 4  # the export names the classes
