"""The Monitor page under AppTest, on the digits networks trained once by a fixture: its sentence
and chart come from ``uqviz.monitor`` on the same inputs, and the sliders move them."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest

from tests.app_fixtures import framed_page, offer_predictions_file, pretrain_digits
from uqviz.ui.monitor import pct, score_option_label

PAGE = "pages/monitor.py"


@pytest.fixture(scope="module", autouse=True)
def trained():
    pretrain_digits()


@pytest.fixture(scope="module")
def app():
    return framed_page(PAGE)


def _ok(at) -> None:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def _core(batch_size: int, alpha: float, estimator: str = "doc"):
    """What the core says on the page's inputs: the deep ensemble's demo stream on digits."""
    from uqviz.monitor import demo_drift_stream, watch_stream
    from uqviz.sources import TrainedSource

    p = TrainedSource("digits").predictions(["deep_ensemble"])["deep_ensemble"]
    return watch_stream(demo_drift_stream(p), batch_size=batch_size, alpha=alpha,
                        estimator=estimator)


def _sentence(at) -> str:
    (text,) = [m.value for m in at.markdown if "alarm" in m.value and "batch" in m.value]
    return text


def _values(v) -> np.ndarray:
    """A trace's x or y: a list, or plotly's typed array ``{"dtype", "bdata"}``."""
    if isinstance(v, dict):
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    return np.asarray(v, dtype=float)


def _chart(at) -> dict:
    (chart,) = [c for c in at.get("plotly_chart") if "monitor_chart" in c.proto.id]
    return json.loads(chart.proto.spec)


def test_the_page_runs_on_the_default_with_the_deep_ensemble_and_a_chart(app):
    _ok(app)
    assert app.selectbox(key="monitor_method").value == "deep_ensemble"
    assert app.selectbox(key="monitor_estimator").value == "doc"
    assert app.slider(key="monitor_batch_size").value == 20
    assert app.slider(key="monitor_alpha").value == pytest.approx(0.05)
    names = [t["name"] for t in _chart(app)["data"] if t.get("name")]
    assert "True accuracy (labels known here)" in names
    assert "Estimated without labels (DoC)" in names
    assert {"Referred share", "Flagged out-of-distribution", "Mean confidence",
            "Drift evidence"} <= set(names)
    assert any("reference" in c.value and "stream" in c.value for c in app.caption)


def test_the_sentence_names_the_cores_first_alarm_and_estimate(app):
    core = _core(20, 0.05)
    result, summary = core.result, core.summary
    assert result.first_alarm is not None  # the default stream drifts enough to be caught
    text = _sentence(app)
    assert f"fired at batch {result.batch_names[result.first_alarm]} of " in text
    assert f"{pct(summary.estimate.estimate)} ({1 - 0.05:.0%} interval" in text
    assert f"is {pct(summary.true_accuracy)}" in text
    # the chart draws the same numbers: the estimate per batch and the alarm's line
    spec = _chart(app)
    (estimate,) = [t for t in spec["data"] if t.get("name", "").startswith("Estimated")]
    np.testing.assert_allclose(_values(estimate["y"]), result.estimated_accuracy)
    lines = [s for s in spec["layout"]["shapes"] if s.get("type") == "line"
             and s.get("x0") == s.get("x1") and s.get("yref", "").endswith("domain")]
    assert result.first_drift_alarm + 1 in {s["x0"] for s in lines}


def test_the_sliders_change_the_numbers_as_the_core_says(app):
    at = app  # the last test that reads the module's page: it may move its sliders
    before = _sentence(at)
    at.slider(key="monitor_batch_size").set_value(40).run()
    _ok(at)
    wide = _core(40, 0.05)
    text = _sentence(at)
    assert f"fired at batch {wide.summary.alarm_batch} of {wide.summary.n_batches} " in text
    assert len(_values(_chart(at)["data"][2]["y"])) == wide.summary.n_batches
    assert text != before
    at.slider(key="monitor_alpha").set_value(0.01).run()
    _ok(at)
    strict = _core(40, 0.01)
    text = _sentence(at)
    assert "α = 1%" in text
    assert f"fired at batch {strict.summary.alarm_batch} of " in text
    # a smaller α asks for more evidence: the alarm comes no earlier
    assert strict.summary.rows_to_alarm >= wide.summary.rows_to_alarm
    at.selectbox(key="monitor_estimator").set_value("atc_mc").run()
    _ok(at)
    atc = _core(40, 0.01, "atc_mc")
    assert "(ATC-MC) says accuracy" in _sentence(at)
    assert f"{pct(atc.summary.estimate.estimate)} (99% interval" in _sentence(at)


def test_a_predictions_file_is_watched_in_its_own_order(monkeypatch, tmp_path):
    name = offer_predictions_file(monkeypatch, tmp_path / "preds.csv", rows=120)
    at = framed_page(PAGE, dataset=name)
    _ok(at)
    assert any("the stream is the other 60 rows in their order" in c.value
               for c in at.caption)
    assert "batch" in _sentence(at)
    assert len(at.get("plotly_chart")) == 1


def test_a_file_without_labels_says_what_is_missing(monkeypatch, tmp_path):
    name = offer_predictions_file(monkeypatch, tmp_path / "unlabelled.csv", rows=50,
                                  labelled=False)
    at = framed_page(PAGE, dataset=name)
    assert not at.exception, at.exception
    assert any("labelled" in e.value for e in at.error)


def test_a_users_model_is_watched_over_its_own_images(tmp_path, monkeypatch):
    """A tiny TorchScript net and a folder of 36 PNGs (tests/user_model_fixtures): the stream
    is the model's rows in folder order, against a labelled half of its images."""
    from tests.user_model_fixtures import (
        export_torchscript,
        train_tiny_net,
        write_config,
        write_folder,
    )
    from uqviz.user_model import ModelSource

    export_torchscript(train_tiny_net(), tmp_path / "net.pt")
    write_config(tmp_path)
    write_folder(tmp_path / "data" / "images", {"red": 12, "green": 12, "blue": 12})
    monkeypatch.setenv("UQVIZ_DATA_ROOTS", str(tmp_path / "data"))
    monkeypatch.setenv("UQVIZ_MODELS", f"{tmp_path / 'net.pt'}=images")
    key = ModelSource.create([tmp_path / "net.pt"], tmp_path / "data" / "images").key
    at = framed_page(PAGE, 240, dataset=key, **{f"methods:{key}": ["softmax"]})
    _ok(at)
    # the model's own test images only, not the copies the app corrupted: half are the
    # reference, the other half the stream
    (caption,) = [c.value for c in at.caption if c.value.startswith("Your stream")]
    ref, total, rest = map(int, re.search(r"(\d+) of the (\d+) labelled rows .* the other "
                                          r"(\d+) rows in their order", caption).groups())
    assert ref == total // 2 and rest == total - ref and total <= 36, caption
    assert len(at.get("plotly_chart")) == 1 and "batch" in _sentence(at)


