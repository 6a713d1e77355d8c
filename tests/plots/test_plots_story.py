"""The Story page's figures: one bar per method with its interval, and the guarantee."""

import pytest

from uqviz.plots.story import estimates_figure, guarantee_figure


def test_estimates_figure_draws_values_and_asymmetric_intervals():
    fig = estimates_figure({"softmax": (0.9, 0.85, 0.93), "deep_ensemble": (0.95, 0.9, 0.97)},
                           x_title="Accuracy", x_range=(0.5, 1.0))
    (bar,) = fig.data
    assert list(bar.y) == ["Softmax", "Deep ensemble"] and list(bar.x) == [0.9, 0.95]
    assert list(bar.error_x.array) == pytest.approx([0.03, 0.02])
    assert list(bar.error_x.arrayminus) == pytest.approx([0.05, 0.05])
    assert fig.layout.xaxis.title.text == "Accuracy"


def test_guarantee_figure_shows_the_bound_and_both_parts_against_the_target():
    fig = guarantee_figure(certified=0.95, calibration=0.97, heldout=(0.96, 0.94, 0.98),
                           target=0.95)
    (bar,) = fig.data
    assert list(bar.y) == ["Guaranteed (lower bound)", "Calibration half", "Held-out half"]
    assert list(bar.x) == [0.95, 0.97, 0.96]
    assert fig.layout.shapes[0].x0 == 0.95  # the target line
    without = guarantee_figure(certified=0.9, calibration=0.92, heldout=None, target=0.95)
    assert len(without.data[0].y) == 2
