"""Percentile bootstrap confidence intervals, generic and vectorised.

Every function draws its resamples from ``np.random.default_rng(seed)`` in the same order:
chunks of ``R`` resamples at a time, each chunk one ``rng.integers(0, N, size=(R, N))`` call,
with ``R`` chosen so a chunk holds about two million indices (memory stays bounded at any N).
So with the same seed the vectorised functions see exactly the resamples that
``bootstrap_ci(statistic, ...)`` sees, and two methods scored on the same N rows see the same
resamples (paired comparisons).

The interval is the percentile interval: the ``(1 - confidence)/2`` and ``(1 + confidence)/2``
quantiles (linear interpolation) of the resampled statistic, ignoring NaN resamples.

The vectorised statistics work on resample COUNTS ``W`` (R, N) (``W[r, i]`` = times row i was
drawn): means are ``W @ x / N``; binned calibration errors are per-bin sums from one
``np.bincount`` with per-resample bin offsets (bin ``b`` of resample ``r`` is ``b + r·M``);
equal-mass bins and the risk–coverage curve use cumulative counts along the sorted rows.

References:
    Efron & Tibshirani, "An Introduction to the Bootstrap", Chapman & Hall, 1993, ch. 13.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from uqviz.metrics.calibration import equal_mass_bin_sizes, top_label, uniform_bin_index
from uqviz.validation import check_confidence, check_probs_labels

__all__ = [
    "TABLE_METRICS",
    "bootstrap_ci",
    "bootstrap_classification_cis",
    "bootstrap_ece_ci",
    "bootstrap_mean_ci",
    "bootstrap_ood_auroc_ci",
    "bootstrap_two_sample_ci",
    "resample_indices",
]

CHUNK_ELEMENTS = 1 << 21
TABLE_METRICS = ("accuracy", "nll", "brier", "ece", "adaptive_ece", "mce", "aurc", "eaurc")


def _check_common(n_resamples: int, confidence: float) -> None:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int | np.integer):
        raise ValueError(f"n_resamples must be an integer, got {n_resamples!r}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    check_confidence(confidence)


def _chunk_size(n_rows: int, n_resamples: int) -> int:
    return max(1, min(n_resamples, CHUNK_ELEMENTS // max(n_rows, 1)))


def resample_indices(n: int, n_resamples: int, seed: int = 0) -> Iterator[np.ndarray]:
    """Yield bootstrap row indices in chunks of shape (R, n), ``n_resamples`` rows in total."""
    if n < 1:
        raise ValueError(f"empty input: cannot resample {n} rows")
    rng = np.random.default_rng(seed)
    chunk = _chunk_size(n, n_resamples)
    done = 0
    while done < n_resamples:
        r = min(chunk, n_resamples - done)
        yield rng.integers(0, n, size=(r, n))
        done += r


def _two_sample_indices(n_a: int, n_b: int, n_resamples: int, seed: int):
    if n_a < 1 or n_b < 1:
        raise ValueError(f"empty input: cannot resample {n_a} and {n_b} rows")
    rng = np.random.default_rng(seed)
    chunk = _chunk_size(n_a + n_b, n_resamples)
    done = 0
    while done < n_resamples:
        r = min(chunk, n_resamples - done)
        yield rng.integers(0, n_a, size=(r, n_a)), rng.integers(0, n_b, size=(r, n_b))
        done += r


def _counts(index: np.ndarray) -> np.ndarray:
    """(R, N) indices -> (R, N) float64 counts of each row in each resample."""
    r, n = index.shape
    flat = (index + (np.arange(r, dtype=np.int64) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=r * n).reshape(r, n).astype(np.float64)


def _interval(stats: np.ndarray, confidence: float) -> tuple[float, float]:
    stats = np.asarray(stats, dtype=np.float64)
    if not np.isfinite(stats).any():
        return math.nan, math.nan
    alpha = 1.0 - confidence
    lo, hi = np.nanpercentile(stats, [100.0 * alpha / 2.0, 100.0 * (1.0 - alpha / 2.0)])
    return float(lo), float(hi)


# -- generic -----------------------------------------------------------------------------------
def bootstrap_ci(
    statistic: Callable[..., float],
    *arrays: np.ndarray,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(*arrays)``, resampling rows jointly.

    Args:
        statistic: called once per resample with the resampled arrays; returns a float.
        *arrays: arrays sharing their first dimension N (the rows).
        n_resamples: number of bootstrap resamples.
        confidence: coverage in (0, 1).
        seed: seed of ``np.random.default_rng``.

    Returns:
        ``(lo, hi)``.

    References:
        Efron & Tibshirani, "An Introduction to the Bootstrap", 1993.
    """
    _check_common(n_resamples, confidence)
    if not arrays:
        raise ValueError("bootstrap_ci needs at least one array")
    arrays = tuple(np.asarray(a) for a in arrays)
    n = arrays[0].shape[0] if arrays[0].ndim else 0
    for a in arrays:
        if a.ndim == 0 or a.shape[0] != n:
            raise ValueError(
                f"arrays must share their first dimension, got shapes {[a.shape for a in arrays]}"
            )
    stats = []
    for chunk in resample_indices(n, n_resamples, seed):
        for index in chunk:
            stats.append(statistic(*(a[index] for a in arrays)))
    return _interval(np.array(stats, dtype=np.float64), confidence)


