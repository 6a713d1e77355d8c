"""Two moons: softmax, MC dropout, a deep ensemble, a prior ensemble and SNGP over the plane.

Four small MLPs (two hidden layers of 20 ReLU units, ``uqviz.teaching.regression1d.StackedMLP``)
learn scikit-learn's two moons. Evaluated on a grid that reaches well beyond the data, the
single softmax network is confident almost everywhere — a ReLU network's logits grow linearly
away from the data — while the ensembles' members disagree there: "a network that knows when
it does not know". The fifth model, SNGP (``SNGPNet``), is a single network made aware of
distance: spectrally normalised residual layers keep distances of the plane, and a Gaussian-
process output layer returns to "don't know" away from the data in every direction.

References:
    Hein, Andriushchenko & Bitterwolf, "Why ReLU networks yield high-confidence predictions far
    away from the training data", CVPR 2019; Gal & Ghahramani, "Dropout as a Bayesian
    Approximation", ICML 2016; Lakshminarayanan et al., NeurIPS 2017; Osband et al., NeurIPS
    2018; Liu et al., "Simple and Principled Uncertainty Estimation with Deterministic Deep
    Learning via Distance Awareness" (SNGP), NeurIPS 2020; Lu, Ie & Sha, "Uncertainty
    Estimation with Infinitesimal Jackknife, Its Distribution and Mean-Field Approximation",
    2020.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.datasets import make_moons
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from uqviz.metrics.scores import mean_probabilities, uncertainty
from uqviz.models import PriorNet
from uqviz.teaching.regression1d import StackedMLP, fit_stacked

__all__ = [
    "MOONS_METHODS",
    "MoonsModels",
    "MoonsResult",
    "MoonsSettings",
    "RandomFeatureGP",
    "SNGPNet",
    "SpectralResidual",
    "fit_moons",
    "fit_sngp",
    "moons_playground",
    "predict_moons",
    "probability_map",
    "score_map",
]

MOONS_METHODS = ("softmax", "mc_dropout", "deep_ensemble", "prior_ensemble", "sngp")
"""Method ids, as in ``uqviz.plots.theme.METHOD_COLORS`` (SNGP lives on this page only)."""


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


SNGP_WIDTH = 32
"""Width of SNGP's hidden space (the plane is projected into it, then residual blocks)."""
SNGP_DEPTH = 2
"""Residual blocks of SNGP, as many as the other networks' hidden layers."""
SNGP_BOUND = 0.95
"""Spectral-norm bound c of each residual block: below 1, so the blocks keep distances."""
SNGP_FEATURES = 256
"""Random Fourier features M of SNGP's Gaussian-process layer."""
SNGP_LENGTH_SCALE = 0.3
"""Length scale ℓ of the RBF kernel the random features approximate (plane units)."""


class SpectralResidual(nn.Module):
    """One residual block ``h + ReLU(W h + b)`` with the spectral norm of W at most ``bound``.

    ``torch.nn.utils.parametrizations.spectral_norm`` turns W into W / σ̂, σ̂ its largest
    singular value estimated by power iteration (one step per forward pass while training,
    frozen in eval mode). As in Liu et al. (2020) the block then uses W · min(1, c / σ̂): a
    weight already inside the bound is left alone, a larger one is scaled down to norm c. σ̂ is
    read back as ‖W‖_F / ‖W / σ̂‖_F. With c < 1 the block is bi-Lipschitz,
    (1 − c)·‖h − h′‖ ≤ ‖f(h) − f(h′)‖ ≤ (1 + c)·‖h − h′‖, so points far apart in the plane stay
    far apart in the hidden space — the distance awareness the output layer needs.

    Args:
        width: features in and out.
        bound: c, the largest singular value allowed (> 0).
    """

    def __init__(self, width: int, bound: float) -> None:
        super().__init__()
        if bound <= 0:
            raise ValueError(f"bound must be > 0, got {bound}")
        self.bound = float(bound)
        self.linear = spectral_norm(nn.Linear(width, width))

    def weight(self) -> torch.Tensor:
        """The weight the block uses, W · min(1, c / σ̂) (a power-iteration step when training)."""
        normalised = self.linear.weight
        sigma = self.linear.parametrizations.weight.original.norm() / normalised.norm()
        return normalised * sigma.clamp(max=self.bound)

    @torch.no_grad()
    def settle(self, iterations: int = 200) -> None:
        """Run the power iteration ``iterations`` more times on the weight as it is: during
        training the estimate trails the weight by a step, and one step per pass converges
        slowly when the top singular values are close."""
        mode = self.training
        self.train()
        for _ in range(iterations):
            _ = self.linear.weight  # each read in train mode is one power-iteration step
        self.train(mode)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + torch.relu(nn.functional.linear(h, self.weight(), self.linear.bias))


