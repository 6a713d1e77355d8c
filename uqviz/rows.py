"""Row sets: one set of rows of one method, and everything read from it, computed once.

A ``RowSet`` wraps the ``Predictions`` of one set of rows (the clean test rows, the incoming
stream, a corrupted copy, an OOD set) and holds, each computed on first use and kept: the mean
probabilities, the confidence, the predicted class, right or wrong, each uncertainty score and
its sort order, and the referral index built on that order. Every table, chart, count and
browser table reads a row set, so two views of the same rows can never disagree.

**Scores.** A score is a probability score of ``UNCERTAINTY_SCORES`` (from ``probs``) or a
logit / feature score of ``LOGIT_FEATURE_SCORES`` (max-logit, energy, GEN, KNN, ViM,
Mahalanobis, relative Mahalanobis), computed by the parts fitted on the fit rows
(``uqviz.metrics.ood_scores.FittedOODScores``, ``Study.ood_scores``), never on these rows. Both
are oriented the same way (higher = more uncertain, or more likely out-of-distribution), so
any of them sorts the rows for referral.

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

from collections.abc import Callable
from functools import cached_property

import numpy as np

from uqviz.metrics.ood_scores import LOGIT_FEATURE_SCORES, FittedOODScores
from uqviz.metrics.scores import UNCERTAINTY_SCORES, uncertainty
from uqviz.metrics.selective import ReferralIndex
from uqviz.predictions import Predictions

__all__ = ["RowSet"]


class RowSet:
    """One set of rows of one method and what is derived from it, each computed once.

    Args:
        predictions: the rows.
        fitted_scores: gives the logit and feature scores fitted on the fit rows
            (``Study.ood_scores``); called on the first such score asked for, so nothing is
            fitted for probability scores alone. None: probability scores only.
    """

    def __init__(self, predictions: Predictions,
                 fitted_scores: Callable[[], FittedOODScores] | None = None) -> None:
        if not isinstance(predictions, Predictions):
            raise ValueError(f"a row set holds Predictions, got {type(predictions).__name__}")
        self.predictions = predictions
        self.fitted_scores = fitted_scores
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
        """(N,) ``score`` of every row, higher = more uncertain: a key of
        ``UNCERTAINTY_SCORES`` (``uncertainty(probs, score)``) or of ``LOGIT_FEATURE_SCORES``
        (``fitted_scores().score(score, predictions)``).

        Raises:
            ValueError: an unknown score, or a logit / feature score this row set cannot
                compute (no fitted scores; no logits, features or fit rows: the reason).
        """
        if score not in self._scores:
            self._scores[score] = self._compute(score)
        return self._scores[score]

    def _compute(self, score: str) -> np.ndarray:
        if score in UNCERTAINTY_SCORES:
            return uncertainty(self.predictions.probs, score)
        if score not in LOGIT_FEATURE_SCORES:
            raise ValueError(f"unknown score {score!r}; valid: "
                             f"{', '.join([*UNCERTAINTY_SCORES, *LOGIT_FEATURE_SCORES])}")
        if self.fitted_scores is None:
            raise ValueError(f"score {score!r} is computed from logits or features with parts "
                             "fitted on the fit rows; this row set has none (make it with "
                             "fitted_scores, as Study does)")
        return self.fitted_scores().score(score, self.predictions)

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
        keep = p.scored_mask
        if keep.all():
            return self
        if not keep.any():
            raise ValueError(
                f"method {self.method!r} has no labelled in-distribution rows to score "
                f"(labels all -1 or every row OOD or corrupted, N={self.n})")
        return RowSet(p.select(keep), self.fitted_scores)

    @cached_property
    def ood(self) -> RowSet | None:
        """The out-of-distribution rows, or None when there is none."""
        p = self.predictions
        return RowSet(p.ood_rows(), self.fitted_scores) if p.is_ood.any() else None
