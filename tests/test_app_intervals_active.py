"""The Confidence intervals and Active learning pages under AppTest."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.app_fixtures import framed_page, offer_predictions_file, pretrain_digits
from uqviz.ui.files import env_dataset_name

TIMEOUT = 240


@pytest.fixture(scope="module", autouse=True)
def trained():
    pretrain_digits()


def _page(page: str, **state) -> AppTest:
    at = framed_page(page, TIMEOUT, **state)
    assert not at.exception, at.exception
    return at


def _chart(at: AppTest, key: str) -> dict:
    import json

    (chart,) = [c for c in at.get("plotly_chart") if c.proto.id.endswith(key)
                or key in c.proto.id] or [None]
    assert chart is not None, [c.proto.id for c in at.get("plotly_chart")]
    return json.loads(chart.proto.spec)


def _values(v) -> np.ndarray:
    """A trace's x or y: a list, or plotly's typed array ``{"dtype", "bdata"}``."""
    import base64

    if isinstance(v, dict):
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    return np.asarray(v)


def _component(at: AppTest) -> dict:
    """What the interval component was sent (its JSON data)."""
    import json

    (element,) = at.get("bidi_component")
    proto = element.proto
    assert proto.component_name == "uqviz_interval_subsample"
    assert "<script" not in proto.html_content and "https://" not in proto.js_content
    return json.loads(proto.json)


def _array(text: str) -> np.ndarray:
    import base64

    return np.frombuffer(base64.b64decode(text), dtype="<i4")


def _intervals_page(query: dict | None = None, **state) -> AppTest:
    """The page in app.py's frame, with the URL's parameters ``query``."""
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    for key, value in state.items():
        at.session_state[key] = value
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    at.switch_page("pages/intervals.py").run()
    assert not at.exception, at.exception
    return at


def test_intervals_page_sends_the_counts_along_the_shuffle():
    from uqviz.metrics.classification import nested_subsample_hits, normal_quantile
    from uqviz.ui.backend import study

    at = _page("pages/intervals.py", methods=["softmax", "mc_dropout"])
    assert not at.error, [e.value for e in at.error]
    data = _component(at)
    rows = study("digits", "mc_dropout").rows
    correct = rows.predicted == rows.labels
    n = rows.n
    sizes = _array(data["sizes"])
    assert sizes.tolist() == list(range(20, n + 1))  # every size up to 100,000 rows
    assert data["size"] == data["n_total"] == n  # all rows by default
    assert data["resolution"] == f"Every size from 20 to {n:,} rows."
    assert [m["label"] for m in data["methods"]] == ["Softmax", "MC dropout"]
    assert data["methods"][0]["color"] != data["methods"][1]["color"]
    assert data["kinds"] == {"wald": "Normal approx. (Wald)", "wilson": "Wilson",
                             "bootstrap": "Percentile bootstrap"}
    assert data["z"] == normal_quantile(0.95) and data["confidence"] == 0.95
    assert data["source"] == "digits"
    # the page's one seeded permutation: the first n rows of a shuffle with seed 0
    hits = _array(data["methods"][1]["hits"])
    order = np.random.default_rng(0).permutation(n)
    np.testing.assert_array_equal(hits, np.cumsum(correct[order])[sizes - 1])
    np.testing.assert_array_equal(hits, nested_subsample_hits(correct)[sizes - 1])
    assert hits[-1] == correct.sum()
    assert at.query_params["ci_rows"] == str(n)
    # the widths, server-side, mark the committed size
    assert len(at.get("plotly_chart")) == 1
    spec = _chart(at, "ci_widths")
    assert spec["data"][-1]["name"] == f"n = {n:,} (slider)"
    assert not any("resamples." in c.value for c in at.caption)


def test_the_committed_size_comes_from_the_link_and_goes_back_to_it():
    at = _intervals_page({"ci_rows": "37"}, methods=["deep_ensemble"])
    assert _component(at)["size"] == 37
    assert at.query_params["ci_rows"] == "37"
    assert _chart(at, "ci_widths")["data"][-1]["name"] == "n = 37 (slider)"

    at.session_state["ci_rows"] = 20  # as the component commits it
    at.run()
    assert not at.exception
    assert at.query_params["ci_rows"] == "20"
    spec = _chart(at, "ci_widths")
    names = [t["name"] for t in spec["data"]]
    assert names == ["Normal approx. (Wald)", "Wilson", "Percentile bootstrap", "∝ 1/√n",
                     "n = 20 (slider)"]
    widths = _values(spec["data"][1]["y"])
    assert widths[0] > 3 * widths[-1]  # n from 20 to 450: sqrt(22.5) ≈ 4.7 times narrower
    # a full run starts the component at the committed size (in the browser a commit reruns
    # only the fragment, whose component keeps the size it was started at, and its own)
    assert _component(at)["size"] == 20


@pytest.mark.parametrize(("text", "expected"), [("abc", None), ("5", 20), ("1e9", None),
                                                ("37.4", 37), ("37.6", 38), ("nan", None)])
def test_sizes_from_the_link_are_snapped_to_the_slider(text, expected):
    at = _intervals_page({"ci_rows": text}, methods=["softmax"])
    data = _component(at)
    assert data["size"] == (expected or data["n_total"])
    assert at.query_params["ci_rows"] == str(data["size"])


@pytest.mark.parametrize("n", [300, 12])
def test_intervals_page_on_a_predictions_file(tmp_path, monkeypatch, n):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, n)
    probs = rng.dirichlet(np.ones(3), n)
    probs[np.arange(n), labels] += 1.0
    probs /= probs.sum(axis=1, keepdims=True)
    path = tmp_path / "preds.npz"
    np.savez(path, probs=probs.astype(np.float32), labels=labels)
    monkeypatch.setenv("UQVIZ_PREDICTIONS", str(path))
    name = env_dataset_name(path)
    at = _page("pages/intervals.py", dataset=name)
    assert not at.error, [e.value for e in at.error]
    data = _component(at)
    assert data["n_total"] == n and data["source"] == "preds.npz (your predictions)"
    hits = _array(data["methods"][0]["hits"])
    assert hits[-1] == int((probs.argmax(1) == labels).sum())
    if n > 20:
        assert _array(data["sizes"]).tolist() == list(range(20, n + 1))
    else:  # too few rows for a slider: all of them, said so
        assert _array(data["sizes"]).tolist() == [n] and data["resolution"] == f"All {n} rows."
        assert any(f"Only {n} clean" in c.value for c in at.caption)


def test_a_new_source_starts_from_all_its_rows(tmp_path, monkeypatch):
    name = offer_predictions_file(monkeypatch, tmp_path / "file.npz", rows=120)
    at = _intervals_page({"ci_rows": "50"}, methods=["softmax"])
    assert _component(at)["size"] == 50
    at.session_state["dataset"] = name
    at.run()
    assert not at.exception, at.exception
    data = _component(at)
    assert data["n_total"] == 120 and data["size"] == 120
    assert at.query_params["ci_rows"] == "120"


def test_active_learning_page_default_and_controls():
    at = _page("pages/learn_active.py")
    assert not at.error, [e.value for e in at.error]
    spec = _chart(at, "al_curve")
    names = [t["name"] for t in spec["data"] if t.get("showlegend", True) is not False]
    assert names == ["Random", "Max entropy", "Min margin", "BALD"]
    assert _values(spec["data"][2]["x"])[-1] == 200
    metrics = {m.label: m.value for m in at.metric}
    assert set(metrics) == {"Random", "Max entropy", "Min margin", "BALD"}
    assert any("disagree" in md.value for md in at.markdown)

    at.multiselect(key="al_strategies").set_value(["random", "bald"])
    at.slider(key="al_budget").set_value(80).run()
    assert not at.exception, at.exception
    spec = _chart(at, "al_curve")
    lines = [t for t in spec["data"] if t.get("mode") == "lines+markers"]
    assert [t["name"] for t in lines] == ["Random", "BALD"]
    assert _values(lines[0]["x"])[-1] == 80
    assert len(at.metric) == 0  # no 100-label summary below a budget of 100

    at.multiselect(key="al_strategies").set_value([]).run()
    assert not at.exception
    assert any("at least one strategy" in w.value for w in at.warning)


# -- the figure builders, without a page --------------------------------------------------------
def test_interval_width_figure_marks_the_size():
    from uqviz.metrics import accuracy_intervals
    from uqviz.plots.intervals import interval_width_figure

    correct = np.r_[np.ones(19, dtype=bool), False]
    iv = accuracy_intervals(correct, [10, 20], n_resamples=None)
    widths = interval_width_figure(iv, method="softmax", size=10)
    assert [t.name for t in widths.data][-1] == "n = 10 (slider)"
    assert widths.layout.xaxis.type == "log"
    np.testing.assert_allclose(widths.data[1].y, iv.widths["wilson"])
    np.testing.assert_allclose(widths.data[2].y, iv.widths["bootstrap"])


def test_active_learning_figure_bands_and_marker():
    from uqviz.plots.active_learning import active_learning_figure
    from uqviz.teaching.active import learning_curves

    curves = learning_curves({"random": np.array([[0.5, 0.7], [0.7, 0.9]]),
                              "bald": np.array([[0.6, 0.95]])}, np.array([20, 30]))
    fig = active_learning_figure(curves, mark_labels=30)
    # random: upper edge, band, mean line; BALD (one seed): mean line only
    assert [t.name for t in fig.data] == [None, None, "Random", "BALD"]
    assert fig.data[1].fill == "tonexty"
    np.testing.assert_allclose(fig.data[0].y, curves["random"].upper)
    assert fig.layout.shapes[0].x0 == 30
    assert fig.layout.xaxis.title.text == "Labelled images"
    with pytest.raises(ValueError, match="at least one strategy"):
        active_learning_figure({})


def test_intervals_page_on_a_file_without_labels_says_so(tmp_path, monkeypatch):
    name = offer_predictions_file(monkeypatch, tmp_path / "unlabelled.npz", rows=40,
                                  labelled=False)
    at = _page("pages/intervals.py", dataset=name)
    assert not at.exception and not at.error
    assert any("no labelled clean test rows" in i.value for i in at.info)
    assert not at.get("plotly_chart")
