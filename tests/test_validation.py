"""One validation of probabilities and labels (uqviz.validation): the data contract, the metrics
and conformal prediction reject the same inputs with the same message."""

import numpy as np
import pytest

from uqviz.conformal import ConformalSplit
from uqviz.metrics import accuracy
from uqviz.predictions import Predictions
from uqviz.validation import (
    check_labels,
    check_probs,
    check_probs_labels,
    check_scores_correct,
)

PROBS = np.full((6, 3), 1 / 3)
LABELS = np.array([0, 1, 2, 0, 1, 2])


def _message(fn, *args, **kwargs) -> str:
    with pytest.raises(ValueError) as err:
        fn(*args, **kwargs)
    return str(err.value)


@pytest.mark.parametrize("labels, expected", [
    (np.array([0, 1, 2, 0, 1]), "labels must have shape (6,), got (5,)"),
    (LABELS.astype(float), "labels must be integers, got dtype float64"),
    (np.array([0, 1, 2, 7, 1, 2]), "labels must be in 0..2 (select labelled rows first), found 7"),
    (np.array([0, 1, -1, 0, 1, 2]),
     "labels must be in 0..2 (select labelled rows first), found -1"),
])
def test_metrics_and_conformal_share_the_label_messages(labels, expected):
    assert _message(check_labels, labels, 6, 3) == expected
    assert _message(accuracy, PROBS, labels) == expected
    assert _message(ConformalSplit, PROBS, labels) == expected


def test_predictions_accept_unknown_labels_only():
    assert Predictions(PROBS, np.r_[LABELS[:-1], -1]).labels[-1] == -1
    expected = "labels must be in -1..2, found 7"
    assert _message(Predictions, PROBS, np.r_[LABELS[:-1], 7]) == expected
    assert _message(check_labels, np.r_[LABELS[:-1], 7], 6, 3, unknown_ok=True) == expected
    assert _message(Predictions, PROBS, LABELS[:2]) == "labels must have shape (6,), got (2,)"


def test_probability_messages():
    bad = PROBS.copy()
    bad[2, 1] = np.nan
    for fn in (lambda p: accuracy(p, LABELS), lambda p: ConformalSplit(p, LABELS),
               lambda p: Predictions(p, LABELS)):
        assert _message(fn, bad) == "probs contains NaN or inf"
    stacked = "average the samples first"
    assert stacked in _message(accuracy, PROBS[None], LABELS)
    assert stacked in _message(ConformalSplit, PROBS[None], LABELS)
    assert _message(check_probs, PROBS[:, :1]) == "probs needs C >= 2 classes, got shape (6, 1)"
    assert "S >= 1 samples and C >= 2" in _message(Predictions, PROBS[:, :1], LABELS)
    assert "(S, N, C) or (N, C)" in _message(Predictions, PROBS[None, None], LABELS)


def test_returned_arrays():
    probs, labels = check_probs_labels(PROBS.astype(np.float32), LABELS.astype(np.int32))
    assert probs.dtype == np.float64 and labels.dtype == np.int64
    assert check_probs(PROBS, samples=True, dtype=np.float32).shape == (1, 6, 3)
    assert _message(check_probs_labels, PROBS[:0], LABELS[:0]) == "empty input: probs has no rows"
    u, correct = check_scores_correct([0.1, 0.2], [1, 0])
    assert u.dtype == np.float64 and correct.tolist() == [True, False]
    assert _message(check_scores_correct, [0.1, 0.2], [2, 0]) == "correct must be boolean or 0/1"
