"""Builders the Conformal and Dataset-shift pages hand finished results to: per-class coverage,
the coverage curve with the average over splits, compact severity lines, the rotated digit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.plots.figure_checks import trace_named
from uqviz.conformal import ConformalSplit, class_coverage
from uqviz.plots import METHOD_COLORS, conformal_curve_figure, metric_vs_severity_figure
from uqviz.plots.conformal import class_coverage_figure
from uqviz.plots.shift import rotation_figure
from uqviz.plots.theme import CORRECT_COLOR, MUTED_COLOR, WRONG_COLOR


def test_class_coverage_bars_whiskers_and_target(data):
    probs, labels, _, _ = data
    result = ConformalSplit(probs, labels, seed=0).sets(0.2)
    per_class = class_coverage(result, labels)
    fig = class_coverage_figure(per_class, ("a", "b", "c", "d"))
    (bar,) = fig.data
    assert list(bar.x) == ["a", "b", "c", "d"]
    np.testing.assert_allclose(bar.y, result.per_class_coverage)
    np.testing.assert_array_equal(bar.customdata, per_class.counts)
    np.testing.assert_allclose(bar.error_y.array, per_class.high - per_class.coverage)
    np.testing.assert_allclose(bar.error_y.arrayminus, per_class.coverage - per_class.low)
    (target,) = fig.layout.shapes
    assert target.y0 == target.y1 == pytest.approx(0.8)
    assert target.line.color == WRONG_COLOR and target.line.dash == "dash"
    assert fig.layout.xaxis.title.text == "True class" and fig.layout.xaxis.type == "category"
    assert fig.layout.yaxis.title.text == "Share of its images covered"
    assert fig.layout.title.text == "Coverage per true class"
    with pytest.raises(ValueError, match="4 classes of coverage for 3 class names"):
        class_coverage_figure(per_class, ("a", "b", "c"))


def test_conformal_curve_with_average_marked_alpha_and_legend_below(data):
    probs, labels, _, _ = data
    alphas = np.array([0.05, 0.1, 0.2, 0.3])
    split = ConformalSplit(probs, labels, seed=0)
    curve, average = split.curve(alphas), split.draws(alphas[::-1], 5)
    fig = conformal_curve_figure(curve, title="t", height=460, average=average,
                                 marked_alpha=0.1, legend_below=True)
    line = trace_named(fig, "Average of 5 splits")
    np.testing.assert_allclose(line.x, [0.7, 0.8, 0.9, 0.95])  # sorted by target 1 − α
    np.testing.assert_allclose(line.y, average.coverage)  # its alphas run 0.3 … 0.05
    assert line.line.color == CORRECT_COLOR and line.xaxis == "x"
    marks = [s for s in fig.layout.shapes if s.line.dash == "dot"]
    assert len(marks) == 2  # one per panel
    assert all(s.x0 == s.x1 == pytest.approx(0.9) and s.line.color == MUTED_COLOR for s in marks)
    assert fig.layout.legend.orientation == "h" and fig.layout.legend.y == -0.2
    assert fig.layout.height == 460 and fig.layout.title.text == "t"
    assert fig.layout.xaxis.title.text == "Target coverage 1 − α"

    plain = conformal_curve_figure(curve)
    assert "Average of 5 splits" not in [t.name for t in plain.data]
    assert not plain.layout.shapes and plain.layout.legend.orientation is None


def test_compact_metric_vs_severity():
    values = {"softmax": np.array([0.9, 0.7]), "mc_dropout": np.array([0.92, 0.8])}
    fig = metric_vs_severity_figure([0, 3], values, metric_label="Accuracy", title="Accuracy",
                                    y_title=False, x_title="Severity (0 = clean)",
                                    showlegend=False, compact=True)
    np.testing.assert_allclose(trace_named(fig, "Softmax").y, [0.9, 0.7])
    assert fig.layout.xaxis.title.text == "Severity (0 = clean)"
    assert fig.layout.yaxis.title.text is None
    assert fig.layout.showlegend is False
    assert fig.layout.margin.l == 50 and fig.layout.legend.orientation == "h"
    default = metric_vs_severity_figure([0, 3], values, metric_label="Accuracy")
    assert default.layout.yaxis.title.text == "Accuracy"
    assert default.layout.showlegend is True and default.layout.margin.l is None


def test_rotation_lines_labels_and_axes():
    frame = pd.DataFrame({"method": "softmax", "angle": [0, 90, 180], "predicted": [1, 1, 0],
                          "confidence": [0.9, 0.6, 0.5], "uncertainty": [0.1, 0.5, 0.7]})
    other = frame.assign(method="deep_ensemble", uncertainty=[0.2, 0.9, 1.0])
    fig = rotation_figure({"softmax": frame, "deep_ensemble": other}, class_names=("zero", "one"),
                          score_label="Entropy", angles=[0, 90, 180])
    soft = trace_named(fig, "Softmax")
    assert list(soft.x) == [0, 90, 180]
    np.testing.assert_allclose(soft.y, [0.1, 0.5, 0.7])
    assert list(soft.text) == ["one", "one", "zero"]
    assert soft.line.color == METHOD_COLORS["softmax"]
    assert [row[0] for row in soft.customdata] == ["one", "one", "zero"]
    np.testing.assert_allclose(trace_named(fig, "Deep ensemble").y, [0.2, 0.9, 1.0])
    assert fig.layout.xaxis.title.text == "Rotation (degrees)"
    assert list(fig.layout.xaxis.tickvals) == [0, 90, 180]
    assert fig.layout.yaxis.title.text == "Entropy"
    assert "digit turns" in fig.layout.title.text
    with pytest.raises(ValueError, match="at least one method"):
        rotation_figure({}, class_names=("a",), score_label="Entropy")
