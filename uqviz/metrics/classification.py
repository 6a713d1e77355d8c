"""Accuracy, proper scoring rules, confusion matrix and confidence intervals for proportions.

Inputs: ``probs`` (N, C) predictive probabilities (average the S samples first:
``probs.mean(axis=0)``) and ``labels`` (N,) integer classes in ``0 … C-1`` (select the labelled
rows first: unknown labels are -1 in ``Predictions``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from uqviz.metrics.bootstrap import bootstrap_mean_ci
from uqviz.validation import check_confidence, check_correct, check_probs_labels

__all__ = [
    "AccuracyIntervals",
    "accuracy",
    "accuracy_intervals",
    "brier_score",
    "confusion_matrix",
    "exact_bootstrap_ci",
    "negative_log_likelihood",
    "nested_subsample_hits",
    "normal_ci",
    "subsample_sizes",
    "wilson_ci",
]


def normal_quantile(confidence: float) -> float:
    """The ``(1 + confidence)/2`` standard normal quantile (1.96 for 95%): ``ndtri``, the
    function ``scipy.stats.norm.ppf`` calls, without importing scipy.stats (about 1 s of a
    command line run; ``tests/test_cli_imports.py`` checks they agree exactly)."""
    return float(ndtri(0.5 + check_confidence(confidence) / 2.0))


# -- intervals for a proportion ----------------------------------------------------------------
def wilson_ci(successes, n, confidence: float = 0.95):
    """Wilson score interval for a binomial proportion ``p̂ = k / n``.

    ``(p̂ + z²/2n ± z·sqrt(p̂(1-p̂)/n + z²/4n²)) / (1 + z²/n)`` with ``z`` the
    ``(1 + confidence)/2`` normal quantile: the p for which the score test of ``p̂`` against p,
    ``|p̂ - p| <= z·sqrt(p(1-p)/n)``, does not reject. It stays in [0, 1] and is wider than
    the Wald interval (``normal_ci``) near 0 and 1. Vectorised: ``successes`` and ``n`` may be
    arrays. By hand, 8 of 10 at 95% (z = 1.95996, z² = 3.84146): centre
    (0.8 + 0.19207) / 1.38415 = 0.71674, half-width 1.95996 · sqrt(0.016 + 0.0096036) / 1.38415
    = 0.22658, so (0.49016, 0.94332), as scipy's
    ``binomtest(8, 10).proportion_ci(method="wilson")`` gives.

    Args:
        successes: number of successes k, 0 <= k <= n.
        n: number of trials; where n = 0 the interval is (NaN, NaN).
        confidence: coverage of the interval in (0, 1).

    Returns:
        ``(lo, hi)``: floats for scalar input, arrays otherwise.

    References:
        Wilson, "Probable inference, the law of succession, and statistical inference",
        JASA 22 (1927); Brown, Cai & DasGupta, Statistical Science 16 (2001).
    """
    z = normal_quantile(confidence)
    k = np.asarray(successes, dtype=np.float64)
    m = np.asarray(n, dtype=np.float64)
    if np.any(k < 0) or np.any(k > m):
        raise ValueError(f"successes must be in 0..n, got {successes} of {n}")
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / m
        denom = 1.0 + z * z / m
        centre = (p + z * z / (2.0 * m)) / denom
        half = z / denom * np.sqrt(p * (1.0 - p) / m + z * z / (4.0 * m * m))
        lo = np.clip(centre - half, 0.0, 1.0)
        hi = np.clip(centre + half, 0.0, 1.0)
    lo = np.where(m > 0, lo, np.nan)
    hi = np.where(m > 0, hi, np.nan)
    if lo.ndim == 0:
        return float(lo), float(hi)
    return lo, hi


def normal_ci(successes, n, confidence: float = 0.95, *, clip: bool = True):
    """Normal-approximation (Wald) interval ``p̂ ± z·sqrt(p̂(1-p̂)/n)``, ``p̂ = k / n``.

    ``z`` is the ``(1 + confidence)/2`` normal quantile (1.96 for 95%). Vectorised like
    ``wilson_ci``; (NaN, NaN) where n = 0. Prefer Wilson for small n or p̂ near 0 or 1: there
    the Wald interval leaves [0, 1] (``clip=False`` shows by how much) and at p̂ = 0 or 1 it
    has zero width, claiming certainty from a handful of rows.

    Args:
        successes: number of successes k, 0 <= k <= n.
        n: number of trials.
        confidence: coverage of the interval in (0, 1).
        clip: clip the interval to [0, 1] (default) or return it as computed.

    Returns:
        ``(lo, hi)``: floats for scalar input, arrays otherwise.

    References:
        Brown, Cai & DasGupta, "Interval Estimation for a Binomial Proportion",
        Statistical Science 16 (2001).
    """
    z = normal_quantile(confidence)
    k = np.asarray(successes, dtype=np.float64)
    m = np.asarray(n, dtype=np.float64)
    if np.any(k < 0) or np.any(k > m):
        raise ValueError(f"successes must be in 0..n, got {successes} of {n}")
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / m
        half = z * np.sqrt(p * (1.0 - p) / m)
        lo, hi = p - half, p + half
        if clip:
            lo, hi = np.clip(lo, 0.0, 1.0), np.clip(hi, 0.0, 1.0)
        lo = np.where(m > 0, lo, np.nan)
        hi = np.where(m > 0, hi, np.nan)
    if lo.ndim == 0:
        return float(lo), float(hi)
    return lo, hi


# the exact bootstrap's arithmetic: the same operations, in the same order, as
# uqviz/ui/components/interval_subsample.js (binomialQuantiles)
BOOTSTRAP_TAIL = 2.0**-60  # weights below this (relative to the mode's) are left out
EXACT_BOOTSTRAP_MAX_N = 2**26  # n·n < 2**53: every count product is an exact double


def _binomial_quantile_counts(k: int, n: int, levels: tuple[float, ...]) -> list[int]:
    """For each level q (increasing), the smallest j with F(j) >= q, F the CDF of
    Binomial(n, k/n).

    The weights ``w(j) = P(j) / P(k)`` (k is the mode of Binomial(n, k/n)) come from the
    ratio of consecutive probabilities, an exact quotient of integers below 2**53:
    ``w(j+1) = w(j) · ((n-j)·k) / ((j+1)·(n-k))`` upwards and
    ``w(j-1) = w(j) · (j·(n-k)) / ((n-j+1)·k)`` downwards, each walk stopping at the first
    weight below ``BOOTSTRAP_TAIL`` (that weight and the farther ones are left out: their
    sum is negligible, under 1e-15 of the total). No p^n is formed, so nothing underflows at any n,
    and only +, ×, ÷ and comparisons are used: IEEE 754 rounds them identically in Python
    and JavaScript, so the browser finds the same j bit for bit. ``F(j)`` is the running
    sum of the weights from the lowest kept j, in increasing j, divided by their total.
    """
    below: list[float] = []
    w, j = 1.0, k
    while j > 0:
        w = w * ((j * (n - k)) / ((n - j + 1) * k))
        if w < BOOTSTRAP_TAIL:
            break
        below.append(w)
        j -= 1
    above: list[float] = []
    w, j = 1.0, k
    while j < n:
        w = w * (((n - j) * k) / ((j + 1) * (n - k)))
        if w < BOOTSTRAP_TAIL:
            break
        above.append(w)
        j += 1
    weights = [*below[::-1], 1.0, *above]
    total = 0.0
    for w in weights:  # a plain loop: sum() may compensate (Python >= 3.12), JS does not
        total += w
    found: list[int] = []
    cumulative, first = 0.0, k - len(below)
    for i, w in enumerate(weights):
        cumulative += w
        while len(found) < len(levels) and cumulative / total >= levels[len(found)]:
            found.append(first + i)
    return found


def exact_bootstrap_ci(successes, n, confidence: float = 0.95):
    """Percentile bootstrap interval of a proportion ``p̂ = k / n`` with infinitely many
    resamples, computed exactly.

    Resampling the n rows with replacement draws each row with probability 1/n, so the
    number of successes in a resample is ``K* ~ Binomial(n, p̂)`` and the resampled proportion
    is ``K*/n``. The percentile interval with B resamples takes the ``α/2`` and ``1 - α/2``
    quantiles (α = 1 - confidence) of B draws of ``K*/n``; as B → ∞ it becomes

        ``(F⁻¹((1 - confidence)/2) / n, F⁻¹((1 + confidence)/2) / n)``,

    F the CDF of Binomial(n, p̂) and ``F⁻¹(q) = min{j in 0..n : F(j) >= q}`` (the smallest
    count whose CDF reaches q). This is what ``bootstrap_mean_ci`` of k ones and n - k
    zeros tends to, without its Monte Carlo error or cost: no resample is drawn.

    By hand, 4 of 5 (p̂ = 0.8): F = 0.00032, 0.00672, 0.05792, 0.26272, 0.67232, 1 for
    j = 0..5, so F⁻¹(0.025) = 2 and F⁻¹(0.975) = 5: (0.4, 1.0). 5 of 10 (p̂ = 0.5):
    F(1) = 11/1024, F(2) = 56/1024 ≥ 0.025, F(7) = 968/1024, F(8) = 1013/1024 ≥ 0.975:
    (0.2, 0.8). At k = 0 or k = n every resample is the sample: (p̂, p̂), zero width.

    The CDF is computed relative to the mode, without underflow, for n up to
    ``EXACT_BOOTSTRAP_MAX_N`` (``_binomial_quantile_counts``); the browser's copy
    (``interval_subsample.js``) performs the same operations in the same order.

    Args:
        successes: number of successes k, an integer in 0..n (scalar or array).
        n: number of trials, an integer in 0..2**26; where n = 0 the interval is (NaN, NaN).
        confidence: coverage of the interval in (0, 1).

    Returns:
        ``(lo, hi)``: floats for scalar input, arrays otherwise.

    References:
        Efron & Tibshirani, "An Introduction to the Bootstrap", Chapman & Hall, 1993,
        ch. 13 (the percentile interval).
    """
    confidence = check_confidence(confidence)
    k = np.asarray(successes)
    m = np.asarray(n)
    for name, values in (("successes", k), ("n", m)):
        if values.size and not np.all(np.mod(values, 1) == 0):
            raise ValueError(f"{name} must be whole numbers, got {values.tolist()}")
    k, m = np.broadcast_arrays(k.astype(np.int64), m.astype(np.int64))
    if np.any(k < 0) or np.any(k > m):
        raise ValueError(f"successes must be in 0..n, got {successes} of {n}")
    if np.any(m > EXACT_BOOTSTRAP_MAX_N):
        raise ValueError(f"n must be at most {EXACT_BOOTSTRAP_MAX_N:,}, got {int(m.max()):,}")
    levels = ((1.0 - confidence) / 2.0, (1.0 + confidence) / 2.0)
    lo = np.full(k.shape, np.nan)
    hi = np.full(k.shape, np.nan)
    for index in np.ndindex(k.shape):
        trials = int(m[index])
        if trials > 0:
            low, high = _binomial_quantile_counts(int(k[index]), trials, levels)
            lo[index], hi[index] = low / trials, high / trials
    if lo.ndim == 0:
        return float(lo), float(hi)
    return lo, hi


@dataclass(frozen=True)
class AccuracyIntervals:
    """An accuracy and three intervals for it on nested, seeded subsamples of the rows.

    Subsample ``j`` is the first ``sizes[j]`` rows of one seeded permutation, so a larger
    subsample contains every smaller one.

    Attributes:
        sizes: (M,) subsample sizes n, increasing.
        accuracy: (M,) accuracy k / n of each subsample.
        wald: (M, 2) normal-approximation interval, clipped to [0, 1].
        wald_unclipped: (M, 2) the same before clipping.
        wilson: (M, 2) Wilson score interval.
        bootstrap: (M, 2) percentile bootstrap interval: ``n_resamples`` resamples, or exact
            (``exact_bootstrap_ci``) when ``n_resamples`` is None.
        confidence: the intervals' nominal coverage.
        n_resamples: bootstrap resamples; None for the exact bootstrap (infinitely many).
    """

    sizes: np.ndarray
    accuracy: np.ndarray
    wald: np.ndarray
    wald_unclipped: np.ndarray
    wilson: np.ndarray
    bootstrap: np.ndarray
    confidence: float
    n_resamples: int | None

    @property
    def widths(self) -> dict[str, np.ndarray]:
        """``{"wald" | "wilson" | "bootstrap": (M,) hi - lo}``."""
        return {name: iv[:, 1] - iv[:, 0] for name, iv in
                (("wald", self.wald), ("wilson", self.wilson), ("bootstrap", self.bootstrap))}

    @property
    def wald_outside(self) -> np.ndarray:
        """(M,) bool: the unclipped Wald interval leaves [0, 1]."""
        return (self.wald_unclipped[:, 0] < 0) | (self.wald_unclipped[:, 1] > 1)

    @property
    def wald_zero_width(self) -> np.ndarray:
        """(M,) bool: the Wald interval has zero width (accuracy 0 or 1)."""
        return self.wald[:, 1] - self.wald[:, 0] <= 0


def subsample_sizes(n_total: int, *, smallest: int = 20, points: int = 12) -> np.ndarray:
    """About ``points`` geometrically spaced sizes from ``smallest`` to ``n_total`` (inclusive).

    Raises:
        ValueError: when ``n_total`` < 1.
    """
    if n_total < 1:
        raise ValueError(f"n_total must be >= 1, got {n_total}")
    smallest = min(max(1, smallest), n_total)
    grid = np.geomspace(smallest, n_total, num=max(2, points))
    return np.unique(np.r_[np.rint(grid).astype(np.int64), n_total])


def nested_subsample_hits(correct: np.ndarray, seed: int = 0) -> np.ndarray:
    """``hits[i]`` = the correct rows among the first ``i + 1`` rows of the seeded permutation
    ``np.random.default_rng(seed).permutation(N)``: the accuracy of the nested subsample of n
    rows is ``hits[n - 1] / n`` (``accuracy_intervals``).

    Args:
        correct: (N,) bool or 0/1.

    Returns:
        (N,) int64, non-decreasing, steps of 0 or 1.
    """
    correct = check_correct(np.asarray(correct))
    order = np.random.default_rng(seed).permutation(correct.size)
    return np.cumsum(correct[order].astype(np.int64))


def accuracy_intervals(
    correct: np.ndarray,
    sizes,
    *,
    confidence: float = 0.95,
    n_resamples: int | None = 1000,
    seed: int = 0,
) -> AccuracyIntervals:
    """Wald, Wilson and percentile-bootstrap intervals of the accuracy on nested subsamples.

    Args:
        correct: (N,) bool or 0/1, whether each test row was classified correctly.
        sizes: subsample sizes, each in 1..N (sorted and deduplicated).
        confidence: coverage in (0, 1).
        n_resamples: bootstrap resamples per size (``bootstrap_mean_ci``); None: the exact
            percentile bootstrap, the limit of infinitely many (``exact_bootstrap_ci``).
        seed: seeds the subsampling permutation (``nested_subsample_hits``) and the
            resampling.

    Returns:
        ``AccuracyIntervals``.

    References:
        Brown, Cai & DasGupta, Statistical Science 16 (2001) (Wald vs Wilson);
        Efron & Tibshirani, "An Introduction to the Bootstrap", 1993 (percentile interval).
    """
    correct = np.asarray(correct)
    if correct.ndim != 1 or correct.size == 0:
        raise ValueError(f"correct must be a non-empty 1-D array, got shape {correct.shape}")
    correct = check_correct(correct)
    sizes = np.unique(np.asarray(sizes, dtype=np.int64))
    if sizes.size == 0 or sizes[0] < 1 or sizes[-1] > correct.size:
        raise ValueError(f"sizes must be in 1..{correct.size}, got {sizes.tolist()}")
    normal_quantile(confidence)
    hits = nested_subsample_hits(correct, seed)[sizes - 1]
    if n_resamples is None:
        boot = np.column_stack(exact_bootstrap_ci(hits, sizes, confidence))
    else:
        shuffled = correct.astype(np.float64)[np.random.default_rng(seed).permutation(
            correct.size)]
        boot = np.array([bootstrap_mean_ci(shuffled[:n], n_resamples=n_resamples,
                                           confidence=confidence, seed=seed) for n in sizes])
    return AccuracyIntervals(
        sizes=sizes, accuracy=hits / sizes,
        wald=np.column_stack(normal_ci(hits, sizes, confidence)),
        wald_unclipped=np.column_stack(normal_ci(hits, sizes, confidence, clip=False)),
        wilson=np.column_stack(wilson_ci(hits, sizes, confidence)),
        bootstrap=boot.reshape(-1, 2), confidence=confidence, n_resamples=n_resamples)


# -- metrics -----------------------------------------------------------------------------------
def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy ``mean_i 1[argmax_c p_ic = y_i]``.

    Args:
        probs: (N, C) probabilities (ties in argmax go to the lowest class index).
        labels: (N,) ints in 0..C-1.

    References:
        scikit-learn ``accuracy_score``.
    """
    probs, labels = check_probs_labels(probs, labels)
    return float(np.mean(probs.argmax(axis=1) == labels))


