"""1-D regression with an ensemble of small MLPs, data with a gap, and randomized priors.

The ensemble's K members (two hidden layers of 20 ReLU units each) are trained at once as one
*stacked* network: every weight has a leading member axis and a batched matrix product runs
all members together, so ten members cost about what one does. Members are independent (the
loss is a sum over members and Adam is per-parameter). The same stacked network serves the two
moons and the aleatoric-vs-epistemic toys (``uqviz.teaching.moons``,
``uqviz.teaching.decomposition``).

A randomized prior reuses ``uqviz.models.PriorNet``: each member is ``f_k(x) + β p_k(x)`` with
``p_k`` a fixed, randomly initialised stacked MLP (or a fixed sine) that is never trained, and
optionally a bootstrap resample of the data per member (as per-member sample counts).

References:
    Lakshminarayanan, Pritzel & Blundell, "Simple and Scalable Predictive Uncertainty
    Estimation using Deep Ensembles", NeurIPS 2017; Osband, Aslanides & Cassirer, "Randomized
    Prior Functions for Deep Reinforcement Learning", NeurIPS 2018.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from uqviz.models import PriorNet

__all__ = [
    "FOUR_SETTINGS",
    "HIDDEN",
    "PRIOR_KINDS",
    "EnsembleFit1D",
    "GapData",
    "RegressionSettings",
    "SinePrior",
    "StackedMLP",
    "bootstrap_counts",
    "fit_ensemble_1d",
    "fit_stacked",
    "gap_data",
    "region_masks",
    "region_spread",
]

HIDDEN = (20, 20)
PRIOR_KINDS = ("none", "random", "sine")


class StackedMLP(nn.Module):
    """K independent MLPs with ReLU hidden layers, evaluated together.

    Weights are stored as (K, d_in, d_out); ``forward`` maps (N, d_in) — the same inputs for
    every member — or (K, N, d_in) to (K, N, d_out). Initialisation matches ``nn.Linear``
    (uniform in ±1/√d_in) and draws from ``generator`` only. With ``dropout`` > 0 the hidden
    units are dropped with masks drawn from the generator given to ``forward`` (training and
    MC dropout alike); without one, dropout is off.

    Args:
        members: K, the number of networks.
        d_in: input features.
        d_out: outputs (1 for regression, C logits for classification).
        hidden: widths of the hidden layers.
        dropout: drop probability of hidden units, in [0, 1).
        generator: a seeded ``torch.Generator`` for the initial weights.
    """

    def __init__(self, members: int, d_in: int, d_out: int, *, hidden: tuple[int, ...] = HIDDEN,
                 dropout: float = 0.0, generator: torch.Generator) -> None:
        super().__init__()
        if members < 1:
            raise ValueError(f"members must be >= 1, got {members}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        widths = (d_in, *hidden, d_out)
        self.members = members
        self.dropout = float(dropout)
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(widths[:-1], widths[1:], strict=True):
            bound = 1.0 / math.sqrt(fan_in)
            w = (torch.rand(members, fan_in, fan_out, generator=generator) * 2 - 1) * bound
            b = (torch.rand(members, 1, fan_out, generator=generator) * 2 - 1) * bound
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(b))

    def forward(self, x: torch.Tensor, dropout_generator: torch.Generator | None = None
                ) -> torch.Tensor:
        h = x if x.dim() == 3 else x.unsqueeze(0).expand(self.members, -1, -1)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(b, h, w)
            if i < last:
                h = torch.relu(h)
                if self.dropout > 0 and dropout_generator is not None:
                    keep = torch.rand(h.shape, generator=dropout_generator) >= self.dropout
                    h = h * keep / (1.0 - self.dropout)
        return h


class SinePrior(nn.Module):
    """A fixed prior function ``sin(ω x)`` shared by every member: (N, 1) -> (K, N, 1)."""

    def __init__(self, members: int, frequency: float = 1.0) -> None:
        super().__init__()
        self.members = members
        self.frequency = float(frequency)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x if x.dim() == 3 else x.unsqueeze(0).expand(self.members, -1, -1)
        return torch.sin(self.frequency * x[..., :1])


def bootstrap_counts(members: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """(K, N) float32 sample counts of K bootstrap resamples of N rows (each row sums to N)."""
    idx = rng.integers(0, n, size=(members, n))
    return np.stack([np.bincount(row, minlength=n) for row in idx]).astype(np.float32)


def fit_stacked(net: nn.Module, x: np.ndarray, y: np.ndarray, *, loss: str,
                counts: np.ndarray | None = None, steps: int = 1500, lr: float = 1e-2,
                weight_decay: float = 0.0, generator: torch.Generator | None = None
                ) -> nn.Module:
    """Train a stacked network full-batch with Adam; every member on its own sample weights.

    Args:
        net: maps (N, d_in) to (K, N, d_out) (a ``StackedMLP`` or a ``PriorNet`` around one).
        x: (N, d_in) inputs.
        y: (N,) float targets (``loss="mse"``) or int class labels (``loss="ce"``).
        counts: (K, N) sample weights (bootstrap counts); None weighs every row 1.
        steps: full-batch Adam steps, with a cosine learning-rate decay.
        lr: initial learning rate.
        weight_decay: L2 penalty on the trainable weights.
        generator: draws the dropout masks (None: no dropout while training).

    Returns:
        ``net``, in eval mode.
    """
    if loss not in ("mse", "ce"):
        raise ValueError(f"loss must be 'mse' or 'ce', got {loss!r}")
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32))
    n = xt.shape[0]
    with torch.no_grad():
        members = net(xt).shape[0]
    w = torch.ones(members, n) if counts is None else torch.as_tensor(counts, dtype=torch.float32)
    if w.shape != (members, n):
        raise ValueError(f"counts must be (K, N) = ({members}, {n}), got {tuple(w.shape)}")
    w = w / w.sum(dim=1, keepdim=True)
    if loss == "mse":
        target = torch.as_tensor(np.asarray(y, dtype=np.float32)).reshape(1, n)
    else:
        target = torch.as_tensor(np.asarray(y, dtype=np.int64)).reshape(1, n).expand(members, n)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=lr * 0.05)
    net.train()
    kwargs = {} if generator is None else {"dropout_generator": generator}
    for _ in range(steps):
        out = net(xt, **kwargs)
        if loss == "mse":
            per_row = (out[..., 0] - target) ** 2
        else:
            per_row = nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]),
                                                  target.reshape(-1), reduction="none")
            per_row = per_row.reshape(members, n)
        total = (per_row * w).sum()
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        sched.step()
    net.eval()
    return net


@dataclass(frozen=True)
class GapData:
    """Training points of the 1-D toy and where they are.

    Attributes:
        x: (N,) inputs, in two clusters ``support[0]`` and ``support[1]``.
        y: (N,) noisy targets.
        support: ((lo, hi), (lo, hi)) the two intervals holding data; the gap lies between them.
        domain: (lo, hi) the plotted range, wider than the data on both sides.
    """

    x: np.ndarray
    y: np.ndarray
    support: tuple[tuple[float, float], tuple[float, float]]
    domain: tuple[float, float]


def _target(x: np.ndarray) -> np.ndarray:
    return np.sin(1.2 * x) + 0.25 * x


def gap_data(n: int = 40, noise: float = 0.1, seed: int = 0) -> GapData:
    """N points of ``sin(1.2x) + x/4`` plus Gaussian noise, half in [-4, -1.5], half in
    [1.5, 4]; nothing in the gap between nor beyond ±4 (plotted over [-7, 7]).

    Raises:
        ValueError: for n < 4 or a negative noise.
    """
    if n < 4:
        raise ValueError(f"n must be >= 4, got {n}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    support = ((-4.0, -1.5), (1.5, 4.0))
    left = rng.uniform(*support[0], size=n // 2)
    right = rng.uniform(*support[1], size=n - n // 2)
    x = np.sort(np.concatenate([left, right]))
    y = _target(x) + noise * rng.standard_normal(n)
    return GapData(x=x, y=y, support=support, domain=(-7.0, 7.0))


@dataclass(frozen=True)
class RegressionSettings:
    """One ensemble of the 1-D playground.

    Attributes:
        members: K networks (1–50).
        prior: ``none``, ``random`` (a fixed random MLP per member) or ``sine`` (a fixed
            ``sin x`` shared by all).
        beta: prior scale β >= 0 (ignored when ``prior`` is ``none``).
        bootstrap: each member trains on its own bootstrap resample.
        seed: seeds the data-independent randomness (initial weights, priors, resamples).
        steps: full-batch Adam steps.
    """

    members: int = 10
    prior: str = "none"
    beta: float = 3.0
    bootstrap: bool = False
    seed: int = 0
    steps: int = 1000

    def __post_init__(self) -> None:
        if not 1 <= self.members <= 50:
            raise ValueError(f"members must be 1–50, got {self.members}")
        if self.prior not in PRIOR_KINDS:
            raise ValueError(f"prior must be one of {PRIOR_KINDS}, got {self.prior!r}")
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}")
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")


FOUR_SETTINGS: tuple[tuple[str, str, bool], ...] = (
    ("Plain ensemble", "none", False),
    ("With prior", "random", False),
    ("Prior + bootstrap", "random", True),
    ("Sine prior + bootstrap", "sine", True),
)
"""The four ensembles of the randomized-prior material: (title, prior, bootstrap)."""


@dataclass(frozen=True)
class EnsembleFit1D:
    """A trained 1-D ensemble evaluated on a grid.

    Attributes:
        settings: how it was trained.
        data: the training points.
        x_grid: (G,) evaluation inputs over ``data.domain``.
        members: (K, G) each member's prediction.
        mean: (G,) ensemble mean.
        std: (G,) predictive σ, the population standard deviation over members.
        prior: (K, G) each member's prior term β·p_k(x) (zeros without a prior).
        seconds: wall time of training and prediction.
    """

    settings: RegressionSettings
    data: GapData
    x_grid: np.ndarray
    members: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    prior: np.ndarray
    seconds: float


def _build_1d(settings: RegressionSettings, generator: torch.Generator) -> nn.Module:
    net = StackedMLP(settings.members, 1, 1, generator=generator)
    if settings.prior == "none" or settings.beta == 0:
        return net
    if settings.prior == "random":
        prior: nn.Module = StackedMLP(settings.members, 1, 1, generator=generator)
    else:
        prior = SinePrior(settings.members)
    return PriorNet(net, prior, settings.beta)


def fit_ensemble_1d(settings: RegressionSettings, data: GapData | None = None,
                    grid_points: int = 281) -> EnsembleFit1D:
    """Train the ensemble of ``settings`` on ``data`` (default ``gap_data()``) and evaluate it.

    Args:
        settings: members, prior, β, bootstrap, seed, steps.
        data: training points; None uses ``gap_data()``.
        grid_points: G, evaluation points over ``data.domain``.

    Returns:
        An ``EnsembleFit1D`` with every member's curve, the mean and σ.

    References:
        Osband, Aslanides & Cassirer, "Randomized Prior Functions for Deep Reinforcement
        Learning", NeurIPS 2018 (prior and bootstrap); Lakshminarayanan et al., NeurIPS 2017.
    """
    start = time.perf_counter()
    data = data if data is not None else gap_data()
    gen = torch.Generator().manual_seed(settings.seed)
    net = _build_1d(settings, gen)
    counts = (bootstrap_counts(settings.members, len(data.x),
                               np.random.default_rng(settings.seed + 1))
              if settings.bootstrap else None)
    fit_stacked(net, data.x[:, None], data.y, loss="mse", counts=counts, steps=settings.steps)
    x_grid = np.linspace(*data.domain, grid_points)
    xt = torch.as_tensor(x_grid[:, None], dtype=torch.float32)
    with torch.no_grad():
        members = net(xt)[..., 0].numpy().astype(np.float64)
        prior = (net.beta * net.prior(xt)[..., 0].numpy().astype(np.float64)
                 if isinstance(net, PriorNet) else np.zeros_like(members))
    return EnsembleFit1D(settings=settings, data=data, x_grid=x_grid, members=members,
                         mean=members.mean(axis=0), std=members.std(axis=0), prior=prior,
                         seconds=time.perf_counter() - start)


def region_masks(x: np.ndarray, data: GapData) -> dict[str, np.ndarray]:
    """Boolean masks of ``x`` (G,) for ``inside`` the data, the ``gap`` between its two
    clusters and ``outside`` (beyond both ends)."""
    (a, b), (c, d) = data.support
    inside = ((x >= a) & (x <= b)) | ((x >= c) & (x <= d))
    gap = (x > b) & (x < c)
    outside = (x < a) | (x > d)
    return {"inside": inside, "gap": gap, "outside": outside}


def region_spread(fit: EnsembleFit1D) -> dict[str, float]:
    """Mean predictive σ over the grid points ``inside`` the data, in the ``gap`` and
    ``outside`` it."""
    return {name: float(fit.std[mask].mean())
            for name, mask in region_masks(fit.x_grid, fit.data).items()}
