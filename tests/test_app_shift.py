"""The dataset-shift page under AppTest, on digits networks trained once by a fixture."""

from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.app_fixtures import pretrain_digits
from uqviz.ui.files import env_dataset_name

TIMEOUT = 600  # a limit, not a target (the first run predicts every corruption)
PAGE = "pages/shift.py"


def _framed(**state) -> AppTest:
    """The page inside app.py's frame (sidebar state set before the first run)."""
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    return at.switch_page(PAGE)
CURVE_KEYS = ("accuracy", "ece", "nll", "mean_uncertainty", "auroc_wrong_vs_right")


@pytest.fixture(scope="module")
def app() -> AppTest:
    pretrain_digits()
    at = _framed()
    at.run()
    return at


def _strip(at: AppTest) -> dict:
    """The data the severity strip (a Custom Component v2) was sent."""
    (element,) = at.get("bidi_component")
    proto = element.proto
    assert proto.component_name == "uqviz_shift_severity"
    assert "<script" not in proto.html_content and "https://" not in proto.js_content
    return json.loads(proto.json)


def test_page_renders_every_chart(app):
    assert not app.exception, app.exception
    assert not app.error
    charts = app.get("plotly_chart")
    # 5 curves, the label-free estimates, the box plot, the rotation chart and the rotated images
    assert len(charts) == 9
    ids = " ".join(c.proto.id for c in charts)
    for key in ("shift_rotation", "shift_rotated_images", "shift_boxes", "shift_label_free",
                *(f"shift_curve_{k}" for k in CURVE_KEYS)):
        assert key in ids
    data = _strip(app)
    assert data["images"] and data["severity"] == 3
    assert [level["severity"] for level in data["levels"]] == [0, 1, 2, 3, 4, 5]
    for level in data["levels"]:
        assert len(level["pictures"]) == 8 and len(level["truth"]) == 8
        assert all(p.startswith("data:image/png;base64,") for p in level["pictures"])
        assert len(level["methods"]) == 5 and all(len(m["predicted"]) == 8
                                                  for m in level["methods"])


def test_the_strip_holds_the_cores_cases_and_numbers_at_every_severity(app):
    from uqviz.methods import METHOD_IDS
    from uqviz.shift_analysis import evenly_spaced, severity_series, severity_table
    from uqviz.ui.backend import study, test_images
    from uqviz.ui.images import tile_images, upscale_for_display
    from uqviz.ui.shift_backend import corrupted_test_images
    from uqviz.ui.shift_strip import png_data_url

    data = _strip(app)
    studies = {m: study("digits", m, "shift") for m in METHOD_IDS}
    table = severity_table(studies.values(), "gaussian_noise", "entropy")
    x, accuracy = severity_series(table, "accuracy", list(METHOD_IDS))
    _, mean = severity_series(table, "mean_uncertainty", list(METHOD_IDS))
    picks = evenly_spaced(len(test_images("digits")), 8)
    assert data["score_label"] == "Predictive entropy"
    assert [m["short"] for m in data["methods"]] == ["Softmax", "Temperature", "MC dropout",
                                                     "Deep", "Prior"]
    for severity, level in zip(x, data["levels"], strict=True):
        images = corrupted_test_images("digits", "gaussian_noise", severity)[picks]
        scale = upscale_for_display(images.shape[2])
        assert level["pictures"] == [png_data_url(tile_images(images[k:k + 1], 1, scale=scale))
                                     for k in range(8)]
        for i, (m, s) in enumerate(studies.items()):
            cases, sent = s.shift_cases("gaussian_noise", severity, "entropy", picks), \
                level["methods"][i]
            assert level["truth"] == cases.labels.tolist()
            assert sent["predicted"] == cases.predicted.tolist()
            assert sent["correct"] == cases.correct.tolist()
            assert sent["uncertainty"] == [float(u) for u in cases.uncertainty]
            assert sent["accuracy"] == accuracy[m][severity]
            assert sent["mean_uncertainty"] == mean[m][severity]
    severe = data["levels"][5]["methods"]
    assert all(m["accuracy"] < c["accuracy"] for m, c in zip(severe, data["levels"][0]["methods"],
                                                            strict=True))


