"""Shift figures: a metric per severity as lines with intervals, and as grouped boxes."""

from __future__ import annotations

import numpy as np
import pytest

from tests.plots.figure_checks import trace_named
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
