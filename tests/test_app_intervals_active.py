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


def test_intervals_page_matches_the_core_at_full_size():
    from uqviz.metrics import bootstrap_mean_ci, normal_ci, wilson_ci
    from uqviz.ui.backend import study

    at = _page("pages/intervals.py", methods=["softmax", "mc_dropout"])
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("plotly_chart")) == 2
    rows = study("digits", "mc_dropout").rows
    correct = rows.predicted == rows.labels
    assert at.slider(key="ci_rows").value == rows.n
    table = at.dataframe[0].value
    assert table["Method"].tolist() == ["Softmax", "MC dropout"]
    row = table[table["Method"] == "MC dropout"].iloc[0]
    k, n = int(correct.sum()), rows.n
    assert row["Accuracy"] == f"{k / n:.1%}"

    def cell(lo, hi):
        return f"[{lo:.1%}, {hi:.1%}] · {100 * (hi - lo):.1f} pts"

    assert row["Normal approx. (Wald)"] == cell(*normal_ci(k, n))
    assert row["Wilson"] == cell(*wilson_ci(k, n))
    # the page shuffles the rows first; the bootstrap of the shuffled rows, same seed
    shuffled = correct[np.random.default_rng(0).permutation(n)].astype(float)
    assert row["Percentile bootstrap"] == cell(*bootstrap_mean_ci(shuffled, seed=0))
    spec = _chart(at, "ci_compare")
    assert len(spec["data"]) == 6  # 2 methods × 3 intervals
    assert "Accuracy on" in spec["layout"]["xaxis"]["title"]["text"]


def test_small_subsample_widens_intervals_and_warns_about_wald():
    at = _page("pages/intervals.py", methods=["deep_ensemble"])
    full = at.dataframe[0].value.iloc[0]["Wilson"]
    at.slider(key="ci_rows").set_value(20).run()
    assert not at.exception, at.exception
    small = at.dataframe[0].value.iloc[0]
    assert small["n"] == 20

    def width(cell: str) -> float:
        return float(cell.rsplit("·", 1)[1].split()[0])

    assert width(small["Wilson"]) > 3 * width(full)
    acc = float(small["Accuracy"].rstrip("%")) / 100
    if acc >= 0.9:  # 19 or 20 of 20 right: Wald has zero width or leaves [0, 1]
        (warning,) = at.warning
        assert "Where the normal approximation fails" in warning.value
        assert ("zero width" in warning.value) == (acc == 1.0), warning.value
    spec = _chart(at, "ci_widths")
    names = [t["name"] for t in spec["data"]]
    assert names == ["Normal approx. (Wald)", "Wilson", "Percentile bootstrap", "∝ 1/√n",
                     "n = 20 (slider)"]
    widths = _values(spec["data"][1]["y"])
    assert widths[0] > 3 * widths[-1]  # n from 20 to 450: sqrt(22.5) ≈ 4.7 times narrower


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
    table = at.dataframe[0].value
    assert len(table) == 1 and table.iloc[0]["n"] == n
    if n > 20:
        assert at.slider(key="ci_rows").max == n
    else:  # too few rows for a slider: all of them, said so
        assert not at.slider and any(f"Only {n} clean" in c.value for c in at.caption)


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
def test_interval_comparison_figure_draws_wald_unclipped():
    from uqviz.metrics import accuracy_intervals
    from uqviz.plots.intervals import interval_comparison_figure, interval_width_figure

    correct = np.r_[np.ones(19, dtype=bool), False]
    iv = accuracy_intervals(correct, [10, 20], n_resamples=200)
    fig = interval_comparison_figure({"softmax": iv, "my_model": iv}, 20)
    assert len(fig.data) == 6
    wald = fig.data[0]
    assert wald.y == ("Softmax · Normal approx. (Wald)",)
    assert wald.x[0] + wald.error_x.array[0] == pytest.approx(iv.wald_unclipped[1, 1])
    assert wald.x[0] + wald.error_x.array[0] > 1.0  # 0.95 + 0.0955: past 100%, shown
    assert fig.data[3].y == ("my_model · Normal approx. (Wald)",)
    assert fig.data[0].marker.color != fig.data[3].marker.color
    with pytest.raises(ValueError, match="no subsample of 15 rows"):
        interval_comparison_figure({"softmax": iv}, 15)
    with pytest.raises(ValueError, match="at least one method"):
        interval_comparison_figure({}, 20)
    widths = interval_width_figure(iv, method="softmax", size=10)
    assert [t.name for t in widths.data][-1] == "n = 10 (slider)"
    assert widths.layout.xaxis.type == "log"
    np.testing.assert_allclose(widths.data[1].y, iv.widths["wilson"])


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
