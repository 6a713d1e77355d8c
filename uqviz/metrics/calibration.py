"""Calibration errors and reliability-diagram bins.

Top-label calibration compares the confidence ``conf_i = max_c p_ic`` with the correctness
``correct_i = 1[argmax_c p_ic = y_i]`` (``probs`` (N, C), average the S samples first).

Equal-width bins: ``M`` bins on [0, 1], bin ``b`` holds ``b/M <= conf < (b+1)/M``; the last bin
also holds ``conf = 1``. This is torchmetrics' binning for every confidence below 1
(torchmetrics gives ``conf == 1.0`` exactly a bin of its own; here it joins the last bin, as in
Guo et al. and scikit-learn's ``calibration_curve``).

With ``B_b`` the rows of bin ``b``:
``ECE = sum_b |B_b|/N · |acc(B_b) - conf(B_b)|``
``    = (1/N) sum_b |sum_{i in B_b} (correct_i - conf_i)|``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from uqviz.validation import check_probs_labels

__all__ = [
    "ReliabilityBins",
    "adaptive_calibration_error",
    "classwise_calibration_error",
    "equal_mass_bin_sizes",
    "expected_calibration_error",
    "maximum_calibration_error",
    "reliability_bins",
    "top_label",
    "uniform_bin_index",
]


def _check_n_bins(n_bins: int) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1, got {n_bins!r}")
    return int(n_bins)


def top_label(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, C) probs, (N,) labels -> ``(confidence, correct)``: (N,) float64 and (N,) bool."""
    probs, labels = check_probs_labels(probs, labels)
    predicted = probs.argmax(axis=1)
    confidence = probs[np.arange(labels.size), predicted]
    return confidence, predicted == labels