def test_the_label_free_estimates_are_the_cores_beside_the_truth(app):
    """The chart draws ``label_free_table``: per method the true accuracy (solid) and ATC-MC /
    DoC (dashed); the truth falls with severity and DoC's estimate falls with it."""
    from uqviz.methods import METHOD_IDS
    from uqviz.shift_analysis import label_free_table
    from uqviz.ui.backend import study

    (chart,) = [c for c in app.get("plotly_chart") if "shift_label_free" in c.proto.id]
    spec = json.loads(chart.proto.spec)
    table = label_free_table([study("digits", m, "shift") for m in METHOD_IDS], "gaussian_noise")
    ensemble = table[(table.method == "deep_ensemble") & (table.estimator == "doc")]
    (truth,) = [t for t in spec["data"] if t["name"] == "Deep ensemble" and t["xaxis"] == "x"]
    (doc,) = [t for t in spec["data"] if t["name"] == "Deep ensemble (estimated)"
              and t["xaxis"] == "x2"]
    np.testing.assert_allclose(_numbers(truth["y"]), ensemble.accuracy)
    np.testing.assert_allclose(_numbers(doc["y"]), ensemble.estimate)
    assert ensemble.accuracy.iloc[-1] < ensemble.accuracy.iloc[0]
    assert ensemble.estimate.iloc[-1] < ensemble.estimate.iloc[0]
    assert [a["text"] for a in spec["layout"]["annotations"]][:2] == ["Estimated by ATC-MC",
                                                                      "Estimated by DoC"]


def _numbers(v) -> np.ndarray:
    import base64

    if isinstance(v, dict):
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    return np.asarray(v, dtype=float)


def test_the_committed_severity_is_kept_and_linked(app):
    assert app.session_state["shift_severity"] == 3
    assert app.query_params["shift_severity"] == "3"
    before = _strip(app)
    app.session_state["shift_severity"] = 5  # as the component commits it
    app.run()
    assert not app.exception, app.exception
    after = _strip(app)
    assert after["severity"] == 5 and app.query_params["shift_severity"] == "5"
    assert after["levels"] == before["levels"] and after["id"] == before["id"]
    app.session_state["shift_severity"] = 0
    app.run()
    assert _strip(app)["severity"] == 0 and app.query_params["shift_severity"] == "0"


@pytest.mark.parametrize("text, severity", [("5", 5), ("0", 0), ("2.0", 2), ("7", 3),
                                            ("-1", 3), ("2.5", 3), ("banana", 3), ("nan", 3)])
def test_the_severity_comes_from_the_link(text, severity):
    from uqviz.ui.shift_strip import parse_severity

    assert parse_severity(text) == severity


def test_switch_corruption(app):
    app.selectbox(key="shift_corruption").set_value("fog").run()
    assert not app.exception, app.exception
    assert any("Fog" in s.value for s in app.subheader)
    app.selectbox(key="shift_corruption").set_value("gaussian_noise").run()


