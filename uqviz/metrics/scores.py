"""Per-row uncertainty scores: (S, N, C) class probabilities -> (N,).

Every score accepts the sample axis first, ``(S, N, C)`` (S stochastic samples: ensemble
members, MC-dropout passes), or a single predictive distribution ``(N, C)`` (treated as S = 1).
"Mean probabilities" always means the mean over the S samples, ``p̄ = mean_s p_s``; the
predicted class is ``argmax_c p̄_c``. Entropies use the natural logarithm (nats) and
``0 log 0 = 0``.

``uncertainty(probs, key)`` is the one accessor every page uses: it orients each score so that
HIGHER means MORE UNCERTAIN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import entr

__all__ = [
    "ScoreInfo",
    "UNCERTAINTY_SCORES",
    "as_samples",
    "entropy",
    "expected_entropy",
    "margin",
    "max_prob",
    "mean_probabilities",
    "mutual_information",
    "predicted_class_variance",
    "uncertainty",
]


def as_samples(probs: np.ndarray) -> np.ndarray:
    """Return ``probs`` as an (S, N, C) array, adding S = 1 to an (N, C) input.

    Raises:
        ValueError: when ``probs`` is not 2- or 3-dimensional, or has no sample or no class.
    """
    probs = np.asarray(probs)
    if probs.ndim == 2:
        probs = probs[None]
    if probs.ndim != 3:
        raise ValueError(f"probs must be (S, N, C) or (N, C), got shape {probs.shape}")
    if probs.shape[0] < 1 or probs.shape[2] < 1:
        raise ValueError(f"probs needs S >= 1 samples and C >= 1 classes, got shape {probs.shape}")
    if not np.issubdtype(probs.dtype, np.floating):
        probs = probs.astype(np.float64)
    return probs


def mean_probabilities(probs: np.ndarray) -> np.ndarray:
    """(S, N, C) or (N, C) -> (N, C) float64 mean over the samples, ``p̄ = mean_s p_s``."""
    samples = as_samples(probs)
    if samples.shape[0] == 1:
        return samples[0].astype(np.float64, copy=False)
    return samples.mean(axis=0, dtype=np.float64)


def max_prob(probs: np.ndarray) -> np.ndarray:
    """Maximum softmax probability of the mean prediction, ``max_c p̄_c``.

    Args:
        probs: (S, N, C) or (N, C) class probabilities.

    Returns:
        (N,) float64 in [1/C, 1]; high means confident.

    References:
        Hendrycks & Gimpel, "A Baseline for Detecting Misclassified and Out-of-Distribution
        Examples in Neural Networks", ICLR 2017.
    """
    return mean_probabilities(probs).max(axis=1)


def margin(probs: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 probability of the mean prediction, ``p̄_(1) - p̄_(2)``.

    Args:
        probs: (S, N, C) or (N, C) class probabilities, C >= 2.

    Returns:
        (N,) float64 in [0, 1]; high means confident.

    References:
        Scheffer, Decomain & Wrobel, "Active Hidden Markov Models for Information Extraction",
        IDA 2001 (margin sampling).
    """
    mean = mean_probabilities(probs)
    if mean.shape[1] < 2:
        raise ValueError(f"margin needs C >= 2 classes, got {mean.shape[1]}")
    top_two = np.partition(mean, mean.shape[1] - 2, axis=1)[:, -2:]
    return top_two[:, 1] - top_two[:, 0]


def entropy(probs: np.ndarray) -> np.ndarray:
    """Total predictive entropy ``H[p̄] = -sum_c p̄_c log p̄_c`` (nats).

    Args:
        probs: (S, N, C) or (N, C) class probabilities.

    Returns:
        (N,) float64 in [0, log C]; high means uncertain.

    References:
        Gal, "Uncertainty in Deep Learning", PhD thesis, University of Cambridge, 2016, §3.3.1.
    """
    return entr(mean_probabilities(probs)).sum(axis=1)


def expected_entropy(probs: np.ndarray) -> np.ndarray:
    """Aleatoric uncertainty: mean entropy of the samples, ``mean_s H[p_s]`` (nats).

    Args:
        probs: (S, N, C) or (N, C) class probabilities.

    Returns:
        (N,) float64 in [0, log C]; equals ``entropy`` when S = 1.

    References:
        Depeweg et al., "Decomposition of Uncertainty in Bayesian Deep Learning for Efficient
        and Risk-sensitive Learning", ICML 2018.
    """
    samples = as_samples(probs)
    total = np.zeros(samples.shape[1], dtype=np.float64)
    for sample in samples:
        total += entr(sample.astype(np.float64, copy=False)).sum(axis=1)
    return total / samples.shape[0]


