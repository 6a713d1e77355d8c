"""The confusion-matrix heatmap: counts, row shares (checked against scikit-learn), validation."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix

from uqviz import metrics
from uqviz.plots import confusion_matrix_figure


def test_confusion_matrix_counts_and_row_shares():
    predicted = np.array([0, 0, 1, 1, 1, 2, 0])
    labels = np.array([0, 1, 1, 1, 0, 2, 2])
    counts = metrics.confusion_matrix(predicted, labels, 3)
    names = ["cat", "dog", "bird"]

    fig = confusion_matrix_figure(counts, names, normalize=False)
    (heat,) = fig.data
    np.testing.assert_array_equal(heat.z, [[1, 1, 0], [1, 2, 0], [1, 0, 1]])
    assert list(heat.x) == names and list(heat.y) == names
    assert fig.layout.xaxis.title.text == "Predicted class"
    assert fig.layout.yaxis.title.text == "True class"
    assert fig.layout.yaxis.autorange == "reversed"  # first class on top

    shares = confusion_matrix_figure(counts, names, normalize=True).data[0]
    expected = sklearn_confusion_matrix(labels, predicted, normalize="true")
    np.testing.assert_allclose(shares.z, expected)
    np.testing.assert_allclose(np.asarray(shares.z).sum(axis=1), 1.0)
    assert shares.zmax == 1.0
    np.testing.assert_array_equal(np.asarray(shares.customdata)[..., 0], counts)


def test_confusion_matrix_empty_row_and_validation():
    counts = np.array([[2, 0], [0, 0]])
    heat = confusion_matrix_figure(counts, ["a", "b"], normalize=True).data[0]
    np.testing.assert_allclose(heat.z, [[1.0, 0.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="square"):
        confusion_matrix_figure(np.zeros((2, 3)), ["a", "b"])
    with pytest.raises(ValueError, match="3 names for a 2×2"):
        confusion_matrix_figure(counts, ["a", "b", "c"])
    repeated = confusion_matrix_figure(counts, ["x", "x"]).data[0]
    assert len(set(repeated.x)) == 2