def negative_log_likelihood(probs: np.ndarray, labels: np.ndarray, eps: float = 1e-12) -> float:
    """Mean negative log-likelihood ``mean_i -log max(p_{i,y_i}, eps)`` (nats).

    Args:
        probs: (N, C) probabilities.
        labels: (N,) ints in 0..C-1.
        eps: floor on the probability of the true class so a confident mistake costs
            ``-log eps`` (27.6 nats for the default) instead of infinity.

    References:
        Gneiting & Raftery, "Strictly Proper Scoring Rules, Prediction, and Estimation",
        JASA 102 (2007); scikit-learn ``log_loss``.
    """
    probs, labels = check_probs_labels(probs, labels)
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    p_true = probs[np.arange(labels.size), labels]
    return float(-np.mean(np.log(np.maximum(p_true, eps))))


def brier_score(probs: np.ndarray, labels: np.ndarray) -> float:
    """Multiclass Brier score ``mean_i sum_c (p_ic - 1[y_i = c])²``, range 0–2.

    Args:
        probs: (N, C) probabilities.
        labels: (N,) ints in 0..C-1.

    References:
        Brier, "Verification of forecasts expressed in terms of probability",
        Monthly Weather Review 78 (1950); scikit-learn ``brier_score_loss`` (multiclass).
    """
    probs, labels = check_probs_labels(probs, labels)
    p_true = probs[np.arange(labels.size), labels]
    per_row = np.einsum("ij,ij->i", probs, probs) - 2.0 * p_true + 1.0
    return float(np.mean(per_row))


def confusion_matrix(predicted: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts ``M[t, p] = #{i : y_i = t, ŷ_i = p}``: rows true class, columns predicted.

    Args:
        predicted: (N,) predicted classes in 0..num_classes-1.
        labels: (N,) true classes in 0..num_classes-1.
        num_classes: C.

    Returns:
        (C, C) int64 counts.

    References:
        scikit-learn ``confusion_matrix`` (same orientation).
    """
    predicted = np.asarray(predicted)
    labels = np.asarray(labels)
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if predicted.ndim != 1 or predicted.shape != labels.shape:
        raise ValueError(
            f"predicted and labels must be 1-D of equal length, got {predicted.shape} "
            f"and {labels.shape}"
        )
    for name, values in (("predicted", predicted), ("labels", labels)):
        if values.size and not np.issubdtype(values.dtype, np.integer):
            raise ValueError(f"{name} must be integers, got dtype {values.dtype}")
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            bad = values[(values < 0) | (values >= num_classes)][0]
            raise ValueError(f"{name} must be in 0..{num_classes - 1}, found {bad}")
    flat = labels.astype(np.int64) * num_classes + predicted.astype(np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)