class RandomFeatureGP(nn.Module):
    """SNGP's output layer: a Gaussian process approximated by M random Fourier features.

    φ(h) = √(2/M)·cos(h W + b), with W ~ N(0, 1/ℓ²) and b ~ U(0, 2π) drawn once and fixed, so
    that φ(h)·φ(h′) ≈ exp(−‖h − h′‖² / 2ℓ²) (Rahimi & Recht, 2007). The logits φ(h)·β are
    linear in the trained output weights β, whose prior is N(0, I) (``fit_sngp`` adds ‖β‖² / 2
    to the summed cross-entropy). ``fit_covariance`` sets the Laplace posterior precision over
    the training data, P = I + Σ_i p_i(1 − p_i)·φ_i φ_iᵀ (p_i the probability of the predicted
    class, the multi-class form of Liu et al.'s code), and keeps Σ = P⁻¹; ``variance`` is
    φ(h)ᵀ Σ φ(h), the posterior variance of each logit at h. Before ``fit_covariance`` the
    precision is the prior's alone (P = I) and the variance is the prior's, φ(h)ᵀφ(h) ≈ 1.

    Args:
        d_in: features of h.
        n_classes: logits out.
        features: M.
        length_scale: ℓ (> 0), in the units of h.
        generator: draws W, b and the initial β.
    """

    def __init__(self, d_in: int, n_classes: int, *, features: int = SNGP_FEATURES,
                 length_scale: float = SNGP_LENGTH_SCALE,
                 generator: torch.Generator) -> None:
        super().__init__()
        if length_scale <= 0:
            raise ValueError(f"length_scale must be > 0, got {length_scale}")
        self.n_features = features
        self.register_buffer(
            "rff_weight", torch.randn(d_in, features, generator=generator) / length_scale)
        self.register_buffer("rff_bias", torch.rand(features, generator=generator) * 2 * math.pi)
        self.output = nn.Parameter(0.01 * torch.randn(features, n_classes, generator=generator))
        self.register_buffer("covariance", torch.eye(features))

    def features(self, h: torch.Tensor) -> torch.Tensor:
        """(N, M) random features φ(h)."""
        return math.sqrt(2.0 / self.n_features) * torch.cos(h @ self.rff_weight + self.rff_bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """(N, C) posterior-mean logits φ(h)·β."""
        return self.features(h) @ self.output

    def variance(self, h: torch.Tensor) -> torch.Tensor:
        """(N,) posterior variance of each logit, φ(h)ᵀ Σ φ(h)."""
        phi = self.features(h)
        return ((phi @ self.covariance) * phi).sum(dim=-1)

    @torch.no_grad()
    def fit_covariance(self, h: torch.Tensor) -> None:
        """Σ = P⁻¹ from the training data's hidden features ``h`` (N, d_in), in one pass;
        no rows leave the prior's Σ = I."""
        phi = self.features(h)
        top = torch.softmax(phi @ self.output, dim=-1).amax(dim=-1)
        phi = phi.double()
        precision = torch.eye(self.n_features, dtype=torch.float64) + (
            phi * (top * (1 - top)).double()[:, None]).T @ phi
        self.covariance = torch.cholesky_inverse(torch.linalg.cholesky(precision)).float()

    def mean_field_logits(self, h: torch.Tensor) -> torch.Tensor:
        """(N, C) logits / √(1 + π/8 · variance): the softmax of these approximates the
        average softmax over the GP posterior (mean-field, Lu et al. 2020)."""
        return self(h) / torch.sqrt(1 + math.pi / 8 * self.variance(h))[:, None]


class SNGPNet(nn.Module):
    """SNGP (Liu et al., NeurIPS 2020): a single network whose uncertainty grows with the
    distance from the training data.

    The input goes through a fixed random projection to ``width`` features (entries
    N(0, 1/width), which keeps distances of the plane on average; untrained, as in
    TensorFlow's SNGP tutorial on two moons), then ``depth`` spectrally normalised residual blocks
    (``SpectralResidual``), then the Gaussian-process layer (``RandomFeatureGP``).

    ``forward`` returns one prediction per input, S = 1: the mean-field logits. The mean-field
    step folds the GP posterior into a single deterministic pass, which is how the paper
    predicts; the alternative, S logits sampled from N(φβ, φᵀΣφ), would add Monte Carlo noise
    to every heatmap for no gain in the picture. So SNGP's uncertainty is read from the
    entropy (or 1 − max probability) of that one prediction; its mutual information is zero
    by construction, as for the softmax network — one sample cannot disagree with itself.

    Args:
        d_in: input features.
        n_classes: classes.
        width, depth, bound: hidden space, residual blocks, spectral-norm bound c.
        features, length_scale: of the GP layer.
        generator: seeds every random draw (the ``nn.Linear`` weights and the power iteration's
            start vectors are drawn from the global RNG under a forked state, seeded from it).
    """

    def __init__(self, d_in: int, n_classes: int, *, width: int = SNGP_WIDTH,
                 depth: int = SNGP_DEPTH, bound: float = SNGP_BOUND,
                 features: int = SNGP_FEATURES, length_scale: float = SNGP_LENGTH_SCALE,
                 generator: torch.Generator) -> None:
        super().__init__()
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.register_buffer("projection", torch.randn(d_in, width) / math.sqrt(width))
            self.blocks = nn.ModuleList(SpectralResidual(width, bound) for _ in range(depth))
        self.gp = RandomFeatureGP(width, n_classes, features=features,
                                  length_scale=length_scale, generator=generator)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """(N, width) the distance-preserving hidden representation."""
        h = x @ self.projection
        for block in self.blocks:
            h = block(h)
        return h

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C) posterior-mean logits, before the mean-field step (what training fits)."""
        return self.gp(self.hidden(x))

    def variance(self, x: torch.Tensor) -> torch.Tensor:
        """(N,) posterior variance of each logit."""
        return self.gp.variance(self.hidden(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(1, N, C) mean-field logits: one prediction per input (S = 1)."""
        return self.gp.mean_field_logits(self.hidden(x)).unsqueeze(0)


