"""Score histograms: correct vs wrong and in vs out of distribution, in the house colours."""

from __future__ import annotations

import numpy as np
import pytest

from tests.plots.figure_checks import trace_named
from uqviz.plots import (
    CORRECT_COLOR,
    IN_DISTRIBUTION_COLOR,
    OUT_OF_DISTRIBUTION_COLOR,
    WRONG_COLOR,
    in_out_histogram_figure,
    score_histogram_figure,
)


def test_score_histogram_correct_vs_wrong(data):
    _, _, correct, uncertainty = data
    fig = score_histogram_figure(uncertainty[correct], uncertainty[~correct],
                                 score_label="Predictive entropy", method="mc_dropout")
    right = trace_named(fig, f"Correct (n={correct.sum():,})")
    wrong = trace_named(fig, f"Wrong (n={(~correct).sum():,})")
    np.testing.assert_allclose(right.x, uncertainty[correct], rtol=1e-6)
    np.testing.assert_allclose(wrong.x, uncertainty[~correct], rtol=1e-6)
    assert right.histnorm == wrong.histnorm == "probability"
    assert right.bingroup == wrong.bingroup  # same bins for both groups
    assert right.marker.color == CORRECT_COLOR and wrong.marker.color == WRONG_COLOR
    assert fig.layout.barmode == "overlay"
    assert fig.layout.xaxis.title.text == "Predictive entropy"
    assert fig.layout.yaxis.title.text == "Share of the rows in each group"
    assert "MC dropout" in fig.layout.title.text


def test_in_out_histogram_colours_and_names():
    fig = in_out_histogram_figure([0.1, 0.2, 0.3], [0.7, 0.9], score_label="Entropy",
                                  method="softmax", out_name="SVHN")
    inside, outside = fig.data
    assert inside.name == "In-distribution (n=3)" and outside.name == "SVHN (n=2)"
    assert inside.marker.color == IN_DISTRIBUTION_COLOR
    assert outside.marker.color == OUT_OF_DISTRIBUTION_COLOR
    np.testing.assert_allclose(outside.x, [0.7, 0.9], rtol=1e-6)
    with pytest.raises(ValueError, match="in_scores must be 1-D"):
        in_out_histogram_figure(np.zeros((2, 2)), [0.1], score_label="E", method="softmax")
