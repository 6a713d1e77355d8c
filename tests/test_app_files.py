"""A predictions file as a dataset: every analysis page works on it under AppTest."""

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from uqviz.exchange import write_predictions
from uqviz.predictions import Predictions
from uqviz.ui.files import env_dataset_name

TIMEOUT = 120


def synthetic_predictions(n=600, c=4, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, n)
    logits = rng.normal(size=(n, c)) + 3.0 * np.eye(c)[labels] * rng.random((n, 1))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    members = np.stack([probs, np.roll(probs, 1, axis=0) * 0.1 + probs * 0.9])
    group = np.array(["test"] * (n - 50) + ["ood:photos"] * 50, dtype=object)
    labels[-50:] = -1
    return {
        "my_model": Predictions(probs, labels, group=group),
        "my_ensemble": Predictions(members, labels, group=group),
    }


@pytest.fixture(scope="module")
def predictions_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("files") / "mine.csv"
    write_predictions(synthetic_predictions(), path)
    return path


@pytest.mark.parametrize("page", ["pages/home.py", "pages/data_models.py", "pages/compare.py",
                                  "pages/referral.py"])
def test_pages_work_on_a_predictions_file(monkeypatch, predictions_file, page):
    monkeypatch.setenv("UQVIZ_PREDICTIONS", str(predictions_file))
    # AppTest reruns a page of pages/ without the entrypoint once a widget changes, so the
    # sidebar's choice is made in session state before the first run (as the sidebar does).
    dataset = env_dataset_name(predictions_file)
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    at.session_state["dataset"] = dataset
    at.run()
    assert not at.exception
    assert "mine.csv (your predictions)" in at.sidebar.selectbox(key="dataset").options
    assert at.sidebar.selectbox(key="dataset").value == dataset
    methods = at.sidebar.multiselect(key=f"methods:{dataset}")
    assert sorted(methods.value) == ["my_ensemble", "my_model"]
    if page != "pages/home.py":
        at.switch_page(page).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    if page == "pages/compare.py":
        assert len(at.get("plotly_chart")) == 2 + 1 + 2 + 2  # reliability, RC, hist, confusion
        labels = [d.value["Method"].tolist() for d in at.dataframe]
        assert labels[0] == ["my_model", "my_ensemble"]
    if page in ("pages/data_models.py", "pages/referral.py"):
        assert any("predictions only" in i.value or "predictions file" in i.value
                   for i in at.info)


def test_unknown_file_dataset_in_a_link_falls_back(monkeypatch):
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    at.query_params["dataset"] = "predictions:gone.csv#deadbeef"
    at.run()
    assert not at.exception
    assert at.sidebar.selectbox(key="dataset").value == "digits"