def bootstrap_two_sample_ci(
    statistic: Callable[[np.ndarray, np.ndarray], float],
    a: np.ndarray,
    b: np.ndarray,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap of ``statistic(a, b)`` resampling ``a`` and ``b`` separately
    (stratified: each resample keeps both sizes), e.g. in-distribution vs OOD scores."""
    _check_common(n_resamples, confidence)
    a = np.asarray(a)
    b = np.asarray(b)
    stats = []
    for index_a, index_b in _two_sample_indices(len(a), len(b), n_resamples, seed):
        for ia, ib in zip(index_a, index_b, strict=True):
            stats.append(statistic(a[ia], b[ib]))
    return _interval(np.array(stats, dtype=np.float64), confidence)


def bootstrap_mean_ci(
    values: np.ndarray, *, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Vectorised percentile bootstrap of the mean of per-row terms (accuracy, NLL, Brier).

    Args:
        values: (N,) per-row terms, e.g. ``correct``, ``-log p_y``.

    Returns:
        ``(lo, hi)``, identical to ``bootstrap_ci(np.mean, values)`` with the same seed.

    References:
        Efron & Tibshirani, 1993.
    """
    _check_common(n_resamples, confidence)
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"values must be 1-D (N,), got shape {values.shape}")
    stats = [values[index].mean(axis=1) for index in resample_indices(values.size, n_resamples,
                                                                      seed)]
    return _interval(np.concatenate(stats), confidence)


# -- vectorised classification metrics on resample counts --------------------------------------
class _Prepared:
    """Per-row quantities of one (probs, labels) set, computed once for all resamples."""

    def __init__(self, probs: np.ndarray, labels: np.ndarray, n_bins: int) -> None:
        probs, labels = check_probs_labels(probs, labels)
        self.n = labels.size
        self.n_bins = n_bins
        self.confidence, correct = top_label(probs, labels)
        self.correct = correct.astype(np.float64)
        p_true = probs[np.arange(self.n), labels]
        self.nll = -np.log(np.maximum(p_true, 1e-12))
        self.brier = np.einsum("ij,ij->i", probs, probs) - 2.0 * p_true + 1.0
        self.bins = uniform_bin_index(self.confidence, n_bins)
        self.conf_order = np.argsort(self.confidence, kind="stable")
        self.residual_conf_order = (self.correct - self.confidence)[self.conf_order]
        self.mass_ends = np.cumsum(equal_mass_bin_sizes(self.n, n_bins))
        self.risk_order = np.argsort(1.0 - self.confidence, kind="stable")
        self.error_positions = np.flatnonzero(self.correct[self.risk_order] == 0.0)
        # harmonic[k] = H_k = sum_{i<=k} 1/i; harmonic_prefix[k] = G_k = sum_{t<k} H_t
        self.harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, self.n + 1))])
        self.harmonic_prefix = np.concatenate([[0.0], np.cumsum(self.harmonic[:-1])])