def mutual_information(probs: np.ndarray) -> np.ndarray:
    """Epistemic uncertainty (BALD): ``max(H[p̄] - mean_s H[p_s], 0)`` (nats).

    The difference is clipped at 0 to remove negative float round-off.

    Args:
        probs: (S, N, C) or (N, C) class probabilities.

    Returns:
        (N,) float64 >= 0; identically 0 when S = 1.

    References:
        Houlsby et al., "Bayesian Active Learning for Classification and Preference Learning",
        2011; Gal, Islam & Ghahramani, "Deep Bayesian Active Learning with Image Data", ICML 2017.
    """
    return np.maximum(entropy(probs) - expected_entropy(probs), 0.0)


def predicted_class_variance(probs: np.ndarray) -> np.ndarray:
    """Variance over samples of the probability of the predicted class.

    ``Var_s[p_s,ŷ]`` with ``ŷ = argmax_c p̄_c`` and the population variance (divide by S).

    Args:
        probs: (S, N, C) or (N, C) class probabilities.

    Returns:
        (N,) float64 in [0, 0.25]; identically 0 when S = 1.

    References:
        Leibig et al., "Leveraging uncertainty information from deep neural networks for
        disease detection", Scientific Reports 7, 17816 (2017) (predictive standard deviation).
    """
    samples = as_samples(probs)
    predicted = mean_probabilities(samples).argmax(axis=1)
    rows = np.arange(samples.shape[1])
    chosen = samples[:, rows, predicted].astype(np.float64)
    return chosen.var(axis=0)


@dataclass(frozen=True)
class ScoreInfo:
    """How to show one uncertainty score in the interface.

    Attributes:
        key: id used by ``uncertainty(probs, key)``.
        label: short label for axes and menus.
        meaning: one line saying what a high value means.
        needs_samples: True when the score is only informative with S > 1 samples.
    """

    key: str
    label: str
    meaning: str
    needs_samples: bool


UNCERTAINTY_SCORES: dict[str, ScoreInfo] = {
    info.key: info
    for info in (
        ScoreInfo(
            "max_prob",
            "1 − max probability",
            "One minus the probability of the predicted class; high when no class dominates.",
            False,
        ),
        ScoreInfo(
            "margin",
            "1 − margin",
            "One minus the gap between the two most likely classes; high when two classes compete.",
            False,
        ),
        ScoreInfo(
            "entropy",
            "Predictive entropy",
            "Total uncertainty: entropy (nats) of the averaged prediction.",
            False,
        ),
        ScoreInfo(
            "expected_entropy",
            "Expected entropy (aleatoric)",
            "Mean entropy of the individual samples: ambiguity every sample agrees on.",
            True,
        ),
        ScoreInfo(
            "mutual_information",
            "Mutual information (epistemic)",
            "Disagreement between samples: total entropy minus expected entropy.",
            True,
        ),
        ScoreInfo(
            "variance",
            "Predicted-class variance",
            "Variance across samples of the predicted class's probability.",
            True,
        ),
    )
}


def uncertainty(probs: np.ndarray, key: str) -> np.ndarray:
    """Uncertainty score ``key`` oriented so that HIGHER means MORE UNCERTAIN.

    ``max_prob`` -> ``1 - max_prob``, ``margin`` -> ``1 - margin``, ``entropy``,
    ``expected_entropy``, ``mutual_information`` and ``variance`` (predicted-class variance)
    as they are.

    Args:
        probs: (S, N, C) or (N, C) class probabilities.
        key: one of ``UNCERTAINTY_SCORES``.

    Returns:
        (N,) float64 uncertainty.

    Raises:
        ValueError: for an unknown key, listing the valid ones.
    """
    if key == "max_prob":
        return 1.0 - max_prob(probs)
    if key == "margin":
        return 1.0 - margin(probs)
    if key == "entropy":
        return entropy(probs)
    if key == "expected_entropy":
        return expected_entropy(probs)
    if key == "mutual_information":
        return mutual_information(probs)
    if key == "variance":
        return predicted_class_variance(probs)
    raise ValueError(f"unknown uncertainty score {key!r}; valid: {', '.join(UNCERTAINTY_SCORES)}")
