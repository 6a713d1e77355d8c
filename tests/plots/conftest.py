"""The figure tests' shared predictions: 600 rows, 4 classes, right about 70% of the time."""

from __future__ import annotations

import pytest

from tests.plots.figure_checks import synthetic_predictions
from uqviz import metrics


@pytest.fixture(scope="module")
def data():
    probs, labels = synthetic_predictions(600, 4, seed=0)
    correct = probs.argmax(axis=1) == labels
    return probs, labels, correct, metrics.uncertainty(probs, "entropy")