def test_any_available_score_drives_the_monitor():
    """The score select lists every score the demo stream has (the digits networks give logits
    and features: all of them), and a feature score's monitor is the core's on the same inputs
    (fitted on half the reference, never on the stream), its settings in a caption."""
    from uqviz.monitor import demo_drift_stream, monitor_score_keys, watch_stream
    from uqviz.sources import TrainedSource

    at = framed_page(PAGE)
    _ok(at)
    p = TrainedSource("digits").predictions(["deep_ensemble"])["deep_ensemble"]
    watched = demo_drift_stream(p)
    keys, unavailable = monitor_score_keys(watched.reference, watched.stream)
    select = at.selectbox(key="monitor_score")
    assert select.options == [score_option_label(k) for k in keys] and not unavailable
    assert select.value == "max_prob"
    select.set_value("knn").run()
    _ok(at)
    core = watch_stream(watched, batch_size=20, alpha=0.05, estimator="doc", score="knn")
    assert core.result.n_score_fit == watched.reference.n // 2
    text = _sentence(at)
    if core.summary.first_alarm is None:
        assert "No alarm fired" in text
    else:
        assert f"fired at batch {core.summary.alarm_batch} of " in text
    (ood,) = [t for t in _chart(at)["data"] if t.get("name") == "Flagged out-of-distribution"]
    np.testing.assert_allclose(_values(ood["y"]), core.result.ood_share)
    assert any(c.value.startswith("KNN distance: k = ") and "fitted on" in c.value
               for c in at.caption)