def fit_sngp(net: SNGPNet, x: np.ndarray, y: np.ndarray, *, steps: int = 400,
             lr: float = 1e-2) -> SNGPNet:
    """Train SNGP full-batch with Adam (cosine decay), then fit its GP covariance once.

    The loss is the mean cross-entropy plus ‖β‖² / 2N, the N(0, I) prior of the output
    weights; the spectral norm bounds the hidden layers instead of a weight decay. Liu et al.
    accumulate the precision over the last epoch's minibatches; with one full batch, one pass
    after training over all N points is the same sum, for the final weights.

    Returns:
        ``net``, in eval mode.
    """
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32))
    yt = torch.as_tensor(np.asarray(y, dtype=np.int64))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=lr * 0.05)
    net.train()
    for _ in range(steps):
        loss = (nn.functional.cross_entropy(net.logits(xt), yt)
                + net.gp.output.square().sum() / (2 * len(xt)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    for block in net.blocks:
        block.settle()
    net.eval()
    with torch.no_grad():
        net.gp.fit_covariance(net.hidden(xt))
    return net


@dataclass(frozen=True)
class MoonsModels:
    """The five trained classifiers and their training data.

    Attributes:
        settings: how they were trained.
        x: (N, 2) training inputs.
        y: (N,) labels 0/1.
        single: a ``StackedMLP`` with one member (the softmax baseline).
        dropout_net: a ``StackedMLP`` with one member and dropout (sampled for MC dropout).
        ensemble: a ``StackedMLP`` with K members (the deep ensemble).
        prior_ensemble: a ``PriorNet`` around K members (the prior ensemble).
        sngp: an ``SNGPNet`` (one distance-aware network).
    """

    settings: MoonsSettings
    x: np.ndarray
    y: np.ndarray
    single: nn.Module
    dropout_net: nn.Module
    ensemble: nn.Module
    prior_ensemble: nn.Module
    sngp: nn.Module


def fit_moons(settings: MoonsSettings) -> MoonsModels:
    """Draw two moons and train the five classifiers.

    SNGP trains for half of ``settings.steps``: each of its steps costs about two of a plain
    network's (power iteration, 256 random features), so it costs about one ensemble member.

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
    sngp = fit_sngp(SNGPNet(2, 2, generator=gen), x, y, steps=max(1, settings.steps // 2))
    return MoonsModels(settings=settings, x=x, y=y.astype(np.int64), single=single,
                       dropout_net=dropout_net, ensemble=ensemble,
                       prior_ensemble=prior_ensemble, sngp=sngp)


def predict_moons(models: MoonsModels, points: np.ndarray) -> dict[str, np.ndarray]:
    """Class probabilities of each method at ``points``.

    Args:
        models: from ``fit_moons``.
        points: (N, 2) inputs.

    Returns:
        ``{method: (S, N, 2) float32}`` for ``MOONS_METHODS``: S = 1 for softmax and SNGP
        (its mean-field prediction), the MC samples for MC dropout, K members for the
        ensembles.
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
            "sngp": models.sngp(xt),
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
    """Train the five classifiers and predict on a ``grid`` × ``grid`` lattice over ``extent``
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
