"""Shift figures: a metric per severity as lines with intervals, and as grouped boxes."""

from __future__ import annotations

import numpy as np
import pytest

from tests.plots.figure_checks import tick_labels, trace_named
from uqviz.plots import (
    METHOD_COLORS,
    box_by_severity_figure,
    method_label,
    metric_vs_severity_figure,
)


def test_metric_vs_severity_lines_and_intervals():
    severity = [0, 1, 2, 3]
    values = {"softmax": np.array([0.9, 0.8, 0.6, 0.5]),
              "deep_ensemble": np.array([0.92, 0.85, 0.7, 0.6])}
    lower = values["softmax"] - 0.02
    upper = values["softmax"] + 0.03
    fig = metric_vs_severity_figure(severity, values, metric_label="Accuracy",
                                    intervals_by_method={"softmax": (lower, upper)},
                                    tickformat=".0%")
    for method, y in values.items():
        trace = trace_named(fig, method_label(method))
        assert list(trace.x) == severity
        np.testing.assert_allclose(trace.y, y)
    soft = trace_named(fig, "Softmax")
    np.testing.assert_allclose(soft.error_y.array, 0.03)
    np.testing.assert_allclose(soft.error_y.arrayminus, 0.02)
    assert trace_named(fig, "Deep ensemble").error_y.array is None
    assert fig.layout.yaxis.title.text == "Accuracy"
    assert fig.layout.xaxis.title.text.startswith("Shift severity")
    with pytest.raises(ValueError, match="3 entries for 4 severities"):
        metric_vs_severity_figure(severity, {"softmax": [1, 2, 3]}, metric_label="ECE")


def test_box_by_severity_groups_values():
    values = {"softmax": {1: [0.1, 0.2], 2: [0.3]}, "mc_dropout": {1: [0.05], 2: [0.2, 0.25]}}
    fig = box_by_severity_figure(values, metric_label="ECE")
    soft = trace_named(fig, "Softmax")
    assert list(soft.x) == ["1", "1", "2"]
    np.testing.assert_allclose(soft.y, [0.1, 0.2, 0.3])
    assert soft.marker.color == METHOD_COLORS["softmax"]
    assert list(trace_named(fig, "MC dropout").x) == ["1", "2", "2"]
    assert fig.layout.boxmode == "group"
    assert list(fig.layout.xaxis.categoryarray) == ["1", "2"]
    assert fig.layout.yaxis.title.text == "ECE"


def test_flat_accuracy_stays_inside_zero_one():
    """A user's model whose accuracy does not move with severity: Plotly alone pads a flat line
    by ±1 (−50% to 150%); the axis of a rate stays inside [0, 1] and around the line."""
    for level in (0.5, 0.0, 1.0, 0.973):
        fig = metric_vs_severity_figure(range(6), {"my_model": np.full(6, level)},
                                        metric_label="Accuracy", tickformat=".0%")
        lo, hi = fig.layout.yaxis.range
        assert 0.0 <= lo <= level <= hi <= 1.0, (level, lo, hi)
        assert hi - lo <= 0.2
        labels = tick_labels(fig.layout.yaxis)
        assert len(labels) >= 2 and len(set(labels)) == len(labels), labels
        assert all(label.endswith("%") for label in labels)


def test_close_auroc_values_get_distinct_tick_labels():
    """AUROC 0.505 and 0.512 once shared the label "0.51" on two ticks; the page's ".2f" only
    says "not a percent", the digits follow the ticks' step."""
    values = {"softmax": np.array([0.505, 0.512, 0.508]),
              "deep_ensemble": np.array([0.507, 0.51, 0.506])}
    for rate in (None, True):
        fig = metric_vs_severity_figure([0, 1, 2], values, metric_label="AUROC wrong vs right",
                                        tickformat=".2f", rate=rate)
        lo, hi = fig.layout.yaxis.range
        assert 0.0 <= lo <= 0.505 and 0.512 <= hi <= 1.0
        labels = tick_labels(fig.layout.yaxis)
        assert len(labels) >= 2 and len(set(labels)) == len(labels), labels
        assert not any(label.endswith("%") for label in labels)


def test_boxes_of_a_rate_and_of_another_metric():
    rates = {"softmax": {1: [0.5, 0.5], 2: [0.5]}}
    fig = box_by_severity_figure(rates, metric_label="Accuracy", tickformat=".0%")
    lo, hi = fig.layout.yaxis.range
    assert 0.0 <= lo < 0.5 < hi <= 1.0
    nll = {"softmax": {1: [1.8, 2.4], 2: [3.1]}}
    fig = box_by_severity_figure(nll, metric_label="NLL", tickformat=".2f")
    lo, hi = fig.layout.yaxis.range
    assert 0.0 <= lo <= 1.8 and hi >= 3.1  # not a rate: may pass 1
    labels = tick_labels(fig.layout.yaxis)
    assert len(set(labels)) == len(labels) >= 2