def _weighted_prefix(counts_sorted: np.ndarray, values_sorted: np.ndarray, positions: np.ndarray):
    """Sum of ``values`` over the first ``p`` items of each resample, rows in sorted order.

    counts_sorted: (R, N) counts; values_sorted: (N,); positions: (P,) in 1..N.
    Returns (R, P).
    """
    r, n = counts_sorted.shape
    cum_count = np.cumsum(counts_sorted, axis=1)
    cum_value = np.cumsum(counts_sorted * values_sorted, axis=1)
    offsets = np.arange(r)[:, None] * (n + 1.0)
    flat = (cum_count + offsets).ravel()
    queries = (positions[None, :] + offsets).ravel()
    j = (np.searchsorted(flat, queries, side="left").reshape(r, -1)
         - (np.arange(r)[:, None] * n))
    rows = np.arange(r)[:, None]
    return cum_value[rows, j] - (cum_count[rows, j] - positions[None, :]) * values_sorted[j]


def _metrics_from_counts(prep: _Prepared, counts: np.ndarray, metrics: Sequence[str]) -> dict:
    n, b = prep.n, prep.n_bins
    out = {}
    if "accuracy" in metrics:
        out["accuracy"] = counts @ prep.correct / n
    if "nll" in metrics:
        out["nll"] = counts @ prep.nll / n
    if "brier" in metrics:
        out["brier"] = counts @ prep.brier / n
    if "ece" in metrics or "mce" in metrics:
        r = counts.shape[0]
        # per-resample bins: bin b of resample r is b + r·B, one bincount for all resamples
        flat_bins = (prep.bins[None, :] + (np.arange(r) * b)[:, None]).ravel()

        def per_bin(weights):
            return np.bincount(flat_bins, weights=weights.ravel(), minlength=r * b).reshape(r, b)

        residual = np.abs(per_bin(counts * (prep.correct - prep.confidence)))
        if "ece" in metrics:
            out["ece"] = residual.sum(axis=1) / n
        if "mce" in metrics:
            bin_count = per_bin(counts)
            with np.errstate(invalid="ignore", divide="ignore"):
                gap = np.where(bin_count > 0, residual / bin_count, -np.inf)
            out["mce"] = gap.max(axis=1)
    if "adaptive_ece" in metrics:
        # |sum of (correct - conf)| per equal-mass bin = differences of the prefix sums of the
        # residual at the bin ends, in each resample's confidence order
        prefix = _weighted_prefix(counts[:, prep.conf_order], prep.residual_conf_order,
                                  prep.mass_ends.astype(np.float64))
        bin_sums = np.diff(prefix, axis=1, prepend=0.0)
        out["adaptive_ece"] = np.abs(bin_sums).sum(axis=1) / n
    if "aurc" in metrics or "eaurc" in metrics:
        # AURC = (1/N) sum_p E(p)/p = (1/N) sum over error items at position q of (H_N - H_{q-1});
        # an error row j drawn w_j times at positions C_j - w_j + 1 .. C_j adds
        # w_j H_N - (G[C_j] - G[C_j - w_j]) with G[k] = sum_{t<k} H_t.
        w = counts[:, prep.risk_order]
        cum = np.cumsum(w, axis=1)[:, prep.error_positions].astype(np.int64)
        w_err = w[:, prep.error_positions]
        before = cum - w_err.astype(np.int64)
        h, g = prep.harmonic, prep.harmonic_prefix
        aurc = (w_err * h[n] - (g[cum] - g[before])).sum(axis=1) / n
        if "aurc" in metrics:
            out["aurc"] = aurc
        if "eaurc" in metrics:
            n_err = np.rint(w_err.sum(axis=1)).astype(np.int64)
            oracle = (n_err - (n - n_err) * (h[n] - h[n - n_err])) / n
            out["eaurc"] = aurc - oracle
    return out