def test_severity_table_matches_the_core_and_degrades(app):
    from uqviz.methods import METHOD_IDS
    from uqviz.metrics.calibration import expected_calibration_error
    from uqviz.metrics.classification import accuracy, negative_log_likelihood
    from uqviz.metrics.scores import uncertainty
    from uqviz.runs import run_evaluation
    from uqviz.shift_analysis import severity_table
    from uqviz.sources import APP_CONFIG, DATA_SEED, SHIFT_PLAN
    from uqviz.ui.backend import study

    table = severity_table([study("digits", m, "shift") for m in METHOD_IDS], "gaussian_noise",
                           "entropy")
    assert list(table.severity[table.method == "softmax"]) == [0, 1, 2, 3, 4, 5]
    for method in METHOD_IDS:
        acc = table[table.method == method].set_index("severity").accuracy
        assert acc[5] < acc[1], (method, acc.to_dict())

    p = run_evaluation("digits", ["softmax"], config=APP_CONFIG, plan=SHIFT_PLAN,
                       data_seed=DATA_SEED)["softmax"]
    rows = table[table.method == "softmax"].set_index("severity")
    for severity, group in [(0, "test"), (3, "gaussian_noise:3")]:
        mask = p.group == group
        probs, labels = p.probs[:, mask].mean(axis=0), p.labels[mask]
        u = uncertainty(p.probs[:, mask], "entropy")
        correct = probs.argmax(axis=1) == labels
        # AUROC of wrong-vs-right by pair counting: P(u_wrong > u_right) + ties / 2
        diff = u[~correct][:, None] - u[correct][None, :]
        auroc = float(np.mean(diff > 0) + 0.5 * np.mean(diff == 0))
        r = rows.loc[severity]
        assert r.n == mask.sum()
        assert r.accuracy == pytest.approx(float(correct.mean()))
        assert r.accuracy == pytest.approx(accuracy(probs, labels))
        assert r.ece == pytest.approx(expected_calibration_error(probs, labels))
        assert r.nll == pytest.approx(negative_log_likelihood(probs, labels))
        assert r.mean_uncertainty == pytest.approx(float(u.mean()))
        assert r.auroc_wrong_vs_right == pytest.approx(auroc)


def test_rotated_digit_predictions(app):
    from uqviz.shifts import ROTATION_ANGLES
    from uqviz.ui.shift_backend import rotated_images, rotated_predictions

    assert rotated_images("digits", 0).shape[0] == len(ROTATION_ANGLES) == 13
    frame = rotated_predictions("digits", "softmax", 0, "entropy")
    assert list(frame.angle) == list(ROTATION_ANGLES)
    assert (frame.uncertainty >= 0).all()
    chart = next(c for c in app.get("plotly_chart") if "shift_rotation" in c.proto.id)
    assert '"Rotation (degrees)"' in chart.proto.spec or "Rotation" in chart.proto.spec
    app.number_input(key="shift_digit").set_value(5).run()
    assert not app.exception, app.exception


def _file_predictions(with_shift_groups: bool):
    from uqviz.predictions import Predictions

    rng = np.random.default_rng(0)
    blocks = [("test", 0.0)] + ([(f"gaussian_noise:{s}", 0.6 * s) for s in range(1, 6)]
                                if with_shift_groups else [])
    probs, labels, groups = [], [], []
    for group, noise in blocks:
        y = rng.integers(0, 3, 200)
        logits = 4.0 * np.eye(3)[y] + (1.0 + noise) * rng.normal(size=(200, 3))
        probs.append(np.exp(logits) / np.exp(logits).sum(1, keepdims=True))
        labels.append(y)
        groups += [group] * 200
    return {"my_model": Predictions(np.concatenate(probs), np.concatenate(labels),
                                    group=np.array(groups, dtype=object))}


@pytest.mark.parametrize("with_shift_groups", [False, True])
def test_predictions_file(monkeypatch, tmp_path, with_shift_groups):
    from uqviz.exchange import write_predictions

    path = tmp_path / f"shift{int(with_shift_groups)}.csv"
    write_predictions(_file_predictions(with_shift_groups), path)
    monkeypatch.setenv("UQVIZ_PREDICTIONS", str(path))
    at = _framed(dataset=env_dataset_name(path))
    at.run()
    assert not at.exception, at.exception
    if not with_shift_groups:
        assert any("<corruption>:<severity>" in i.value for i in at.info)
        assert len(at.get("plotly_chart")) == 0
    else:
        # curves, the label-free estimates and the summary boxes
        assert len(at.get("plotly_chart")) == 5 + 1 + 1
        data = _strip(at)
        assert not data["images"] and data["severity"] == 3
        assert all(level["pictures"] is None and level["truth"] is None
                   for level in data["levels"])
        assert [level["n"] for level in data["levels"]] == [200] * 6
        assert any(c.value == "A predictions file has no images to show." for c in at.caption)
