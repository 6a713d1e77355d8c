"""Conformal figures: coverage and set size against the target, and the set-size histogram."""

from __future__ import annotations

import numpy as np
import pytest

from tests.plots.figure_checks import tick_labels, trace_named
from uqviz.conformal import ConformalSplit
from uqviz.plots import (
    conformal_curve_figure,
    coverage_vs_alpha_figure,
    set_size_histogram_figure,
)


def test_coverage_vs_alpha_from_a_conformal_curve(data):
    probs, labels, _, _ = data
    alphas = np.array([0.3, 0.05, 0.1, 0.2])
    curve = ConformalSplit(probs.astype(np.float32), labels, seed=0).curve(alphas)
    fig = conformal_curve_figure(curve)
    empirical = trace_named(fig, "Empirical coverage")
    order = np.argsort(1 - alphas)
    np.testing.assert_allclose(empirical.x, (1 - alphas)[order])
    np.testing.assert_allclose(empirical.y, curve.coverage[order])
    sizes = trace_named(fig, "Mean set size")
    np.testing.assert_allclose(sizes.y, curve.mean_set_size[order])
    assert sizes.xaxis == "x2"
    diagonal = trace_named(fig, "Target: coverage = 1 − α")
    assert list(diagonal.x) == list(diagonal.y) == [0.7, 0.95]
    band = trace_named(fig, "95% interval")
    np.testing.assert_allclose(band.y, curve.coverage_low[order])
    assert fig.layout.xaxis.title.text == "Target coverage 1 − α"
    assert fig.layout.yaxis.title.text == "Empirical test coverage"
    assert fig.layout.yaxis2.title.text == "Mean classes per set"
    assert "LAC" in fig.layout.title.text

    plain = coverage_vs_alpha_figure([0.1, 0.2], [0.91, 0.8], [1.5, 1.1])
    assert "95% interval" not in [t.name for t in plain.data]
    with pytest.raises(ValueError, match="equal length"):
        coverage_vs_alpha_figure([0.1, 0.2], [0.9], [1.5, 1.1])


def test_set_size_histogram(data):
    probs, labels, _, _ = data
    result = ConformalSplit(probs.astype(np.float32), labels, seed=0).sets(0.1)
    fig = set_size_histogram_figure(result.set_sizes, num_classes=4)
    (hist,) = fig.data
    np.testing.assert_array_equal(hist.x, result.set_sizes)
    assert hist.xbins.start == -0.5 and hist.xbins.size == 1 and hist.xbins.end == 4.5
    assert hist.histnorm == "probability"
    assert fig.layout.xaxis.title.text == "Classes in the prediction set"
    with pytest.raises(ValueError, match="integers"):
        set_size_histogram_figure(np.array([1.5, 2.0]))


def test_coverage_axes_stay_in_zero_one():
    """Coverage 100% at every α (every set holds every class) and a dotted line at 1 − 0.05:
    both coverage axes inside [0, 1], holding everything drawn, ticks labelled apart."""
    fig = coverage_vs_alpha_figure([0.1, 0.2, 0.3], [1.0, 1.0, 1.0], [4.0, 4.0, 4.0],
                                   coverage_low=[0.97, 0.97, 0.97],
                                   coverage_high=[1.0, 1.0, 1.0])
    for axis, shown in ((fig.layout.xaxis, [0.7, 0.9]), (fig.layout.yaxis, [0.7, 1.0])):
        lo, hi = axis.range
        assert 0.0 <= lo <= min(shown) and max(shown) <= hi <= 1.0, (lo, hi)
        labels = tick_labels(axis)
        assert len(set(labels)) == len(labels) >= 2, labels
    hist = set_size_histogram_figure(np.array([1, 1, 1, 2]), num_classes=3)
    lo, hi = hist.layout.yaxis.range
    assert lo == 0.0 and 0.75 <= hi <= 1.0  # bars start at 0
