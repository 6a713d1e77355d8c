"""Row sets: one set of rows of one method, and everything read from it, computed once.

A ``RowSet`` wraps the ``Predictions`` of one set of rows (the clean test rows, the incoming
stream, a corrupted copy, an OOD set) and holds, each computed on first use and kept: the mean
probabilities, the confidence, the predicted class, right or wrong, each uncertainty score and
its sort order, and the referral index built on that order. Every table, chart, count and
browser table reads a row set, so two views of the same rows can never disagree.

Two row sets are derived from any row set and kept with it:

* ``scored``: the rows accuracy, calibration and conformal sets score
  (``Predictions.labelled_in_distribution()``: a known label, not out-of-distribution, not a
  corrupted copy, not a fit row); the row set itself when every row qualifies;
* ``ood``: its out-of-distribution rows, or None when it has none.

Counting rule (the glossary's "Incoming stream"): ``correct`` is False on a row without a label,
so an automated out-of-distribution case counts as an error.

numpy only; no torch, no streamlit.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from uqviz.metrics.scores import uncertainty
from uqviz.metrics.selective import ReferralIndex
from uqviz.predictions import Predictions

__all__ = ["RowSet"]


class RowSet:
    """One set of rows of one method and what is derived from it, each computed once.

    Args:
        predictions: the rows.
    """

    def __init__(self, predictions: Predictions) -> None:
        if not isinstance(predictions, Predictions):
            raise ValueError(f"a row set holds Predictions, got {type(predictions).__name__}")
        self.predictions = predictions
        self._scores: dict[str, np.ndarray] = {}
        self._indexes: dict[str, ReferralIndex] = {}

    def __repr__(self) -> str:
        return f"RowSet({self.method!r}, n={self.n})"

    # -- shape -------------------------------------------------------------------------------
    @property
    def method(self) -> str:
        return self.predictions.method

    @property
    def n(self) -> int:
        return self.predictions.n

    @property
    def num_classes(self) -> int:
        return self.predictions.num_classes

    @property
    def num_samples(self) -> int:
        return self.predictions.num_samples

    @property
    def labels(self) -> np.ndarray:
        """(N,) true class, -1 when unknown."""
        return self.predictions.labels

    @property
    def names(self) -> tuple[str, ...]:
        return self.predictions.names

    # -- derived once ------------------------------------------------------------------------
    @cached_property
    def mean_probs(self) -> np.ndarray:
        """(N, C) predictive distribution: the mean over samples."""
        return self.predictions.mean_probs

    @cached_property
    def confidence(self) -> np.ndarray:
        """(N,) probability of the predicted class."""
        return self.mean_probs.max(axis=1)

    @cached_property
    def predicted(self) -> np.ndarray:
        """(N,) predicted class: argmax of the mean probabilities."""
        return self.mean_probs.argmax(axis=1)

    @cached_property
    def correct(self) -> np.ndarray:
        """(N,) bool: the prediction is right; False on a row without a label (an automated
        out-of-distribution case is an error)."""
        return (self.labels >= 0) & (self.predicted == self.labels)

    def uncertainty(self, score: str) -> np.ndarray:
        """(N,) uncertainty under ``score`` (a key of ``UNCERTAINTY_SCORES``), higher = more
        uncertain."""
        if score not in self._scores:
            self._scores[score] = uncertainty(self.predictions.probs, score)
        return self._scores[score]

    def referral_index(self, score: str) -> ReferralIndex:
        """The one sort of these rows by ``score``: every referral query is a search."""
        if score not in self._indexes:
            self._indexes[score] = ReferralIndex.from_scores(self.uncertainty(score),
                                                             self.correct)
        return self._indexes[score]

    def order(self, score: str) -> np.ndarray:
        """(N,) row positions from least to most uncertain under ``score`` (stable)."""
        return self.referral_index(score).order

    # -- the row sets derived from this one --------------------------------------------------
    @cached_property
    def scored(self) -> RowSet:
        """The labelled in-distribution rows (module docstring); this row set when every row
        is one.

        Raises:
            ValueError: when there is none.
        """
        p = self.predictions
        keep = (p.labels >= 0) & ~p.is_ood & ~p.is_shifted & ~p.is_fit
        if keep.all():
            return self
        if not keep.any():
            raise ValueError(
                f"method {self.method!r} has no labelled in-distribution rows to score "
                f"(labels all -1 or every row OOD or corrupted, N={self.n})")
        return RowSet(p.select(keep))

    @cached_property
    def ood(self) -> RowSet | None:
        """The out-of-distribution rows, or None when there is none."""
        p = self.predictions
        return RowSet(p.ood_rows()) if p.is_ood.any() else None
