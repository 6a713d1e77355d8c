"""The predictive distribution of one example: the mean and spread over samples."""

from __future__ import annotations

import numpy as np
import pytest

from tests.plots.figure_checks import trace_named
from uqviz import metrics
from uqviz.plots import predictive_distribution_figure


def test_predictive_distribution_mean_and_spread():
    samples = np.array([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2], [0.6, 0.1, 0.3]])
    fig = predictive_distribution_figure(samples, ["cat", "dog", "bird"], method="deep_ensemble",
                                         true_class=1)
    bars = trace_named(fig, "Mean over samples")
    np.testing.assert_allclose(bars.y, [0.6, 0.2, 0.2])
    np.testing.assert_allclose(bars.error_y.array, samples.std(axis=0))
    # the predicted class's spread is the method's variance score (divide by S)
    variance = metrics.predicted_class_variance(samples[:, None, :])[0]
    assert bars.error_y.array[0] ** 2 == pytest.approx(variance)
    assert bars.error_y.visible
    assert list(bars.marker.line.width) == [0, 3, 0]
    assert list(fig.layout.xaxis.ticktext) == ["cat", "dog", "bird"]
    assert fig.layout.yaxis.title.text == "Probability"
    assert "3 samples" in fig.layout.title.text

    strip = predictive_distribution_figure(samples, ["cat", "dog", "bird"], method="mc_dropout",
                                           style="strip")
    dots = trace_named(strip, "Samples")
    np.testing.assert_allclose(np.sort(dots.y), np.sort(samples.ravel()))
    np.testing.assert_allclose(dots.y, samples.ravel())  # sample-major, class-minor
    offsets = np.asarray(dots.x) - np.tile(np.arange(3), 3)  # dots spread across each bar
    assert np.all(np.abs(offsets) <= 0.3 + 1e-12) and np.ptp(offsets) > 0
    with pytest.raises(ValueError, match="2 names for 3 classes"):
        predictive_distribution_figure(samples, ["a", "b"], method="softmax")
