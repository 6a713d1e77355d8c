"""Out-of-distribution detection from an uncertainty score.

In-distribution rows are the POSITIVE class and ``-uncertainty`` is their score: a detector
accepts a row as in-distribution when its uncertainty is ``<= t``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["OODResult", "fpr_at_tpr", "ood_detection"]


@dataclass(frozen=True)
class OODResult:
    """OOD detection quality of one uncertainty score.

    Attributes:
        auroc: area under the ROC curve, in-distribution positive (0.5 = chance, 1 = perfect).
        aupr_in: average precision with in-distribution as positive, score ``-uncertainty``.
        aupr_out: average precision with OOD as positive, score ``uncertainty``.
        fpr95: fraction of OOD rows accepted at the threshold keeping 95% of in-distribution
            rows (lower is better).
        n_in: in-distribution rows.
        n_out: OOD rows.
    """

    auroc: float
    aupr_in: float
    aupr_out: float
    fpr95: float
    n_in: int
    n_out: int


def _check_scores(name: str, values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {values.shape}")
    if values.size == 0:
        raise ValueError(f"empty input: {name} has no rows")
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or inf")
    return values


def fpr_at_tpr(uncertainty_in: np.ndarray, uncertainty_out: np.ndarray, tpr: float = 0.95) -> float:
    """Fraction of OOD rows with uncertainty ``<= t``, ``t`` the smallest threshold that keeps
    at least ``tpr`` of the in-distribution rows (``t`` = the ``ceil(tpr · n_in)``-th smallest
    in-distribution uncertainty).

    References:
        Liang, Li & Srikant, "Enhancing The Reliability of Out-of-distribution Image Detection
        in Neural Networks" (ODIN), ICLR 2018.
    """
    u_in = _check_scores("uncertainty_in", uncertainty_in)
    u_out = _check_scores("uncertainty_out", uncertainty_out)
    if not 0.0 < tpr <= 1.0:
        raise ValueError(f"tpr must be in (0, 1], got {tpr}")
    k = max(1, int(math.ceil(round(tpr * u_in.size, 9))))
    threshold = np.partition(u_in, k - 1)[k - 1]
    return float(np.mean(u_out <= threshold))


def _average_precision(positive_sorted: np.ndarray, group_end: np.ndarray) -> float:
    """sklearn's ``sum_k (R_k - R_{k-1}) P_k`` over thresholds at the distinct scores.

    ``positive_sorted``: bool, rows ordered by decreasing score; ``group_end``: indices of the
    last row of each run of equal scores.
    """
    tp = np.cumsum(positive_sorted)[group_end]
    seen = group_end + 1
    recall = tp / tp[-1]
    precision = tp / seen
    return float(np.sum(np.diff(np.concatenate([[0.0], recall])) * precision))


def auroc_by_ranks(uncertainty_in: np.ndarray, uncertainty_out: np.ndarray) -> float:
    """AUROC of telling ``uncertainty_out`` (positives) from ``uncertainty_in`` by the
    Mann–Whitney statistic: P(U_out > U_in) + ½ P(U_out = U_in), from average ranks of the
    pooled scores. It equals ``ood_detection(...).auroc`` (the trapezoidal area under the ROC
    curve, ties counted half) and is cheap enough to repeat per bootstrap resample.

    References:
        Mann & Whitney, Ann. Math. Stat. 18(1), 1947; Hanley & McNeil, Radiology 143(1), 1982.
    """
    from scipy.stats import rankdata

    n_in, n_out = len(uncertainty_in), len(uncertainty_out)
    if n_in == 0 or n_out == 0:
        return float("nan")
    ranks = rankdata(np.concatenate([uncertainty_in, uncertainty_out]))
    return float((ranks[n_in:].sum() - n_out * (n_out + 1) / 2) / (n_in * n_out))


def ood_detection(uncertainty_in: np.ndarray, uncertainty_out: np.ndarray) -> OODResult:
    """AUROC, AUPR-in, AUPR-out and FPR@95%TPR of separating in-distribution from OOD rows.

    In-distribution is the positive class with score ``-uncertainty``. One sort of the pooled
    scores; thresholds at the distinct scores, ties handled like scikit-learn.

    Args:
        uncertainty_in: (N_in,) uncertainty of in-distribution rows (higher = more uncertain).
        uncertainty_out: (N_out,) uncertainty of OOD rows.

    References:
        Hendrycks & Gimpel, ICLR 2017 (AUROC, AUPR-in/out); Liang et al., ICLR 2018 (FPR95);
        scikit-learn ``roc_auc_score`` and ``average_precision_score``.
    """
    u_in = _check_scores("uncertainty_in", uncertainty_in)
    u_out = _check_scores("uncertainty_out", uncertainty_out)
    pooled = np.concatenate([u_in, u_out])
    is_in = np.zeros(pooled.size, dtype=bool)
    is_in[: u_in.size] = True
    order = np.argsort(pooled, kind="stable")
    values = pooled[order]
    in_sorted = is_in[order]

    # ascending uncertainty = descending in-distribution score
    group_end = np.concatenate([np.flatnonzero(values[1:] != values[:-1]), [values.size - 1]])
    tp = np.cumsum(in_sorted)[group_end]
    fp = (group_end + 1) - tp
    tpr = np.concatenate([[0.0], tp / u_in.size])
    fpr = np.concatenate([[0.0], fp / u_out.size])
    auroc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))
    aupr_in = _average_precision(in_sorted, group_end)

    # descending uncertainty = descending OOD score
    out_desc = ~in_sorted[::-1]
    values_desc = values[::-1]
    group_end_desc = np.concatenate(
        [np.flatnonzero(values_desc[1:] != values_desc[:-1]), [values.size - 1]]
    )
    aupr_out = _average_precision(out_desc, group_end_desc)

    return OODResult(
        auroc=auroc,
        aupr_in=aupr_in,
        aupr_out=aupr_out,
        fpr95=fpr_at_tpr(u_in, u_out, 0.95),
        n_in=int(u_in.size),
        n_out=int(u_out.size),
    )
