"""Aleatoric vs epistemic: entropy = expected entropy + mutual information.

Two pieces: the decomposition of one input's member predictions, worked with its numbers, and
a 1-D toy classifier whose training data has a noisy-label block (aleatoric uncertainty: every
member agrees the label is a coin flip, and more data does not change that) and a number of
points the teacher can lower (epistemic uncertainty: with few points the members disagree, with
many they agree). Every number comes from
``uqviz.metrics.scores``, the functions the rest of the app uses.

References:
    Depeweg et al., "Decomposition of Uncertainty in Bayesian Deep Learning for Efficient and
    Risk-sensitive Learning", ICML 2018; Houlsby et al., "Bayesian Active Learning for
    Classification and Preference Learning", 2011; Kendall & Gal, "What Uncertainties Do We
    Need in Bayesian Deep Learning for Computer Vision?", NeurIPS 2017.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from uqviz.metrics.scores import entropy, expected_entropy, mean_probabilities, mutual_information
from uqviz.models import PriorNet
from uqviz.teaching.regression1d import StackedMLP, bootstrap_counts, fit_stacked

__all__ = [
    "WORKED_EXAMPLE",
    "Decomposition",
    "ToyResult",
    "ToySettings",
    "aleatoric_epistemic_toy",
    "decompose",
    "region_means",
]

WORKED_EXAMPLE: tuple[float, ...] = (0.9, 0.6, 0.2)
"""P(class 1) of three ensemble members on one input (two classes)."""


@dataclass(frozen=True)
class Decomposition:
    """Total uncertainty of one input split into its aleatoric and epistemic parts (nats).

    Attributes:
        member_probs: (S, C) each member's class probabilities.
        mean_probs: (C,) their average p̄.
        member_entropies: (S,) H[p_s] of each member.
        total: H[p̄], the predictive entropy.
        aleatoric: mean_s H[p_s], the expected entropy.
        epistemic: H[p̄] − mean_s H[p_s], the mutual information.
    """

    member_probs: np.ndarray
    mean_probs: np.ndarray
    member_entropies: np.ndarray
    total: float
    aleatoric: float
    epistemic: float


def decompose(member_probs: np.ndarray) -> Decomposition:
    """Decompose the predictive entropy of one input.

    Args:
        member_probs: (S, C) class probabilities of S members (or (S,) probabilities of class 1
            of a two-class problem).

    Returns:
        A ``Decomposition``; ``total == aleatoric + epistemic`` up to round-off.

    Raises:
        ValueError: when a row is not a probability vector.

    References:
        Depeweg et al., ICML 2018.
    """
    p = np.asarray(member_probs, dtype=np.float64)
    if p.ndim == 1:
        p = np.column_stack([1.0 - p, p])
    if p.ndim != 2 or p.shape[0] < 1 or p.shape[1] < 2:
        raise ValueError(f"member_probs must be (S, C) with C >= 2 or (S,), got shape {p.shape}")
    if np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError(f"each member's probabilities must be >= 0 and sum to 1, got {p.tolist()}")
    samples = p[:, None, :]
    return Decomposition(
        member_probs=p,
        mean_probs=mean_probabilities(samples)[0],
        member_entropies=entropy(p),
        total=float(entropy(samples)[0]),
        aleatoric=float(expected_entropy(samples)[0]),
        epistemic=float(mutual_information(samples)[0]),
    )


@dataclass(frozen=True)
class ToySettings:
    """The 1-D toy: class 0 left of 0, class 1 right of it, training inputs uniform on [-4, 4].

    Attributes:
        label_noise: share of labels flipped in the noisy block ``NOISY`` (0–0.5).
        n_points: training points (4–400); few points leave the members free to disagree.
        members: K ensemble members (2–30), each with a randomized prior and a bootstrap
            resample of the data.
        beta: the prior scale β >= 0.
        seed: seeds the data, the weights, the priors and the resamples.
        steps: full-batch Adam steps.
    """

    label_noise: float = 0.3
    n_points: int = 120
    members: int = 10
    beta: float = 3.0
    seed: int = 0
    steps: int = 800

    NOISY = (1.5, 4.0)
    DATA = (-4.0, 4.0)
    DOMAIN = (-6.0, 6.0)

    def __post_init__(self) -> None:
        if not 0 <= self.label_noise <= 0.5:
            raise ValueError(f"label_noise must be 0–0.5, got {self.label_noise}")
        if not 4 <= self.n_points <= 400:
            raise ValueError(f"n_points must be 4–400, got {self.n_points}")
        if not 2 <= self.members <= 30:
            raise ValueError(f"members must be 2–30, got {self.members}")
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}")
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")


@dataclass(frozen=True)
class ToyResult:
    """The toy's data and the ensemble's uncertainty along x.

    Attributes:
        settings: how it was made.
        x: (N,) training inputs; y: (N,) labels after the flips; flipped: (N,) bool.
        x_grid: (G,) evaluation points over ``ToySettings.DOMAIN``.
        probs: (K, G, 2) each member's class probabilities.
        total: (G,) predictive entropy; aleatoric: (G,) expected entropy; epistemic: (G,)
            mutual information (nats).
        seconds: wall time of training and prediction.
    """

    settings: ToySettings
    x: np.ndarray
    y: np.ndarray
    flipped: np.ndarray
    x_grid: np.ndarray
    probs: np.ndarray
    total: np.ndarray
    aleatoric: np.ndarray
    epistemic: np.ndarray
    seconds: float


def _toy_data(s: ToySettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(s.seed)
    x = np.sort(rng.uniform(*s.DATA, s.n_points))
    y = (x > 0).astype(np.int64)
    noisy = (x >= s.NOISY[0]) & (x <= s.NOISY[1])
    flip = noisy & (rng.random(len(x)) < s.label_noise)
    y[flip] = 1 - y[flip]
    return x, y, flip


def aleatoric_epistemic_toy(settings: ToySettings, grid_points: int = 241) -> ToyResult:
    """Train a prior ensemble (with bootstraps) on the toy and decompose its uncertainty
    along x.

    Returns:
        A ``ToyResult``: raising ``label_noise`` raises ``aleatoric`` in the noisy block;
        fewer ``n_points`` raise ``epistemic`` over the whole range.

    References:
        Depeweg et al., ICML 2018; Osband et al., NeurIPS 2018 (priors and bootstraps).
    """
    start = time.perf_counter()
    x, y, flipped = _toy_data(settings)
    gen = torch.Generator().manual_seed(settings.seed)
    k = settings.members
    net = StackedMLP(k, 1, 2, generator=gen)
    if settings.beta > 0:
        net = PriorNet(net, StackedMLP(k, 1, 2, generator=gen), settings.beta)
    counts = bootstrap_counts(k, len(x), np.random.default_rng(settings.seed + 1))
    fit_stacked(net, x[:, None], y, loss="ce", counts=counts, steps=settings.steps, lr=1e-2)
    x_grid = np.linspace(*settings.DOMAIN, grid_points)
    with torch.no_grad():
        logits = net(torch.as_tensor(x_grid[:, None], dtype=torch.float32))
    probs = torch.softmax(logits, dim=-1).numpy().astype(np.float64)
    return ToyResult(settings=settings, x=x, y=y, flipped=flipped, x_grid=x_grid, probs=probs,
                     total=entropy(probs), aleatoric=expected_entropy(probs),
                     epistemic=mutual_information(probs), seconds=time.perf_counter() - start)


def region_means(result: ToyResult) -> dict[str, dict[str, float]]:
    """Mean aleatoric and epistemic uncertainty (nats) over the ``noisy`` block and over the
    whole ``data`` range: ``{"noisy": {"aleatoric": …, "epistemic": …}, "data": {…}}``."""
    out = {}
    for name, (lo, hi) in (("noisy", result.settings.NOISY), ("data", result.settings.DATA)):
        mask = (result.x_grid >= lo) & (result.x_grid <= hi)
        out[name] = {"aleatoric": float(result.aleatoric[mask].mean()),
                     "epistemic": float(result.epistemic[mask].mean())}
    return out
