"""Two moons: softmax, MC dropout, a deep ensemble and a prior ensemble over the whole plane.

Four small MLPs (two hidden layers of 20 ReLU units, ``uqviz.teaching.regression1d.StackedMLP``)
learn scikit-learn's two moons. Evaluated on a grid that reaches well beyond the data, the
single softmax network is confident almost everywhere — a ReLU network's logits grow linearly
away from the data — while the ensembles' members disagree there: "a network that knows when
it does not know".

References:
    Hein, Andriushchenko & Bitterwolf, "Why ReLU networks yield high-confidence predictions far
    away from the training data", CVPR 2019; Gal & Ghahramani, "Dropout as a Bayesian
    Approximation", ICML 2016; Lakshminarayanan et al., NeurIPS 2017; Osband et al., NeurIPS
    2018.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.datasets import make_moons
from torch import nn

from uqviz.metrics.scores import mean_probabilities, uncertainty
from uqviz.models import PriorNet
from uqviz.teaching.regression1d import StackedMLP, fit_stacked

__all__ = [
    "MOONS_METHODS",
    "MoonsModels",
    "MoonsResult",
    "MoonsSettings",
    "fit_moons",
    "moons_playground",
    "predict_moons",
    "probability_map",
    "score_map",
]

MOONS_METHODS = ("softmax", "mc_dropout", "deep_ensemble", "prior_ensemble")
"""Method ids, as in ``uqviz.plots.theme.METHOD_COLORS``."""


@dataclass(frozen=True)
class MoonsSettings:
    """The two-moons playground.

    Attributes:
        n_points: training points (20–2,000).
        noise: standard deviation of the Gaussian noise of ``make_moons`` (0–0.5).
        members: K members of each ensemble (2–20).
        beta: prior scale β of the prior ensemble (> 0).
        dropout: drop probability of the MC-dropout network, in (0, 1).
        mc_samples: forward passes of MC dropout (2–200).
        seed: seeds the data, the weights, the priors and the dropout masks.
        steps: full-batch Adam steps.
    """

    n_points: int = 200
    noise: float = 0.15
    members: int = 8
    beta: float = 3.0
    dropout: float = 0.2
    mc_samples: int = 40
    seed: int = 0
    steps: int = 800

    def __post_init__(self) -> None:
        if not 20 <= self.n_points <= 2000:
            raise ValueError(f"n_points must be 20–2000, got {self.n_points}")
        if not 0 <= self.noise <= 0.5:
            raise ValueError(f"noise must be 0–0.5, got {self.noise}")
        if not 2 <= self.members <= 20:
            raise ValueError(f"members must be 2–20, got {self.members}")
        if self.beta <= 0:
            raise ValueError(f"beta must be > 0, got {self.beta}")
        if not 0 < self.dropout < 1:
            raise ValueError(f"dropout must be in (0, 1), got {self.dropout}")
        if not 2 <= self.mc_samples <= 200:
            raise ValueError(f"mc_samples must be 2–200, got {self.mc_samples}")
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")


@dataclass(frozen=True)
class MoonsModels:
    """The four trained classifiers and their training data.

    Attributes:
        settings: how they were trained.
        x: (N, 2) training inputs.
        y: (N,) labels 0/1.
        single: a ``StackedMLP`` with one member (the softmax baseline).
        dropout_net: a ``StackedMLP`` with one member and dropout (sampled for MC dropout).
        ensemble: a ``StackedMLP`` with K members (the deep ensemble).
        prior_ensemble: a ``PriorNet`` around K members (the prior ensemble).
    """

    settings: MoonsSettings
    x: np.ndarray
    y: np.ndarray
    single: nn.Module
    dropout_net: nn.Module
    ensemble: nn.Module
    prior_ensemble: nn.Module


def fit_moons(settings: MoonsSettings) -> MoonsModels:
    """Draw two moons and train the four classifiers.

    Returns:
        ``MoonsModels`` in eval mode.
    """
    x, y = make_moons(n_samples=settings.n_points, noise=settings.noise,
                      random_state=settings.seed)
    x = x.astype(np.float32)
    gen = torch.Generator().manual_seed(settings.seed)
    k = settings.members
    single = StackedMLP(1, 2, 2, generator=gen)
    dropout_net = StackedMLP(1, 2, 2, dropout=settings.dropout, generator=gen)
    ensemble = StackedMLP(k, 2, 2, generator=gen)
    prior_ensemble = PriorNet(StackedMLP(k, 2, 2, generator=gen),
                              StackedMLP(k, 2, 2, generator=gen), settings.beta)
    for net in (single, ensemble, prior_ensemble):
        fit_stacked(net, x, y, loss="ce", steps=settings.steps, lr=1e-2)
    fit_stacked(dropout_net, x, y, loss="ce", steps=settings.steps, lr=1e-2,
                generator=torch.Generator().manual_seed(settings.seed + 7))
    return MoonsModels(settings=settings, x=x, y=y.astype(np.int64), single=single,
                       dropout_net=dropout_net, ensemble=ensemble,
                       prior_ensemble=prior_ensemble)


def predict_moons(models: MoonsModels, points: np.ndarray) -> dict[str, np.ndarray]:
    """Class probabilities of each method at ``points``.

    Args:
        models: from ``fit_moons``.
        points: (N, 2) inputs.

    Returns:
        ``{method: (S, N, 2) float32}`` for ``MOONS_METHODS``: S = 1 for softmax, the MC
        samples for MC dropout, K members for the ensembles.
    """
    xt = torch.as_tensor(np.asarray(points, dtype=np.float32))
    mc = torch.Generator().manual_seed(models.settings.seed + 11)
    with torch.no_grad():
        logits = {
            "softmax": models.single(xt),
            "mc_dropout": torch.cat([models.dropout_net(xt, dropout_generator=mc)
                                     for _ in range(models.settings.mc_samples)]),
            "deep_ensemble": models.ensemble(xt),
            "prior_ensemble": models.prior_ensemble(xt),
        }
    return {m: torch.softmax(v, dim=-1).numpy() for m, v in logits.items()}


@dataclass(frozen=True)
class MoonsResult:
    """Every method's predictions over a grid of the plane.

    Attributes:
        settings: how the models were trained.
        x: (N, 2) training inputs; y: (N,) labels.
        grid_x: (Gx,) and grid_y: (Gy,) the grid's coordinates.
        probs: ``{method: (S, Gy·Gx, 2)}`` in row-major grid order (y outer, x inner).
        seconds: wall time of training and prediction.
    """

    settings: MoonsSettings
    x: np.ndarray
    y: np.ndarray
    grid_x: np.ndarray
    grid_y: np.ndarray
    probs: Mapping[str, np.ndarray]
    seconds: float


def moons_playground(settings: MoonsSettings, grid: int = 70,
                     extent: tuple[float, float, float, float] = (-3.0, 4.0, -2.5, 3.0)
                     ) -> MoonsResult:
    """Train the four classifiers and predict on a ``grid`` × ``grid`` lattice over ``extent``
    (x_min, x_max, y_min, y_max), which reaches about two moon-widths beyond the data."""
    if grid < 2:
        raise ValueError(f"grid must be >= 2, got {grid}")
    start = time.perf_counter()
    models = fit_moons(settings)
    gx = np.linspace(extent[0], extent[1], grid)
    gy = np.linspace(extent[2], extent[3], grid)
    xx, yy = np.meshgrid(gx, gy)
    probs = predict_moons(models, np.column_stack([xx.ravel(), yy.ravel()]))
    return MoonsResult(settings=settings, x=models.x, y=models.y, grid_x=gx, grid_y=gy,
                       probs=probs, seconds=time.perf_counter() - start)


def probability_map(result: MoonsResult, method: str) -> np.ndarray:
    """(Gy, Gx) mean predicted probability of class 1 of ``method`` over the grid."""
    return mean_probabilities(result.probs[method])[:, 1].reshape(len(result.grid_y),
                                                                   len(result.grid_x))


def score_map(result: MoonsResult, method: str, key: str) -> np.ndarray:
    """(Gy, Gx) uncertainty score ``key`` (``uqviz.metrics.scores.uncertainty``) of
    ``method`` over the grid."""
    return uncertainty(result.probs[method], key).reshape(len(result.grid_y),
                                                          len(result.grid_x))
