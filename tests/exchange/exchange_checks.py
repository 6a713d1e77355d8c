"""What the exchange tests share: the message a file fails with, and that two reads give the same
predictions."""

from __future__ import annotations

import numpy as np
import pytest

from uqviz.exchange import LoadedPredictions, PredictionsFileError, read_predictions


def read_error(path, **kwargs) -> str:
    """The one-line message that reading ``path`` fails with."""
    with pytest.raises(PredictionsFileError) as info:
        read_predictions(path, **kwargs)
    return str(info.value)


def assert_identical(a: LoadedPredictions, b: LoadedPredictions) -> None:
    """The same methods with the same arrays (ids included), row for row."""
    assert sorted(a.by_method) == sorted(b.by_method)
    for key, p in a.by_method.items():
        q = b.by_method[key]
        np.testing.assert_array_equal(p.probs, q.probs)
        np.testing.assert_array_equal(p.labels, q.labels)
        assert list(p.group) == list(q.group)
        np.testing.assert_array_equal(p.is_ood, q.is_ood)
        assert p.ids.dtype == q.ids.dtype
        assert list(p.ids) == list(q.ids)