def bootstrap_classification_cis(
    probs: np.ndarray,
    labels: np.ndarray,
    *,
    metrics: Sequence[str] = TABLE_METRICS,
    n_bins: int = 15,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """Vectorised percentile bootstrap intervals of several metrics on the same resamples.

    Metrics (definitions as in ``uqviz.metrics``): ``accuracy``, ``nll``, ``brier``, ``ece``,
    ``adaptive_ece``, ``mce`` (``n_bins`` bins), ``aurc`` and ``eaurc`` (uncertainty
    ``1 - max prob``). Each interval equals ``bootstrap_ci`` of the plain function with the same
    seed, except where confidences tie exactly (the tie order inside a resample may differ).

    Args:
        probs: (N, C) probabilities (samples averaged).
        labels: (N,) ints in 0..C-1.

    Returns:
        ``{metric: (lo, hi)}``.

    References:
        Efron & Tibshirani, 1993.
    """
    _check_common(n_resamples, confidence)
    unknown = [m for m in metrics if m not in TABLE_METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; valid: {', '.join(TABLE_METRICS)}")
    prep = _Prepared(probs, labels, n_bins)
    stats: dict[str, list[np.ndarray]] = {m: [] for m in metrics}
    for index in resample_indices(prep.n, n_resamples, seed):
        values = _metrics_from_counts(prep, _counts(index), metrics)
        for m in metrics:
            stats[m].append(values[m])
    return {m: _interval(np.concatenate(stats[m]), confidence) for m in metrics}


def bootstrap_ece_ci(
    probs: np.ndarray,
    labels: np.ndarray,
    *,
    n_bins: int = 15,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Vectorised percentile bootstrap interval of ``expected_calibration_error``.

    Per-bin sums of every resample come from one ``np.bincount`` with per-resample offsets
    (no Python loop over resamples).

    References:
        Efron & Tibshirani, 1993; Guo et al., ICML 2017.
    """
    return bootstrap_classification_cis(
        probs, labels, metrics=("ece",), n_bins=n_bins, n_resamples=n_resamples,
        confidence=confidence, seed=seed,
    )["ece"]


def bootstrap_ood_auroc_ci(
    uncertainty_in: np.ndarray,
    uncertainty_out: np.ndarray,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Vectorised stratified bootstrap interval of the OOD AUROC (in-distribution positive).

    In-distribution and OOD rows are resampled separately (as ``bootstrap_two_sample_ci``).
    Per resample ``AUROC = sum_i w_i (#out above u_i + ½ #out tied with u_i) / (n_in n_out)``
    with weighted counts.

    References:
        Hanley & McNeil, Radiology 143 (1982) (AUROC as a Mann–Whitney statistic).
    """
    _check_common(n_resamples, confidence)
    u_in = np.asarray(uncertainty_in, dtype=np.float64)
    u_out = np.asarray(uncertainty_out, dtype=np.float64)
    if u_in.ndim != 1 or u_out.ndim != 1:
        raise ValueError(f"scores must be 1-D, got {u_in.shape} and {u_out.shape}")
    if not (np.isfinite(u_in).all() and np.isfinite(u_out).all()):
        raise ValueError("scores contain NaN or inf")
    out_order = np.argsort(u_out, kind="stable")
    out_sorted = u_out[out_order]
    below = np.searchsorted(out_sorted, u_in, side="left")
    at_or_below = np.searchsorted(out_sorted, u_in, side="right")
    n_in, n_out = u_in.size, u_out.size
    stats = []
    for index_in, index_out in _two_sample_indices(n_in, n_out, n_resamples, seed):
        w_in = _counts(index_in)
        w_out = _counts(index_out)[:, out_order]
        cum = np.concatenate([np.zeros((w_out.shape[0], 1)), np.cumsum(w_out, axis=1)], axis=1)
        rows = np.arange(w_out.shape[0])[:, None]
        c_hi = cum[rows, at_or_below[None, :]]
        c_lo = cum[rows, below[None, :]]
        wins = n_out - c_hi + 0.5 * (c_hi - c_lo)
        stats.append((w_in * wins).sum(axis=1) / (n_in * n_out))
    return _interval(np.concatenate(stats), confidence)
