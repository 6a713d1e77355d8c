"""Risk–coverage and referral figures: hand-worked curves, downsampling, the operating point."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from tests.plots.figure_checks import synthetic_predictions, tick_labels, trace_named
from uqviz import metrics
from uqviz.plots import METHOD_COLORS, referral_curve_figure, risk_coverage_figure


# -- risk–coverage -----------------------------------------------------------------------------
def test_risk_coverage_hand_worked_curve_and_aurc_in_legend():
    # most confident first: right, wrong, right, wrong -> risk 0, 1/2, 1/3, 1/2
    uncertainty = np.array([0.4, 0.1, 0.3, 0.2])
    correct = np.array([False, True, True, False])
    curve = metrics.risk_coverage_curve(uncertainty, correct)
    fig = risk_coverage_figure({"mc_dropout": curve})
    (trace,) = fig.data
    assert isinstance(trace, go.Scatter)
    np.testing.assert_allclose(trace.x, [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(trace.y, [0.0, 1 / 2, 1 / 3, 1 / 2])
    aurc = (0 + 1 / 2 + 1 / 3 + 1 / 2) / 4
    assert trace.name == f"MC dropout · AURC {aurc:.4f}"
    assert trace.line.color == METHOD_COLORS["mc_dropout"]
    np.testing.assert_allclose(trace.customdata, [0.1, 0.2, 0.3, 0.4])  # thresholds
    assert fig.layout.xaxis.title.text.startswith("Coverage")
    assert fig.layout.yaxis.title.text.startswith("Selective risk")


def test_risk_coverage_downsampled_to_webgl_keeping_the_ends():
    probs, labels = synthetic_predictions(5000, 3, seed=1)
    correct = probs.argmax(axis=1) == labels
    curves = {"softmax": metrics.risk_coverage_curve(1 - probs.max(axis=1), correct),
              "deep_ensemble": metrics.risk_coverage_curve(metrics.entropy(probs), correct)}
    fig = risk_coverage_figure(curves)
    for trace, (method, curve) in zip(fig.data, curves.items(), strict=True):
        assert isinstance(trace, go.Scattergl)
        assert len(trace.x) <= 2000 and len(trace.x) == len(trace.y)
        assert trace.x[0] == curve.coverage[0] and trace.x[-1] == 1.0
        assert trace.y[0] == curve.risk[0] and trace.y[-1] == curve.risk[-1]
        assert f"AURC {metrics.area_under_risk_coverage(1 - probs.max(axis=1), correct):.4f}" \
            in fig.data[0].name
        assert trace.line.color == METHOD_COLORS[method]
    small = risk_coverage_figure(curves, max_points=50)
    assert all(len(t.x) == 50 and isinstance(t, go.Scatter) for t in small.data)
    assert small.data[0].x[-1] == 1.0


# -- referral ----------------------------------------------------------------------------------
def test_referral_curve_with_operating_point():
    uncertainty = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    correct = np.array([True, True, True, False, True, True, False, False])
    curve = metrics.referral_curve(uncertainty, correct)
    point = metrics.ReferralIndex.from_scores(uncertainty, correct).at_threshold(0.6)
    # refer 0.7 and 0.8 (2 of 8); the 6 automated hold 5 right
    assert point.n_referred == 2 and point.automated_accuracy == pytest.approx(5 / 6)
    fig = referral_curve_figure(curve, method="temperature", operating_point=point,
                                operating_method="temperature")

    line = trace_named(fig, "Temperature scaling")
    np.testing.assert_allclose(line.x, np.arange(8) / 8)
    # refer j most uncertain, accuracy of the rest: j=0 -> 5/8, j=1 -> 5/7, j=2 -> 5/6 ...
    np.testing.assert_allclose(line.y[:4], [5 / 8, 5 / 7, 5 / 6, 4 / 5])
    assert line.line.color == METHOD_COLORS["temperature"]
    baseline = trace_named(fig, "Temperature scaling: random referral")
    np.testing.assert_allclose(baseline.y, np.full(8, 5 / 8))
    assert baseline.line.dash == "dash" and baseline.line.color == line.line.color

    marker = trace_named(fig, "Operating point")
    assert list(marker.x) == [0.25] and marker.y[0] == pytest.approx(5 / 6)
    assert marker.marker.color == METHOD_COLORS["temperature"]
    lo, hi = point.automated_accuracy_ci
    assert marker.error_y.array[0] == pytest.approx(hi - 5 / 6)
    assert marker.error_y.arrayminus[0] == pytest.approx(5 / 6 - lo)
    (note,) = fig.layout.annotations
    assert "Refer 25.0% (2 cases)" in note.text and "83.3%" in note.text
    assert any(shape.x0 == 0.25 and shape.x1 == 0.25 for shape in fig.layout.shapes)
    assert fig.layout.xaxis.title.text == "Share of cases referred to a human"
    assert fig.layout.yaxis.title.text == "Accuracy on the automated cases"


def test_referral_everything_referred_has_no_marker():
    uncertainty = np.array([0.1, 0.2, 0.3])
    correct = np.array([False, True, True])  # the most confident row is wrong
    index = metrics.ReferralIndex.from_scores(uncertainty, correct)
    point = index.for_target_accuracy(1.0)  # no threshold reaches 100% on these rows
    assert not point.reached
    fig = referral_curve_figure({"softmax": metrics.referral_curve(uncertainty, correct)},
                                operating_point=point)
    assert "Operating point" not in [t.name for t in fig.data]
    assert "Every case referred" in fig.layout.annotations[0].text


def test_rate_axes_of_a_model_that_is_always_right_stay_in_zero_one():
    """Accuracy 100% at every share referred, risk 0 at every coverage: flat lines that Plotly
    alone would pad to −100%…300%."""
    uncertainty = np.linspace(0.1, 0.9, 9)
    correct = np.ones(9, dtype=bool)
    for fig in (referral_curve_figure(metrics.referral_curve(uncertainty, correct)),
                risk_coverage_figure({"softmax": metrics.risk_coverage_curve(uncertainty,
                                                                             correct)})):
        for axis in (fig.layout.xaxis, fig.layout.yaxis):
            lo, hi = axis.range
            assert 0.0 <= lo < hi <= 1.0, (axis.title.text, lo, hi)
            labels = tick_labels(axis)
            assert len(set(labels)) == len(labels) >= 2, labels