def uniform_bin_index(values: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-width bin of each value in [0, 1]: ``b`` with ``b/M <= v < (b+1)/M``, 1 -> M-1."""
    n_bins = _check_n_bins(n_bins)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.searchsorted(edges, values, side="right") - 1
    return np.clip(index, 0, n_bins - 1)


def equal_mass_bin_sizes(n: int, n_bins: int) -> np.ndarray:
    """Sizes of ``np.array_split(range(n), n_bins)``: the first ``n % M`` bins get one more."""
    n_bins = _check_n_bins(n_bins)
    sizes = np.full(n_bins, n // n_bins, dtype=np.int64)
    sizes[: n % n_bins] += 1
    return sizes


def _uniform_sums(confidence, correct, n_bins):
    index = uniform_bin_index(confidence, n_bins)
    count = np.bincount(index, minlength=n_bins)
    conf_sum = np.bincount(index, weights=confidence, minlength=n_bins)
    correct_sum = np.bincount(index, weights=correct.astype(np.float64), minlength=n_bins)
    return count, conf_sum, correct_sum


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, *, n_bins: int = 15) -> float:
    """Top-label expected calibration error with equal-width bins.

    ``ECE = sum_b |B_b|/N · |acc(B_b) - conf(B_b)|`` over ``n_bins`` equal-width bins of the
    confidence ``max_c p_ic`` on [0, 1] (see the module docstring for the bin edges).

    Args:
        probs: (N, C) probabilities.
        labels: (N,) ints in 0..C-1.
        n_bins: number of bins M.

    Returns:
        ECE in [0, 1].

    References:
        Naeini, Cooper & Hauskrecht, AAAI 2015; Guo et al., "On Calibration of Modern Neural
        Networks", ICML 2017; torchmetrics ``multiclass_calibration_error(norm="l1")``.
    """
    confidence, correct = top_label(probs, labels)
    _, conf_sum, correct_sum = _uniform_sums(confidence, correct, n_bins)
    return float(np.abs(correct_sum - conf_sum).sum() / confidence.size)


def maximum_calibration_error(probs: np.ndarray, labels: np.ndarray, *, n_bins: int = 15) -> float:
    """Top-label maximum calibration error ``max_b |acc(B_b) - conf(B_b)|`` over non-empty bins.

    Same equal-width bins as ``expected_calibration_error``.

    References:
        Naeini, Cooper & Hauskrecht, "Obtaining Well Calibrated Probabilities Using Bayesian
        Binning", AAAI 2015; torchmetrics ``multiclass_calibration_error(norm="max")``.
    """
    confidence, correct = top_label(probs, labels)
    count, conf_sum, correct_sum = _uniform_sums(confidence, correct, n_bins)
    filled = count > 0
    return float(np.max(np.abs(correct_sum[filled] - conf_sum[filled]) / count[filled]))


def _equal_mass_sums(confidence, correct, n_bins):
    """Per-bin count, confidence sum and correct sum for equal-mass bins (array_split)."""
    order = np.argsort(confidence, kind="stable")
    sizes = equal_mass_bin_sizes(confidence.size, n_bins)
    ends = np.cumsum(sizes)
    conf_cum = np.concatenate([[0.0], np.cumsum(confidence[order])])
    correct_cum = np.concatenate([[0.0], np.cumsum(correct[order].astype(np.float64))])
    starts = ends - sizes
    conf_sum = conf_cum[ends] - conf_cum[starts]
    correct_sum = correct_cum[ends] - correct_cum[starts]
    return order, sizes, conf_sum, correct_sum


def adaptive_calibration_error(probs: np.ndarray, labels: np.ndarray, *, n_bins: int = 15) -> float:
    """Top-label calibration error with equal-mass bins.

    Sort the rows by confidence (stable), split them with ``np.array_split`` into ``n_bins``
    bins of (nearly) equal count, then ``sum_b |B_b|/N · |acc(B_b) - conf(B_b)|``.

    Args:
        probs: (N, C) probabilities.
        labels: (N,) ints in 0..C-1.
        n_bins: number of bins M (empty bins when N < M contribute nothing).

    References:
        Nixon et al., "Measuring Calibration in Deep Learning", CVPR Workshops 2019
        (adaptive calibration error); Mukhoti et al., NeurIPS 2020.
    """
    confidence, correct = top_label(probs, labels)
    _, _, conf_sum, correct_sum = _equal_mass_sums(confidence, correct, _check_n_bins(n_bins))
    return float(np.abs(correct_sum - conf_sum).sum() / confidence.size)


def classwise_calibration_error(
    probs: np.ndarray, labels: np.ndarray, *, n_bins: int = 15
) -> float:
    """Class-wise ECE: mean over classes of the equal-width-bin ECE of ``p_k`` vs ``1[y = k]``.

    ``(1/C) sum_k sum_b |B_kb|/N · |mean_{i in B_kb} 1[y_i = k] - mean_{i in B_kb} p_ik|``,
    with ``B_kb`` the rows whose ``p_ik`` falls in bin ``b``.

    References:
        Kull et al., "Beyond temperature scaling: Obtaining well-calibrated multi-class
        probabilities with Dirichlet calibration", NeurIPS 2019; torchmetrics
        ``binary_calibration_error`` per class.
    """
    probs, labels = check_probs_labels(probs, labels)
    n_bins = _check_n_bins(n_bins)
    n, c = probs.shape
    index = uniform_bin_index(probs, n_bins) + np.arange(c) * n_bins  # (N, C) -> class-offset bins
    residual = -probs
    residual[np.arange(n), labels] += 1.0
    sums = np.bincount(index.ravel(), weights=residual.ravel(), minlength=c * n_bins)
    return float(np.abs(sums).sum() / (n * c))


@dataclass(frozen=True, eq=False)
class ReliabilityBins:
    """What a reliability diagram with hover needs, one entry per bin.

    Attributes:
        lower: (M,) lower edge of each bin (for ``quantile``: smallest confidence in the bin).
        upper: (M,) upper edge (for ``quantile``: largest confidence in the bin).
        count: (M,) int rows in each bin.
        confidence: (M,) mean confidence in the bin, NaN when empty.
        accuracy: (M,) accuracy in the bin, NaN when empty.
        gap: (M,) ``confidence - accuracy``; positive means overconfident, NaN when empty.
        ece: ``sum_b count_b/n · |gap_b|`` (equals ``expected_calibration_error`` for
            ``uniform`` and ``adaptive_calibration_error`` for ``quantile``).
        n: number of rows.
        strategy: ``"uniform"`` or ``"quantile"``.
    """

    lower: np.ndarray
    upper: np.ndarray
    count: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    gap: np.ndarray
    ece: float
    n: int
    strategy: str = "uniform"


def reliability_bins(
    probs: np.ndarray, labels: np.ndarray, *, n_bins: int = 15, strategy: str = "uniform"
) -> ReliabilityBins:
    """Per-bin confidence and accuracy of the top label for a reliability diagram.

    ``uniform``: the equal-width bins of ``expected_calibration_error``. ``quantile``: the
    equal-mass bins of ``adaptive_calibration_error`` (sorted confidence split by
    ``np.array_split``), with ``lower``/``upper`` the smallest and largest confidence inside.

    Args:
        probs: (N, C) probabilities.
        labels: (N,) ints in 0..C-1.
        n_bins: number of bins M.
        strategy: ``"uniform"`` or ``"quantile"``.

    References:
        DeGroot & Fienberg, "The Comparison and Evaluation of Forecasters", 1983; Guo et al.,
        ICML 2017; Nixon et al., CVPR Workshops 2019.
    """
    n_bins = _check_n_bins(n_bins)
    confidence, correct = top_label(probs, labels)
    if strategy == "uniform":
        count, conf_sum, correct_sum = _uniform_sums(confidence, correct, n_bins)
        edges = np.linspace(0.0, 1.0, n_bins + 1)
        lower, upper = edges[:-1].copy(), edges[1:].copy()
    elif strategy == "quantile":
        order, count, conf_sum, correct_sum = _equal_mass_sums(confidence, correct, n_bins)
        ends = np.cumsum(count)
        starts = ends - count
        sorted_conf = confidence[order]
        filled = count > 0
        lower = np.full(n_bins, np.nan)
        upper = np.full(n_bins, np.nan)
        lower[filled] = sorted_conf[starts[filled]]
        upper[filled] = sorted_conf[ends[filled] - 1]
    else:
        raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(count > 0, conf_sum / count, np.nan)
        mean_acc = np.where(count > 0, correct_sum / count, np.nan)
    ece = float(np.abs(correct_sum - conf_sum).sum() / confidence.size)
    return ReliabilityBins(
        lower=lower,
        upper=upper,
        count=count.astype(np.int64),
        confidence=mean_conf,
        accuracy=mean_acc,
        gap=mean_conf - mean_acc,
        ece=ece,
        n=int(confidence.size),
        strategy=strategy,
    )
