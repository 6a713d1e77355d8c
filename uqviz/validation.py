"""Checks of probabilities, labels and their companions, shared by the data contract
(``uqviz.predictions``), the metrics and conformal prediction.

Each check returns its input as the array the caller computes with and raises ``ValueError``
with a message that names the problem. Reading a user's file is checked earlier, row by row,
in ``uqviz.exchange`` (its messages name rows and columns of the file).

This module imports numpy only.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "check_confidence",
    "check_correct",
    "check_labels",
    "check_probs",
    "check_probs_labels",
    "check_scores_correct",
]


def check_probs(probs, *, samples: bool = False, dtype=np.float64) -> np.ndarray:
    """Finite class probabilities with C >= 2 classes, as ``dtype``.

    Args:
        probs: (N, C); with ``samples=True`` (S, N, C) or (N, C), which becomes (1, N, C).
        samples: accept (and return) S stochastic samples.
        dtype: the returned array's dtype.

    Raises:
        ValueError: wrong number of dimensions (an (S, N, C) array where (N, C) is expected is
            told to average its samples), fewer than two classes (or no sample), NaN or inf.
    """
    probs = np.asarray(probs, dtype=dtype)
    if samples:
        if probs.ndim == 2:
            probs = probs[None]
        if probs.ndim != 3:
            raise ValueError(f"probs must be (S, N, C) or (N, C), got shape {probs.shape}")
        if probs.shape[0] < 1 or probs.shape[2] < 2:
            raise ValueError(
                f"probs needs S >= 1 samples and C >= 2 classes, got shape {probs.shape}")
    else:
        if probs.ndim == 3:
            raise ValueError(
                f"probs must be (N, C); got (S, N, C) shape {probs.shape}: "
                "average the samples first (probs.mean(axis=0))"
            )
        if probs.ndim != 2:
            raise ValueError(f"probs must be (N, C), got shape {probs.shape}")
        if probs.shape[1] < 2:
            raise ValueError(f"probs needs C >= 2 classes, got shape {probs.shape}")
    if not np.isfinite(probs).all():
        raise ValueError("probs contains NaN or inf")
    return probs


def check_labels(labels, n: int, num_classes: int, *, unknown_ok: bool = False) -> np.ndarray:
    """(n,) integer class labels in ``0 … num_classes-1`` (``-1`` = unknown too when
    ``unknown_ok``), as int64.

    Raises:
        ValueError: wrong shape, non-integer dtype, or a label out of range (the message shows
            the first one).
    """
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {labels.shape}")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    labels = labels.astype(np.int64)  # a copy: the caller may keep it
    low = -1 if unknown_ok else 0
    if labels.size and (labels.min() < low or labels.max() >= num_classes):
        bad = labels[(labels < low) | (labels >= num_classes)][0]
        hint = "" if unknown_ok else " (select labelled rows first)"
        raise ValueError(f"labels must be in {low}..{num_classes - 1}{hint}, found {bad}")
    return labels


def check_probs_labels(probs, labels) -> tuple[np.ndarray, np.ndarray]:
    """Non-empty (N, C) probabilities (``check_probs``) and (N,) known labels in ``0 … C-1``
    (``check_labels``), as float64 / int64: what a metric of a predictive distribution takes."""
    probs = check_probs(probs)
    labels = check_labels(labels, *probs.shape)
    if probs.shape[0] == 0:
        raise ValueError("empty input: probs has no rows")
    return probs, labels


def check_correct(correct) -> np.ndarray:
    """A boolean or 0/1 correctness vector as bool (any shape)."""
    correct = np.asarray(correct)
    if correct.dtype != bool:
        if not np.isin(correct, (0, 1)).all():
            raise ValueError("correct must be boolean or 0/1")
        correct = correct.astype(bool)
    return correct


def check_scores_correct(uncertainty, correct) -> tuple[np.ndarray, np.ndarray]:
    """A non-empty, finite (N,) uncertainty as float64 and an (N,) boolean/0-1 correctness
    vector as bool."""
    uncertainty = np.asarray(uncertainty, dtype=np.float64)
    correct = np.asarray(correct)
    if uncertainty.ndim != 1:
        raise ValueError(f"uncertainty must be 1-D (N,), got shape {uncertainty.shape}")
    if correct.shape != uncertainty.shape:
        raise ValueError(
            f"correct must have the shape of uncertainty {uncertainty.shape}, got {correct.shape}"
        )
    if uncertainty.size == 0:
        raise ValueError("empty input: no rows")
    if not np.isfinite(uncertainty).all():
        raise ValueError("uncertainty contains NaN or inf")
    return uncertainty, check_correct(correct)


def check_confidence(confidence: float) -> float:
    """The nominal coverage of an interval, in (0, 1)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return float(confidence)
