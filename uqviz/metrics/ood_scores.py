"""Post-hoc out-of-distribution scores from logits and penultimate-layer features.

Every score maps rows to (N,) with HIGHER = MORE LIKELY OUT-OF-DISTRIBUTION, the orientation of
``uqviz.metrics.scores.uncertainty``, so ``uqviz.metrics.ood.ood_detection`` takes them as they
are. Shapes: ``logits`` (S, N, C) or (N, C) (a score of S logit samples is the mean of the S
per-sample scores), ``features`` (N, D). Scores from logits alone need no fitting; KNN, ViM,
Mahalanobis and relative Mahalanobis fit a small frozen part (a feature bank, a principal
space, class means and a covariance) on FIT rows only — a training or calibration split, never
the rows being scored or any out-of-distribution row (``Predictions.fit_rows()``: group
``fit``). Each fitted part is a frozen dataclass made by its ``fit_*`` function with a
``score`` method; the heavy parts run in float32, in chunks of rows.

* ``max_logit`` (logits): ``-max_c l_c``.
* ``energy`` (logits): ``-T log sum_c exp(l_c / T)``, T = 1.
* ``gen`` (logits): ``sum_{j ≤ M} p_(j)^γ (1 − p_(j))^γ`` over the M largest softmax
  probabilities, γ = 0.1, M = min(100, C).
* ``knn`` (features): ``‖z − z_(k)‖``, z = f / ‖f‖, z_(k) the k-th nearest normalised fit
  feature, k = 0.1% of the fit rows (at least 1; 50 for a bank of 50,000).
* ``vim`` (logits and features): ``α ‖(f − u)_{P⊥}‖ − log sum_c exp(l_c)``, u = −W⁺b, P the
  d-dimensional principal space of the fit features.
* ``mahalanobis`` (features): ``min_c d_c(f)``, ``d_c(f) = (f − μ_c)ᵀ Σ⁻¹ (f − μ_c)``, class
  means and one shared covariance.
* ``relative_mahalanobis`` (features): ``min_c [d_c(f) − d_0(f)]``, ``d_0`` the distance under
  one Gaussian of all fit rows.

``LOGIT_FEATURE_SCORES`` lists them with what each needs; ``fit_ood_scores(p)`` fits what the
scores of one ``Predictions`` need on its fit rows and ``ood_score_summary(p)`` gives AUROC
(with a bootstrap interval), AUPR and FPR95 of each score against the OOD rows, with the
settings used, straight from one ``Predictions`` (an independent reference: the pages, the
report and ``python -m uqviz metrics --json`` read a ``uqviz.study.Study``'s numbers).

numpy only (scipy for ``logsumexp``); no torch.

References:
    Hendrycks, Basart, Mazeika, Zou, Kwon, Mostajabi, Steinhardt & Song, "Scaling
    Out-of-Distribution Detection for Real-World Settings", ICML 2022 (max-logit).
    Liu, Wang, Owens & Li, "Energy-based Out-of-distribution Detection", NeurIPS 2020.
    Liu, Lochman & Zach, "GEN: Pushing the Limits of Softmax-Based Out-of-Distribution
    Detection", CVPR 2023.
    Sun, Ming, Zhu & Li, "Out-of-Distribution Detection with Deep Nearest Neighbors", ICML 2022.
    Wang, Li, Zhang & Zhang, "ViM: Out-Of-Distribution with Virtual-logit Matching", CVPR 2022.
    Lee, Lee, Lee & Shin, "A Simple Unified Framework for Detecting Out-of-Distribution Samples
    and Adversarial Attacks", NeurIPS 2018 (Mahalanobis).
    Ren, Fort, Liu, Roy, Padhy & Lakshminarayanan, "A Simple Fix to Mahalanobis Distance for
    Improving Near-OOD Detection", arXiv:2106.09022, 2021 (relative Mahalanobis).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import logsumexp

from uqviz.numerics import softmax

if TYPE_CHECKING:
    from uqviz.predictions import Predictions

__all__ = [
    "LOGIT_FEATURE_SCORES",
    "FittedOODScores",
    "KnnBank",
    "MahalanobisFit",
    "OODScoreInfo",
    "VimFit",
    "energy_score",
    "fit_knn",
    "fit_mahalanobis",
    "fit_ood_scores",
    "fit_vim",
    "gen_score",
    "max_logit_score",
    "ood_score_summary",
    "vim_dimension",
]

CHUNK_ELEMENTS = 2**24  # float32 cells of one chunk of a (rows × bank) or (rows × classes) block


# -- checks -------------------------------------------------------------------------------------
def _logit_samples(logits: np.ndarray) -> np.ndarray:
    """``logits`` as (S, N, C), finite, at least one class."""
    logits = np.asarray(logits)
    logits = logits[None] if logits.ndim == 2 else logits
    if logits.ndim != 3 or logits.shape[0] < 1 or logits.shape[2] < 1:
        raise ValueError(f"logits must be (S, N, C) or (N, C), got shape {np.shape(logits)}")
    if not np.isfinite(logits).all():
        raise ValueError("logits contain NaN or inf")
    return logits


def _features(features: np.ndarray, what: str = "features") -> np.ndarray:
    features = np.asarray(features, dtype=np.float32)
    if features.ndim != 2 or features.shape[1] < 1:
        raise ValueError(f"{what} must be (N, D), got shape {features.shape}")
    if not np.isfinite(features).all():
        raise ValueError(f"{what} contain NaN or inf")
    return features


def _fit_features(features: np.ndarray, labels: np.ndarray | None = None):
    features = _features(features, "fit features")
    if features.shape[0] < 2:
        raise ValueError(f"need at least 2 fit rows, got {features.shape[0]}")
    if labels is None:
        return features, None
    labels = np.asarray(labels)
    if labels.shape != (features.shape[0],) or labels.dtype.kind not in "iu":
        raise ValueError(f"fit labels must be integer ({features.shape[0]},), got "
                         f"{labels.dtype} {labels.shape}")
    if (labels < 0).any():
        raise ValueError("fit labels must be known classes (>= 0); leave OOD and unlabelled "
                         "rows out of the fit")
    return features, labels


def _row_chunks(n_rows: int, row_cells: int):
    step = max(1, CHUNK_ELEMENTS // max(row_cells, 1))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


# -- from logits ---------------------------------------------------------------------------------
def max_logit_score(logits: np.ndarray) -> np.ndarray:
    """Negative maximum logit, ``-max_c l_c`` (mean over the S logit samples).

    Args:
        logits: (S, N, C) or (N, C).

    Returns:
        (N,) float64; higher = more likely out-of-distribution.

    References:
        Hendrycks et al., "Scaling Out-of-Distribution Detection for Real-World Settings",
        ICML 2022.
    """
    samples = _logit_samples(logits)
    return -samples.max(axis=2).astype(np.float64).mean(axis=0)


def energy_score(logits: np.ndarray, *, temperature: float = 1.0) -> np.ndarray:
    """Free energy ``E(x) = -T log sum_c exp(l_c / T)`` (mean over the S logit samples).

    In-distribution inputs have low energy (large logits); the paper's in-distribution score
    is ``-E(x)``.

    Args:
        logits: (S, N, C) or (N, C).
        temperature: T > 0 (the paper uses T = 1).

    Returns:
        (N,) float64; higher = more likely out-of-distribution.

    References:
        Liu, Wang, Owens & Li, "Energy-based Out-of-distribution Detection", NeurIPS 2020, eq. 7.
    """
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature}")
    samples = _logit_samples(logits).astype(np.float64)
    return (-temperature * logsumexp(samples / temperature, axis=2)).mean(axis=0)


def gen_score(logits: np.ndarray, *, gamma: float = 0.1, top_m: int | None = None) -> np.ndarray:
    """Generalized entropy ``G_γ(p) = sum_{j=1}^{M} p_(j)^γ (1 − p_(j))^γ`` of the M largest
    softmax probabilities ``p_(1) ≥ … ≥ p_(M)`` (mean over the S logit samples).

    A confident (peaked) prediction has terms near 0; a flat one has large terms. The paper
    scores ``-G`` as in-distribution confidence; this is ``G`` (higher = more OOD). pytorch-ood's
    ``GEN`` averages the M terms instead of summing them (the same order for a fixed M).

    Args:
        logits: (S, N, C) or (N, C).
        gamma: γ in (0, 1) (the paper: 0.1).
        top_m: M, the number of largest probabilities summed; default ``min(100, C)`` (the
            paper: M = 100 on ImageNet, M = C on CIFAR).

    Returns:
        (N,) float64; higher = more likely out-of-distribution.

    References:
        Liu, Lochman & Zach, "GEN: Pushing the Limits of Softmax-Based Out-of-Distribution
        Detection", CVPR 2023, eq. 6.
    """
    samples = _logit_samples(logits)
    num_classes = samples.shape[2]
    if not (math.isfinite(gamma) and gamma > 0):
        raise ValueError(f"gamma must be a finite number > 0, got {gamma}")
    m = min(100, num_classes) if top_m is None else int(top_m)
    if not 1 <= m <= num_classes:
        raise ValueError(f"top_m must be in 1..{num_classes} (the classes), got {top_m}")
    total = np.zeros(samples.shape[1])
    for sample in samples:
        p = softmax(sample, axis=1)
        top = np.partition(p, num_classes - m, axis=1)[:, num_classes - m:]
        total += (top ** gamma * (1.0 - top) ** gamma).sum(axis=1)
    return total / samples.shape[0]


# -- KNN ----------------------------------------------------------------------------------------
def _unit_rows(features: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, 1e-12)


@dataclass(frozen=True, eq=False)
class KnnBank:
    """The normalised features of the fit rows, for the k-th nearest neighbour distance.

    Attributes:
        bank: (n, D) float32 fit features scaled to unit length.
        k: which neighbour's distance is the score (1 ≤ k ≤ n).
    """

    bank: np.ndarray
    k: int

    @property
    def settings(self) -> dict:
        return {"k": int(self.k), "bank_rows": int(self.bank.shape[0]), "normalised": True}

    def score(self, features: np.ndarray) -> np.ndarray:
        """(N,) Euclidean distance from each row's unit feature to its k-th nearest bank row.

        On unit vectors ``‖z − b‖² = 2 − 2 z·b``, so the k-th nearest is the k-th largest
        similarity: one float32 matrix product per chunk of rows and ``np.partition`` on it.
        """
        z = _unit_rows(_features(features))
        if z.shape[1] != self.bank.shape[1]:
            raise ValueError(f"features have D={z.shape[1]}, the bank D={self.bank.shape[1]}")
        n_bank = self.bank.shape[0]
        out = np.empty(z.shape[0], dtype=np.float64)
        for rows in _row_chunks(z.shape[0], n_bank):
            similarity = z[rows] @ self.bank.T  # (chunk, n_bank) float32
            kth = np.partition(similarity, n_bank - self.k, axis=1)[:, n_bank - self.k]
            out[rows] = np.sqrt(np.maximum(2.0 - 2.0 * kth.astype(np.float64), 0.0))
        return out


def fit_knn(features: np.ndarray, *, k: int = 50) -> KnnBank:
    """The KNN detector's bank: the fit rows' features, each scaled to unit length.

    Score: ``‖z − z_(k)‖`` with ``z = f(x) / ‖f(x)‖`` and ``z_(k)`` the k-th nearest normalised
    fit feature (Sun et al. use k = 50 on CIFAR-10 with the 50,000 training rows as bank).

    Args:
        features: (n, D) features of the fit rows (never the rows to be scored).
        k: the neighbour, 1 ≤ k ≤ n.

    References:
        Sun, Ming, Zhu & Li, "Out-of-Distribution Detection with Deep Nearest Neighbors",
        ICML 2022.
    """
    features, _ = _fit_features(features)
    if isinstance(k, bool) or int(k) != k or not 1 <= k <= features.shape[0]:
        raise ValueError(f"k must be an integer in 1..{features.shape[0]} (the fit rows), got {k}")
    return KnnBank(np.ascontiguousarray(_unit_rows(features), dtype=np.float32), int(k))


# -- Mahalanobis --------------------------------------------------------------------------------
def _whitening(covariance: np.ndarray, ridge: float) -> np.ndarray:
    """(D, D) W with ``W Wᵀ = (Σ + ridge·I)⁻¹`` (eigen-decomposition, float64)."""
    values, vectors = np.linalg.eigh(covariance)
    values = np.maximum(values, 0.0) + ridge
    return vectors / np.sqrt(values)


@dataclass(frozen=True, eq=False)
class MahalanobisFit:
    """Class means and one shared covariance, fitted on the fit rows (Lee et al. 2018); with
    ``relative``, also one Gaussian of all fit rows (Ren et al. 2021).

    The covariances are stored as whitening maps ``W`` with ``W Wᵀ = (Σ + ε I)⁻¹``, ``ε`` =
    ``ridge_share`` · trace(Σ) / D (a ridge that only matters when Σ is singular), so that
    ``d(f) = ‖(f − μ) W‖²``.

    Attributes:
        center: (D,) mean of the fit rows, subtracted first (float32 accuracy).
        means: (K, D) float32 class means minus ``center``, whitened (``(μ_c − center) W``).
        whitening: (D, D) float32 ``W`` of the shared covariance.
        classes: (K,) the classes of ``means`` (those with fit rows).
        background_whitening: (D, D) float32 ``W_0`` of the covariance of all fit rows
            (relative only, else None); the background mean is ``center``.
        ridge_share: ε as a share of the mean variance.
    """

    center: np.ndarray
    means: np.ndarray
    whitening: np.ndarray
    classes: np.ndarray
    background_whitening: np.ndarray | None
    ridge_share: float

    @property
    def relative(self) -> bool:
        return self.background_whitening is not None

    @property
    def settings(self) -> dict:
        return {"classes": int(self.classes.size), "covariance": "shared (tied)",
                "ridge": self.ridge_share, "relative": self.relative}

    def class_distances(self, features: np.ndarray) -> np.ndarray:
        """(N, K) squared Mahalanobis distance of each row to each class mean."""
        f = _features(features)
        if f.shape[1] != self.center.size:
            raise ValueError(f"features have D={f.shape[1]}, the fit D={self.center.size}")
        out = np.empty((f.shape[0], self.means.shape[0]), dtype=np.float64)
        mean_norms = (self.means.astype(np.float64) ** 2).sum(axis=1)
        for rows in _row_chunks(f.shape[0], 2 * f.shape[1]):
            w = (f[rows] - self.center) @ self.whitening
            cross = w @ self.means.T
            out[rows] = ((w.astype(np.float64) ** 2).sum(axis=1)[:, None] - 2.0 * cross
                         + mean_norms)
        return np.maximum(out, 0.0)

    def background_distance(self, features: np.ndarray) -> np.ndarray:
        """(N,) squared Mahalanobis distance to the Gaussian of all fit rows (relative only)."""
        if self.background_whitening is None:
            raise ValueError("fitted without relative=True: no background Gaussian")
        f = _features(features)
        out = np.empty(f.shape[0], dtype=np.float64)
        for rows in _row_chunks(f.shape[0], f.shape[1]):
            w = (f[rows] - self.center) @ self.background_whitening
            out[rows] = (w.astype(np.float64) ** 2).sum(axis=1)
        return out

    def score(self, features: np.ndarray) -> np.ndarray:
        """(N,) ``min_c d_c(f)``; with ``relative``, ``min_c [d_c(f) − d_0(f)]``."""
        distances = self.class_distances(features)
        if self.relative:
            distances -= self.background_distance(features)[:, None]
        return distances.min(axis=1)


def fit_mahalanobis(features: np.ndarray, labels: np.ndarray, *, relative: bool = False,
                    ridge_share: float = 1e-6) -> MahalanobisFit:
    """Class means ``μ_c`` and the shared covariance ``Σ = (1/n) sum_i (f_i − μ_{y_i})(f_i −
    μ_{y_i})ᵀ`` of the fit rows; with ``relative``, also ``μ_0`` and ``Σ_0`` of all fit rows.

    Scores (``MahalanobisFit.score``): Mahalanobis ``min_c (f − μ_c)ᵀ Σ⁻¹ (f − μ_c)`` (Lee et al.
    2018 use its negative as confidence); relative Mahalanobis ``min_c [d_c(f) − d_0(f)]`` with
    ``d_0(f) = (f − μ_0)ᵀ Σ_0⁻¹ (f − μ_0)`` (Ren et al. 2021, eq. 3).

    Args:
        features: (n, D) features of the fit rows; labels: (n,) their classes.
        relative: fit the background Gaussian too.
        ridge_share: ε = ridge_share · trace(Σ)/D is added to the eigenvalues of Σ (and Σ_0).

    References:
        Lee et al., NeurIPS 2018; Ren et al., arXiv:2106.09022, 2021.
    """
    features, labels = _fit_features(features, labels)
    x = features.astype(np.float64)
    center = x.mean(axis=0)
    x -= center
    classes = np.unique(labels)
    index = np.searchsorted(classes, labels)
    counts = np.bincount(index, minlength=classes.size)
    one_hot = np.zeros((x.shape[0], classes.size))
    one_hot[np.arange(x.shape[0]), index] = 1.0
    means = (one_hot.T @ x) / counts[:, None]
    residual = x - means[index]
    covariance = residual.T @ residual / x.shape[0]
    ridge = ridge_share * max(np.trace(covariance) / x.shape[1], 1e-12)
    whitening = _whitening(covariance, ridge)
    background = None
    if relative:
        total = x.T @ x / x.shape[0]
        background = _whitening(total, ridge_share * max(np.trace(total) / x.shape[1], 1e-12))
        background = background.astype(np.float32)
    return MahalanobisFit(center.astype(np.float32), (means @ whitening).astype(np.float32),
                          whitening.astype(np.float32), classes, background, float(ridge_share))


# -- ViM ----------------------------------------------------------------------------------------
def vim_dimension(feature_dim: int) -> int:
    """ViM's principal-space dimension for D features, following the paper's choices: 1000 when
    D ≥ 1500 (D = 2048), 512 when D ≥ 768 (ViT, D = 768), else D // 2 (at least 1)."""
    if feature_dim >= 1500:
        return 1000
    if feature_dim >= 768:
        return 512
    return max(1, feature_dim // 2)


@dataclass(frozen=True, eq=False)
class VimFit:
    """ViM's fitted parts: the origin ``u = −W⁺ b``, the residual space and α.

    Attributes:
        origin: (D,) ``u = −pinv(W) b``.
        residual_basis: (D, D − d) float32 eigenvectors of ``E[(f − u)(f − u)ᵀ]`` over the fit
            rows beyond the d largest (the complement of the principal space).
        alpha: ``mean_i max_c l_ic / mean_i ‖(f_i − u)_{P⊥}‖`` over the fit rows.
        weight: (C, D) the last layer's W; bias: (C,) its b.
        dim: d, the principal space's dimension.
        head: ``given`` (W and b were passed) or ``least_squares`` (fitted from the fit rows'
            features to their logits).
    """

    origin: np.ndarray
    residual_basis: np.ndarray
    alpha: float
    weight: np.ndarray
    bias: np.ndarray
    dim: int
    head: str

    @property
    def settings(self) -> dict:
        return {"dim": int(self.dim), "alpha": float(self.alpha), "head": self.head}

    def residual_norm(self, features: np.ndarray) -> np.ndarray:
        """(N,) ``‖(f − u)_{P⊥}‖``, the norm of the feature off the principal space."""
        f = _features(features)
        out = np.empty(f.shape[0], dtype=np.float64)
        for rows in _row_chunks(f.shape[0], f.shape[1]):
            r = (f[rows] - self.origin) @ self.residual_basis
            out[rows] = np.sqrt((r.astype(np.float64) ** 2).sum(axis=1))
        return out

    def score(self, features: np.ndarray, logits: np.ndarray | None = None) -> np.ndarray:
        """(N,) ``α ‖(f − u)_{P⊥}‖ − log sum_c exp(l_c)``: the virtual logit's softmax share, as
        a monotone score (the paper's ``−log`` of the virtual class's probability differs by a
        monotone map). ``logits`` default to ``f Wᵀ + b``; S logit samples are averaged."""
        f = _features(features)
        if logits is None:
            energy = logsumexp(f.astype(np.float64) @ self.weight.T.astype(np.float64)
                               + self.bias, axis=1)
        else:
            samples = _logit_samples(logits)
            if samples.shape[1] != f.shape[0]:
                raise ValueError(f"logits have N={samples.shape[1]} rows, features "
                                 f"{f.shape[0]}")
            energy = logsumexp(samples.mean(axis=0).astype(np.float64), axis=1)
        return self.alpha * self.residual_norm(f) - energy


def _least_squares_head(features: np.ndarray, logits: np.ndarray) -> tuple[np.ndarray,
                                                                             np.ndarray]:
    """``W`` (C, D) and ``b`` (C,) minimising ``‖F Wᵀ + b − L‖``, minimum-norm ``W``: on centered
    rows, ``Wᵀ = (F_cᵀ F_c)⁺ F_cᵀ L_c`` (the pseudo-inverse from an eigen-decomposition of the
    D × D Gram matrix, eigenvalues below ``1e-10`` of the largest dropped), ``b = mean L −
    W mean F``."""
    f_mean, l_mean = features.mean(axis=0), logits.mean(axis=0)
    centered = features - f_mean
    values, vectors = np.linalg.eigh(centered.T @ centered)
    keep = values > 1e-10 * max(values.max(), 1e-300)
    inverse = (vectors[:, keep] / values[keep]) @ vectors[:, keep].T
    weight_t = inverse @ (centered.T @ (logits - l_mean))
    return weight_t.T, l_mean - f_mean @ weight_t


def fit_vim(features: np.ndarray, logits: np.ndarray, *, dim: int | None = None,
            weight: np.ndarray | None = None, bias: np.ndarray | None = None) -> VimFit:
    """Fit ViM on the fit rows.

    ViM needs the last layer ``l = W f + b`` for its origin ``u = −W⁺ b``. When ``weight`` and
    ``bias`` are not given (a predictions file holds features and logits, not the network),
    they are fitted by least squares from the fit rows' features to their logits (mean over
    samples), ``[W b] = argmin ‖F Wᵀ + b − L‖``, the minimum-norm solution
    (``_least_squares_head``). When the
    last layer is linear in the features given and the fit rows span them (n > D), this
    recovers W and b exactly (the ``head`` attribute says which was used).

    Then, with ``X = F − u``: the principal space is spanned by the d eigenvectors of ``XᵀX/n``
    with the largest eigenvalues; ``α = mean max_c l_c / mean ‖X_{P⊥}‖`` (paper, eq. 6–7).

    Args:
        features: (n, D) features of the fit rows; logits: (S, n, C) or (n, C) their logits.
        dim: d, 1 ≤ d < D (default ``vim_dimension(D)``).
        weight: (C, D) W; bias: (C,) b of the last layer, when known.

    References:
        Wang, Li, Zhang & Zhang, "ViM: Out-Of-Distribution with Virtual-logit Matching",
        CVPR 2022.
    """
    features, _ = _fit_features(features)
    mean_logits = _logit_samples(logits).mean(axis=0).astype(np.float64)
    n, d_features = features.shape
    if mean_logits.shape[0] != n:
        raise ValueError(f"logits have {mean_logits.shape[0]} rows, features {n}")
    dim = vim_dimension(d_features) if dim is None else dim
    if isinstance(dim, bool) or int(dim) != dim or not 1 <= dim < d_features:
        raise ValueError(f"dim must be an integer in 1..{d_features - 1} (D = {d_features}), "
                         f"got {dim}")
    f64 = features.astype(np.float64)
    if weight is None or bias is None:
        weight, bias = _least_squares_head(f64, mean_logits)
        head = "least_squares"
    else:
        weight, bias, head = (np.asarray(weight, dtype=np.float64),
                              np.asarray(bias, dtype=np.float64), "given")
        if weight.shape != (mean_logits.shape[1], d_features) or bias.shape != (weight.shape[0],):
            raise ValueError(f"weight must be (C={mean_logits.shape[1]}, D={d_features}) and "
                             f"bias (C,), got {weight.shape} and {bias.shape}")
    origin = -np.linalg.pinv(weight) @ bias
    x = f64 - origin
    _, vectors = np.linalg.eigh(x.T @ x / n)  # ascending eigenvalues
    residual_basis = np.ascontiguousarray(vectors[:, : d_features - int(dim)])
    residual = np.linalg.norm(x @ residual_basis, axis=1)
    alpha = float(mean_logits.max(axis=1).mean() / max(residual.mean(), 1e-12))
    return VimFit(origin.astype(np.float32), residual_basis.astype(np.float32), alpha,
                  weight.astype(np.float32), bias.astype(np.float32), int(dim), head)


# -- the registry and the fit of one Predictions ------------------------------------------------
@dataclass(frozen=True)
class OODScoreInfo:
    """One score of ``LOGIT_FEATURE_SCORES``.

    Attributes:
        key: its name in ``--json`` and on the pages.
        label: short label for axes and menus.
        needs: ``logits``, ``features`` or ``logits and features``.
        fitted: True when it fits a part on the fit rows (group ``fit``).
        meaning: one line saying what a high value means.
        reference: the paper.
    """

    key: str
    label: str
    needs: str
    fitted: bool
    meaning: str
    reference: str

    @property
    def needs_logits(self) -> bool:
        return "logits" in self.needs

    @property
    def needs_features(self) -> bool:
        return "features" in self.needs


LOGIT_FEATURE_SCORES: dict[str, OODScoreInfo] = {
    info.key: info
    for info in (
        OODScoreInfo("max_logit", "−max logit", "logits", False,
                     "Minus the largest logit: high when no class gets a large logit.",
                     "Hendrycks et al., ICML 2022"),
        OODScoreInfo("energy", "Energy", "logits", False,
                     "−log of the summed exponentiated logits: high when every logit is small.",
                     "Liu et al., NeurIPS 2020"),
        OODScoreInfo("gen", "GEN", "logits", False,
                     "Generalized entropy of the largest probabilities: high when they are "
                     "flat.", "Liu et al., CVPR 2023"),
        OODScoreInfo("knn", "KNN distance", "features", True,
                     "Distance to the k-th nearest fit row (normalised features): high far "
                     "from the training data.", "Sun et al., ICML 2022"),
        OODScoreInfo("vim", "ViM", "logits and features", True,
                     "Feature norm off the principal space, scaled, minus the energy: high "
                     "for features the classifier's space does not explain.",
                     "Wang et al., CVPR 2022"),
        OODScoreInfo("mahalanobis", "Mahalanobis", "features", True,
                     "Squared Mahalanobis distance to the nearest class mean: high far from "
                     "every class.", "Lee et al., NeurIPS 2018"),
        OODScoreInfo("relative_mahalanobis", "Relative Mahalanobis", "features", True,
                     "Mahalanobis distance to the nearest class minus that to all training "
                     "data: high far from every class but not from the data as a whole.",
                     "Ren et al., arXiv:2106.09022, 2021"),
    )
}
KNN_K_SHARE = 0.001


def default_knn_k(n_bank: int) -> int:
    """KNN's k for a bank of ``n_bank`` fit rows: 0.1% of them, at least 1 (Sun et al. 2022
    use k = 50 for CIFAR-10's 50,000 training rows and k = 1,000 for ImageNet's 1.28 million,
    about 0.1%; a fixed k = 50 on a few hundred fit rows reaches past one class's rows)."""
    return max(1, round(KNN_K_SHARE * int(n_bank)))


DEFAULT_GEN_GAMMA = 0.1
DEFAULT_ENERGY_TEMPERATURE = 1.0


@dataclass(frozen=True, eq=False)
class FittedOODScores:
    """What the scores of ``LOGIT_FEATURE_SCORES`` need for one method, fitted on its fit rows.

    Attributes:
        settings: key -> the settings used (JSON-ready), for every available score.
        fits: key -> the fitted part (``KnnBank``, ``VimFit``, ``MahalanobisFit``) of fitted
            scores.
        unavailable: key -> why the score cannot be computed (no logits, no features, no fit
            rows).
        n_fit: fit rows used.
    """

    settings: dict[str, dict]
    fits: dict[str, object]
    unavailable: dict[str, str]
    n_fit: int

    @property
    def available(self) -> list[str]:
        return list(self.settings)

    def score(self, key: str, p: Predictions) -> np.ndarray:
        """(N,) score ``key`` of every row of ``p`` (higher = more OOD)."""
        if key not in LOGIT_FEATURE_SCORES:
            raise ValueError(f"unknown OOD score {key!r}; valid: "
                             f"{', '.join(LOGIT_FEATURE_SCORES)}")
        if key in self.unavailable:
            raise ValueError(f"score {key!r} is not available: {self.unavailable[key]}")
        s = self.settings[key]
        if key == "max_logit":
            return max_logit_score(p.logits)
        if key == "energy":
            return energy_score(p.logits, temperature=s["temperature"])
        if key == "gen":
            return gen_score(p.logits, gamma=s["gamma"], top_m=s["top_m"])
        if key == "vim":
            return self.fits[key].score(p.features, p.logits)
        return self.fits[key].score(p.features)


def fit_ood_scores(p: Predictions, *, knn_k: int | None = None, vim_dim: int | None = None,
                   gen_gamma: float = DEFAULT_GEN_GAMMA, gen_top_m: int | None = None,
                   temperature: float = DEFAULT_ENERGY_TEMPERATURE) -> FittedOODScores:
    """Fit every score of ``LOGIT_FEATURE_SCORES`` that ``p`` has the inputs for, on
    ``p.fit_rows()`` only (labelled, in-distribution rows of group ``fit``).

    KNN's k is ``min(knn_k, fit rows)``, by default ``default_knn_k(fit rows)``; ViM's d
    defaults to ``vim_dimension(D)``, its W and b come from least squares on the fit rows
    (``fit_vim``).
    """
    settings: dict[str, dict] = {}
    fits: dict[str, object] = {}
    unavailable: dict[str, str] = {}
    fit = p.fit_rows()
    c = p.num_classes
    for key, info in LOGIT_FEATURE_SCORES.items():
        if info.needs_logits and p.logits is None:
            unavailable[key] = "needs logits (NPZ array 'logits')"
        elif info.needs_features and p.features is None:
            unavailable[key] = "needs features (NPZ array 'features')"
        elif info.fitted and fit.n < 2:
            unavailable[key] = (f"needs labelled in-distribution rows of group 'fit' to fit on "
                                f"(found {fit.n})")
    if "max_logit" not in unavailable:
        settings["max_logit"] = {}
    if "energy" not in unavailable:
        settings["energy"] = {"temperature": float(temperature)}
    if "gen" not in unavailable:
        settings["gen"] = {"gamma": float(gen_gamma),
                           "top_m": int(min(100, c) if gen_top_m is None else gen_top_m)}
    if "knn" not in unavailable:
        k = default_knn_k(fit.n) if knn_k is None else int(knn_k)
        fits["knn"] = fit_knn(fit.features, k=min(k, fit.n))
    if "vim" not in unavailable:
        if p.features.shape[1] < 2:
            unavailable["vim"] = "needs features with D >= 2"
        else:
            fits["vim"] = fit_vim(fit.features, fit.logits, dim=vim_dim)
    for key in ("mahalanobis", "relative_mahalanobis"):
        if key not in unavailable:
            fits[key] = fit_mahalanobis(fit.features, fit.labels,
                                        relative=key == "relative_mahalanobis")
    for key, part in fits.items():
        settings[key] = part.settings
    order = [k for k in LOGIT_FEATURE_SCORES if k in settings]
    return FittedOODScores({k: settings[k] for k in order}, fits, unavailable, int(fit.n))


def ood_score_summary(p: Predictions, *, n_resamples: int = 1000, seed: int = 0,
                      fitted: FittedOODScores | None = None) -> dict:
    """OOD detection by every available score of ``LOGIT_FEATURE_SCORES``: the scored rows
    (``p.labelled_in_distribution()``, fit rows excluded) against all OOD rows together and
    against each OOD group, computed straight from ``p``: the tests' reference for the
    ``uqviz.study.Study`` numbers that the pages, the report and ``python -m uqviz metrics``
    show (those size the bootstrap by ``bootstrap_resamples(n_in + n_out)``; this takes
    ``n_resamples``).

    Returns:
        JSON-ready ``{"n_fit", "scores": {key: {"needs", "settings", "auroc", "auroc_ci",
        "aupr_in", "aupr_out", "fpr95", "n_in", "n_out", "groups": {group: {...}}}},
        "unavailable": {key: why}}``; ``scores`` is empty when ``p`` has no OOD rows.
    """
    from uqviz.metrics.bootstrap import bootstrap_ood_auroc_ci
    from uqviz.metrics.ood import ood_detection

    fitted = fit_ood_scores(p) if fitted is None else fitted
    scored = p.scored_mask
    group = p.group.astype(str)
    ood_groups = [g for g in p.groups if p.is_ood[group == g].all()]
    doc = {"n_fit": fitted.n_fit, "scores": {}, "unavailable": dict(fitted.unavailable)}
    if not (scored.any() and p.is_ood.any()):
        return doc

    def detection(u_in, u_out) -> dict:
        result = ood_detection(u_in, u_out)
        low, high = bootstrap_ood_auroc_ci(u_in, u_out, n_resamples=n_resamples, seed=seed)
        return {"auroc": result.auroc, "auroc_ci": [low, high], "aupr_in": result.aupr_in,
                "aupr_out": result.aupr_out, "fpr95": result.fpr95, "n_in": result.n_in,
                "n_out": result.n_out}

    for key in fitted.available:
        values = fitted.score(key, p)
        u_in = values[scored]
        entry = {"needs": LOGIT_FEATURE_SCORES[key].needs, "settings": fitted.settings[key],
                 **detection(u_in, values[p.is_ood])}
        if len(ood_groups) > 1:
            entry["groups"] = {g: detection(u_in, values[group == g]) for g in ood_groups}
        doc["scores"][key] = entry
    return doc
