"""Temperature scaling's fit: the temperature T > 0 that minimises the negative log-likelihood
of softmax(logits / T) on labelled rows. numpy and scipy only (no torch), so the label-free
estimators (``label_free``) and the temperature method (``uqviz.methods.temperature``) share
one fit.

References: Guo, Pleiss, Sun & Weinberger, "On Calibration of Modern Neural Networks",
ICML 2017.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

__all__ = [
    "cross_validated_nll_gain",
    "fit_temperature",
    "nll_at_temperature",
    "nll_optimal_temperature",
]


def nll_at_temperature(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of ``labels`` under softmax(logits / T).

    Args:
        logits: (N, C) float.
        labels: (N,) int in 0..C-1.
        temperature: T > 0.
    """
    z = logits.astype(np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1))
    return float(np.mean(log_norm - z[np.arange(len(labels)), labels]))


def nll_optimal_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T > 0 minimising the NLL of softmax(logits / T) on (logits, labels).

    Minimised over log T in [-4, 4] (T between 0.018 and 55) with Brent's bounded method.

    References: Guo, Pleiss, Sun & Weinberger, "On Calibration of Modern Neural Networks",
    ICML 2017.
    """
    if len(labels) == 0:
        raise ValueError("fitting a temperature needs at least one validation example, got 0")
    result = minimize_scalar(lambda log_t: nll_at_temperature(logits, labels, np.exp(log_t)),
                             bounds=(-4.0, 4.0), method="bounded", options={"xatol": 1e-5})
    return float(np.exp(result.x))


def cross_validated_nll_gain(logits: np.ndarray, labels: np.ndarray, *, folds: int = 5,
                             seed: int = 0) -> float:
    """Held-out NLL at T = 1 minus held-out NLL at a temperature fitted on the other folds,
    summed over ``folds`` seeded folds of the validation set (positive: scaling helps)."""
    order = np.random.default_rng(seed).permutation(len(labels))
    gain = 0.0
    for held in np.array_split(order, folds):
        if len(held) == 0:
            continue
        fit = np.setdiff1d(order, held)
        t = nll_optimal_temperature(logits[fit], labels[fit])
        gain += len(held) * (nll_at_temperature(logits[held], labels[held], 1.0)
                             - nll_at_temperature(logits[held], labels[held], t))
    return gain / len(labels)


def fit_temperature(logits: np.ndarray, labels: np.ndarray, *, folds: int = 5,
                    seed: int = 0) -> float:
    """Temperature scaling's T: the NLL-optimal temperature on the validation set, kept only
    when it also lowers the NLL on held-out folds of that set; otherwise T = 1.

    A network that is already calibrated has an optimal T near 1, and on a small validation
    set (say, five mistakes) the fitted T is mostly noise that makes the test NLL worse. The
    ``folds``-fold cross-check (fit on k-1 folds, score the held-out fold) keeps T only when
    scaling helps on data it was not fitted on.

    References: Guo, Pleiss, Sun & Weinberger, "On Calibration of Modern Neural Networks",
    ICML 2017.
    """
    t = nll_optimal_temperature(logits, labels)
    if len(labels) >= 2 * folds and cross_validated_nll_gain(logits, labels, folds=folds,
                                                             seed=seed) <= 0:
        return 1.0
    return t
