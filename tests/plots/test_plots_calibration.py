"""Reliability diagrams draw exactly the bins ``uqviz.metrics.reliability_bins`` computed."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from tests.plots.figure_checks import trace_named
from uqviz import metrics
from uqviz.plots import (
    ACCENT,
    METHOD_COLORS,
    method_label,
    reliability_figure,
    reliability_overlay_figure,
)


def _uses_uqviz_template(fig: go.Figure) -> bool:
    return fig.layout.template.layout.colorway[0] == ACCENT


# -- reliability -------------------------------------------------------------------------------
def test_reliability_figure_draws_the_bins(data):
    probs, labels, _, _ = data
    bins = metrics.reliability_bins(probs, labels, n_bins=10)
    fig = reliability_figure(bins, method="deep_ensemble")

    accuracy_bars = trace_named(fig, "Accuracy in bin")
    np.testing.assert_allclose(np.asarray(accuracy_bars.y, float), bins.accuracy, equal_nan=True)
    np.testing.assert_allclose(accuracy_bars.x, (bins.lower + bins.upper) / 2)
    assert accuracy_bars.marker.color == METHOD_COLORS["deep_ensemble"]

    gap = trace_named(fig, "Gap to confidence")
    np.testing.assert_allclose(np.asarray(gap.base, float), bins.accuracy, equal_nan=True)
    np.testing.assert_allclose(np.asarray(gap.y, float), bins.gap, equal_nan=True)
    # the gap bar ends at the mean confidence of the bin
    filled = bins.count > 0
    np.testing.assert_allclose((np.asarray(gap.base, float) + np.asarray(gap.y, float))[filled],
                               bins.confidence[filled])

    diagonal = trace_named(fig, "Perfect calibration")
    assert list(diagonal.x) == [0.0, 1.0] and list(diagonal.y) == [0.0, 1.0]
    assert diagonal.line.dash == "dash"

    counts = trace_named(fig, "Rows in bin")
    np.testing.assert_array_equal(counts.y, bins.count)
    assert counts.yaxis == "y2" and accuracy_bars.yaxis == "y"
    assert fig.layout.xaxis.matches == "x2" or fig.layout.xaxis2.matches == "x"  # shared x

    assert fig.layout.yaxis.title.text == "Accuracy"
    assert fig.layout.yaxis2.title.text == "Rows"
    assert fig.layout.xaxis2.title.text.startswith("Confidence")
    ece = metrics.expected_calibration_error(probs, labels, n_bins=10)
    assert f"ECE {ece:.3f}" in fig.layout.title.text
    assert "Deep ensemble" in fig.layout.title.text
    for word in ("Rows", "Accuracy", "Mean confidence", "Gap"):
        assert word in accuracy_bars.hovertemplate
    assert fig.layout.barmode == "overlay"
    assert _uses_uqviz_template(fig)
    fig.to_json()  # NaN of empty bins serialises


def test_reliability_figure_quantile_bins_show_adaptive_ece(data):
    probs, labels, _, _ = data
    bins = metrics.reliability_bins(probs, labels, n_bins=8, strategy="quantile")
    fig = reliability_figure(bins, method="softmax", title="Clean test set")
    adaptive = metrics.adaptive_calibration_error(probs, labels, n_bins=8)
    assert fig.layout.title.text == f"Clean test set · adaptive ECE {adaptive:.3f}"
    np.testing.assert_array_equal(trace_named(fig, "Rows in bin").y, bins.count)
    assert trace_named(fig, "Rows in bin").y.sum() == probs.shape[0]


def test_reliability_overlay_one_line_per_method(data):
    probs, labels, _, _ = data
    sharpened = probs**2 / (probs**2).sum(axis=1, keepdims=True)
    by_method = {"softmax": metrics.reliability_bins(probs, labels),
                 "temperature": metrics.reliability_bins(sharpened, labels)}
    fig = reliability_overlay_figure(by_method)
    assert trace_named(fig, "Perfect calibration").line.dash == "dash"
    for method, bins in by_method.items():
        trace = trace_named(fig, f"{method_label(method)} (ECE {bins.ece:.3f})")
        np.testing.assert_allclose(np.asarray(trace.x, float), bins.confidence, equal_nan=True)
        np.testing.assert_allclose(np.asarray(trace.y, float), bins.accuracy, equal_nan=True)
        assert trace.line.color == METHOD_COLORS[method]
    assert fig.layout.xaxis.title.text == "Mean confidence in bin"
    assert fig.layout.yaxis.title.text == "Accuracy in bin"
