"""The one data contract: what every method produces and every analysis consumes.

Shape convention, written once:

* ``probs`` is float32 shaped ``(S, N, C)``: S stochastic samples (ensemble members, MC-dropout
  passes; S = 1 for a deterministic method), N examples, C classes. Each row sums to 1.
* ``labels`` is int64 ``(N,)``; ``-1`` means unknown (out-of-distribution rows, unlabelled data).
* ``group`` is a string array ``(N,)`` naming where each row came from: ``test`` for clean
  in-distribution test rows, ``<corruption>:<severity>`` for corrupted test rows and
  ``ood:<name>`` for out-of-distribution rows.
* ``is_ood`` is bool ``(N,)``; by default it is true exactly for groups starting with ``ood:``.
* ``logits`` is an optional float32 ``(S', N, C)`` array of the network's logits, S' = 1 or S
  (an ``(N, C)`` input gets S' = 1), for the scores computed from logits (max-logit, energy,
  GEN, ViM; ``uqviz.metrics.ood_scores``).
* ``features`` is an optional float32 ``(N, D)`` embedding (penultimate layer) for the map and
  the feature-space OOD scores (KNN, ViM, Mahalanobis).
* Rows of group ``fit`` (``FIT_GROUP``) are only for fitting what feature-space scores need
  (class means, a feature bank): they are never scored (``labelled_in_distribution`` leaves
  them out).
* ``scores`` holds optional extra per-row scores ``(N,)`` a method provides.

This module imports numpy only (its checks are ``uqviz.validation``'s).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from uqviz.validation import check_labels, check_probs

TEST_GROUP = "test"
FIT_GROUP = "fit"
OOD_PREFIX = "ood:"
PROB_SUM_TOLERANCE = 1e-3


def ood_group(name: str) -> str:
    """Group name of an out-of-distribution set, e.g. ``ood:gaussian_noise``."""
    return f"{OOD_PREFIX}{name}"


def shift_group(corruption: str, severity: int) -> str:
    """Group name of a corrupted copy of the test set, e.g. ``gaussian_noise:3``."""
    return f"{corruption}:{severity}"


def parse_shift_group(group: str) -> tuple[str, int] | None:
    """``"gaussian_noise:3"`` -> ``("gaussian_noise", 3)``; None for test and OOD groups."""
    if group.startswith(OOD_PREFIX) or ":" not in group:
        return None
    name, _, severity = group.rpartition(":")
    return (name, int(severity)) if severity.isdigit() else None


@dataclass(frozen=True, eq=False)
class Predictions:
    """Predictive distributions of one method on a set of rows.

    Attributes:
        probs: float32 (S, N, C) class probabilities per sample.
        labels: int64 (N,) true class, -1 when unknown.
        group: str (N,) split or shift each row came from.
        is_ood: bool (N,) out-of-distribution rows; derived from ``group`` when omitted.
        features: optional float32 (N, D) penultimate-layer features.
        logits: optional float32 (S', N, C) logits, S' = 1 or S; (N, C) gets S' = 1.
        scores: optional extra per-row scores, each (N,).
        method: the method id that produced the predictions.
        class_names: optional C names of the classes.
        ids: optional (N,) row identifiers (from a user's file).
    """

    probs: np.ndarray
    labels: np.ndarray
    group: np.ndarray | None = None
    is_ood: np.ndarray | None = None
    features: np.ndarray | None = None
    scores: Mapping[str, np.ndarray] = field(default_factory=dict)
    method: str = "default"
    class_names: tuple[str, ...] | None = None
    ids: np.ndarray | None = None
    logits: np.ndarray | None = None

    def __post_init__(self) -> None:
        probs = check_probs(self.probs, samples=True, dtype=np.float32)
        _, n, c = probs.shape
        labels = check_labels(self.labels, n, c, unknown_ok=True)
        group = (
            np.full(n, TEST_GROUP, dtype=object)
            if self.group is None
            else np.asarray(self.group, dtype=object)
        )
        if group.shape != (n,):
            raise ValueError(f"group must have shape ({n},), got {group.shape}")
        if self.is_ood is None:
            is_ood = np.array([str(g).startswith(OOD_PREFIX) for g in group], dtype=bool)
        else:
            is_ood = np.asarray(self.is_ood, dtype=bool)
            if is_ood.shape != (n,):
                raise ValueError(f"is_ood must have shape ({n},), got {is_ood.shape}")
        features = None
        if self.features is not None:
            features = np.asarray(self.features, dtype=np.float32)
            if features.ndim != 2 or features.shape[0] != n:
                raise ValueError(f"features must be (N={n}, D), got {features.shape}")
        logits = None
        if self.logits is not None:
            logits = np.asarray(self.logits, dtype=np.float32)
            logits = logits[None] if logits.ndim == 2 else logits
            if (logits.ndim != 3 or logits.shape[1:] != (n, c)
                    or logits.shape[0] not in (1, probs.shape[0])):
                raise ValueError(f"logits must be (N={n}, C={c}) or (S, N, C) with S = 1 or "
                                 f"{probs.shape[0]}, got {np.shape(self.logits)}")
            if not np.isfinite(logits).all():
                raise ValueError("logits contain NaN or inf")
        scores = {k: np.asarray(v, dtype=np.float64) for k, v in dict(self.scores).items()}
        for k, v in scores.items():
            if v.shape != (n,):
                raise ValueError(f"score {k!r} must have shape ({n},), got {v.shape}")
        if self.class_names is not None and len(self.class_names) != c:
            raise ValueError(f"class_names has {len(self.class_names)} names for {c} classes")
        ids = None if self.ids is None else np.asarray(self.ids)
        if ids is not None and ids.shape != (n,):
            raise ValueError(f"ids must have shape ({n},), got {ids.shape}")
        for name, value in [("probs", probs), ("labels", labels), ("group", group),
                            ("is_ood", is_ood), ("features", features), ("scores", scores),
                            ("ids", ids), ("logits", logits)]:
            object.__setattr__(self, name, value)
        if self.class_names is not None:
            object.__setattr__(self, "class_names", tuple(str(x) for x in self.class_names))

    # -- shape -------------------------------------------------------------------------------
    @property
    def num_samples(self) -> int:
        return self.probs.shape[0]

    @property
    def n(self) -> int:
        return self.probs.shape[1]

    @property
    def num_classes(self) -> int:
        return self.probs.shape[2]

    @property
    def mean_probs(self) -> np.ndarray:
        """(N, C) predictive distribution: the mean over samples."""
        return self.probs.mean(axis=0)

    @property
    def predicted(self) -> np.ndarray:
        """(N,) predicted class: argmax of the mean probabilities."""
        return self.mean_probs.argmax(axis=1)

    @property
    def names(self) -> tuple[str, ...]:
        """Class names, ``0 … C-1`` when none were given."""
        return self.class_names or tuple(str(i) for i in range(self.num_classes))

    @property
    def groups(self) -> list[str]:
        """Distinct groups in order of first appearance."""
        _, first = np.unique(self.group.astype(str), return_index=True)
        return [str(self.group[i]) for i in sorted(first)]

    # -- selection ---------------------------------------------------------------------------
    def select(self, mask: np.ndarray) -> Predictions:
        """The rows where ``mask`` (bool (N,) or integer indices) holds."""
        idx = np.asarray(mask)
        return Predictions(
            probs=self.probs[:, idx],
            labels=self.labels[idx],
            group=self.group[idx],
            is_ood=self.is_ood[idx],
            features=None if self.features is None else self.features[idx],
            scores={k: v[idx] for k, v in self.scores.items()},
            method=self.method,
            class_names=self.class_names,
            ids=None if self.ids is None else self.ids[idx],
            logits=None if self.logits is None else self.logits[:, idx],
        )

    def in_group(self, *groups: str) -> Predictions:
        return self.select(np.isin(self.group.astype(str), list(groups)))

    @property
    def is_shifted(self) -> np.ndarray:
        """bool (N,): rows of a corrupted copy of the test set (groups ``<name>:<severity>``)."""
        names, inverse = np.unique(self.group.astype(str), return_inverse=True)
        shifted = np.array([parse_shift_group(g) is not None for g in names], dtype=bool)
        return shifted[inverse.reshape(-1)] if len(names) else np.zeros(self.n, dtype=bool)

    @property
    def is_fit(self) -> np.ndarray:
        """bool (N,): rows of group ``fit``, kept only to fit feature-space scores."""
        return self.group.astype(str) == FIT_GROUP

    @property
    def scored_mask(self) -> np.ndarray:
        """bool (N,): the one rule for "the rows we score": a known label, neither
        out-of-distribution nor corrupted (``<corruption>:<severity>`` groups) nor fit rows
        (group ``fit``)."""
        return (self.labels >= 0) & ~self.is_ood & ~self.is_shifted & ~self.is_fit

    def labelled_in_distribution(self) -> Predictions:
        """The rows the summary metrics score (``scored_mask``)."""
        return self.select(self.scored_mask)

    def fit_rows(self) -> Predictions:
        """Labelled in-distribution rows of group ``fit``: what feature-space scores fit on."""
        return self.select(self.is_fit & (self.labels >= 0) & ~self.is_ood)

    def ood_rows(self) -> Predictions:
        return self.select(self.is_ood)

    def with_method(self, method: str) -> Predictions:
        return Predictions(self.probs, self.labels, self.group, self.is_ood, self.features,
                           self.scores, method, self.class_names, self.ids, self.logits)


def concatenate(parts: list[Predictions]) -> Predictions:
    """Stack the rows of several Predictions of the same method and sample count."""
    if not parts:
        raise ValueError("nothing to concatenate")
    first = parts[0]
    feats = None
    if all(p.features is not None for p in parts):
        feats = np.concatenate([p.features for p in parts])
    keys = set.intersection(*(set(p.scores) for p in parts))
    ids = None
    if all(p.ids is not None for p in parts):
        ids = np.concatenate([p.ids for p in parts])
    logits = None
    if all(p.logits is not None for p in parts) and len({p.logits.shape[0] for p in parts}) == 1:
        logits = np.concatenate([p.logits for p in parts], axis=1)
    return Predictions(
        probs=np.concatenate([p.probs for p in parts], axis=1),
        labels=np.concatenate([p.labels for p in parts]),
        group=np.concatenate([p.group for p in parts]),
        is_ood=np.concatenate([p.is_ood for p in parts]),
        features=feats,
        scores={k: np.concatenate([p.scores[k] for p in parts]) for k in sorted(keys)},
        method=first.method,
        class_names=first.class_names,
        ids=ids,
        logits=logits,
    )
