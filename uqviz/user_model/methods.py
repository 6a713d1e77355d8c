"""Uncertainty methods that need nothing but a trained model: each applies or says why not.

* ``softmax``: the model's own probabilities (softmax of its logits).
* ``temperature``: logits divided by T fitted on the labelled calibration part
  (``uqviz.methods.temperature.fit_temperature``; Guo et al. 2017). For a model whose outputs
  are probabilities, log-probabilities stand in for logits (they differ by a per-row constant,
  which the softmax ignores).
* ``tta``: test-time augmentation, S passes over label-preserving augmentations of each image:
  the image itself, then S - 1 random square crops of 85–95 % of the side at a random place,
  resized back (small shifts and rescales that bring in no border), each also mirrored with
  probability 1/2 when the config says flips preserve the label. The S augmentations are drawn
  once from the seed and shared by every image, so results do not depend on batching
  (Krizhevsky et al. 2012; Ayhan & Berens 2018). Works for every format.
* ``mc_dropout``: T passes with only the dropout layers sampling (Gal & Ghahramani 2016), for a
  scripted TorchScript model that has dropout layers; ONNX and exported programs fix dropout
  off.
* ``ensemble``: one sample per model file (the user's checkpoints, same classes and input).

A feature-space OOD score, ``mahalanobis`` (``Mahalanobis``), is added to every method's
``Predictions.scores`` when the config names a features output and calibration labels exist.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

SOFTMAX, TEMPERATURE, TTA, MC_DROPOUT, ENSEMBLE = (
    "softmax", "temperature", "tta", "mc_dropout", "ensemble")
USER_METHODS = (SOFTMAX, TEMPERATURE, TTA, MC_DROPOUT, ENSEMBLE)
USER_METHOD_LABELS = {
    SOFTMAX: "Softmax",
    TEMPERATURE: "Temperature scaling",
    TTA: "Test-time augmentation",
    MC_DROPOUT: "MC dropout",
    ENSEMBLE: "Ensemble of your checkpoints",
}
MAHALANOBIS = "mahalanobis"
CROP_RANGE = (0.85, 0.95)
LOG_FLOOR = 1e-12


@dataclass(frozen=True)
class MethodSettings:
    """How the methods run on a user's model.

    Attributes:
        tta_samples: S passes of test-time augmentation (the first is the image itself).
        mc_samples: T MC-dropout passes.
        seed: seeds the split, the augmentations, the dropout masks and the corruptions.
        cal_fraction: share of each class's labelled images kept for calibration.
        batch_size: images decoded and predicted at a time (also cuts the seeds of dropout
            masks and corruptions, so it is part of the cache key).
        bf16: bf16 autocast for torch models on CUDA (never for ONNX).
    """

    tta_samples: int = 8
    mc_samples: int = 30
    seed: int = 0
    cal_fraction: float = 0.3
    batch_size: int = 64
    bf16: bool = False

    def __post_init__(self) -> None:
        for name in ("tta_samples", "mc_samples", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.cal_fraction < 1:
            raise ValueError(f"cal_fraction must be between 0 and 1, got {self.cal_fraction}")


# -- test-time augmentation ---------------------------------------------------------------------
@dataclass(frozen=True)
class Augmentation:
    """A square crop of ``side`` × the image side whose centre is moved by ``(dx, dy)`` (in
    half-sides, within the image), resized back to the full size, then mirrored if ``flip``."""

    side: float = 1.0
    dx: float = 0.0
    dy: float = 0.0
    flip: bool = False


def tta_augmentations(samples: int, seed: int, flips: bool) -> tuple[Augmentation, ...]:
    """``samples`` augmentations: the identity, then seeded random crops (and flips when
    ``flips``)."""
    rng = np.random.default_rng(seed)
    drawn = [Augmentation()]
    for _ in range(samples - 1):
        side = float(rng.uniform(*CROP_RANGE))
        dx, dy = (float(v) for v in rng.uniform(-(1 - side), 1 - side, size=2))
        drawn.append(Augmentation(side, dx, dy, bool(flips and rng.random() < 0.5)))
    return tuple(drawn)


def augment(x: torch.Tensor, aug: Augmentation) -> torch.Tensor:
    """Apply one augmentation to float (B, C, H, W) images (bilinear; identity is a no-op)."""
    if aug == Augmentation():
        return x
    theta = torch.tensor([[-aug.side if aug.flip else aug.side, 0.0, aug.dx],
                          [0.0, aug.side, aug.dy]], dtype=x.dtype)
    grid = F.affine_grid(theta.expand(len(x), 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


# -- outputs to probabilities -------------------------------------------------------------------
def as_logits(raw: np.ndarray, outputs: str) -> np.ndarray:
    """Logits, or log-probabilities (floored at 1e-12) for a model that outputs probabilities."""
    if outputs == "logits":
        return raw
    return np.log(np.maximum(raw.astype(np.float64), LOG_FLOOR))


def to_probs(raw: np.ndarray, outputs: str, temperature: float = 1.0) -> np.ndarray:
    """float32 probabilities of raw outputs (…, C): a softmax of the logits divided by
    ``temperature`` (``uqviz.numerics.softmax``), or the given probabilities renormalised."""
    from uqviz.numerics import softmax

    if outputs == "probabilities" and temperature == 1.0:
        p = np.maximum(raw.astype(np.float64), 0.0)
        return (p / p.sum(axis=-1, keepdims=True)).astype(np.float32)
    return softmax(as_logits(raw, outputs), temperature=temperature, dtype=np.float32)


def fit_temperature_on(raw: np.ndarray, labels: np.ndarray, outputs: str, seed: int) -> float:
    """Temperature scaling's T on calibration outputs (N, C) and labels (N,)
    (``uqviz.methods.temperature.fit_temperature``: NLL-optimal, kept only when it helps on
    held-out folds)."""
    from uqviz.methods.temperature import fit_temperature

    return fit_temperature(as_logits(raw, outputs).astype(np.float64), labels, seed=seed)


# -- Mahalanobis --------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Mahalanobis:
    """Feature-space OOD score: the Mahalanobis distance to the closest class mean under one
    covariance shared by the classes (Lee et al. 2018).

    Fitted on calibration features ``f_i`` (N, D) with labels ``y_i``:

    * class means ``μ_c = mean of f_i over y_i = c`` (classes present in the calibration part);
    * shared covariance ``Σ = (1/N) Σ_i (f_i − μ_{y_i})(f_i − μ_{y_i})ᵀ`` (maximum likelihood,
      as scikit-learn's ``EmpiricalCovariance``), inverted with ``scipy.linalg.pinvh`` (a
      pseudo-inverse when Σ is singular, e.g. D > N, again as scikit-learn does);
    * score ``M(f) = min_c (f − μ_c)ᵀ Σ⁻¹ (f − μ_c)``, the *squared* distance. Higher means
      farther from every class: more likely out of distribution. Lee et al.'s confidence score
      is ``−M(f)``; their input preprocessing and layer ensemble are left out.

    References: Lee, Lee, Lee & Shin, "A Simple Unified Framework for Detecting
    Out-of-Distribution Samples and Adversarial Attacks", NeurIPS 2018.

    Attributes:
        classes: int64 (K,) the labels present when fitting.
        means: float64 (K, D) class means.
        precision: float64 (D, D) the (pseudo-)inverse of the shared covariance.
    """

    classes: np.ndarray
    means: np.ndarray
    precision: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray, labels: np.ndarray) -> Mahalanobis:
        """Fit on features (N, D) and labels (N,) in 0..C-1 (N >= 2)."""
        from scipy.linalg import pinvh

        f = np.asarray(features, dtype=np.float64)
        labels = np.asarray(labels)
        if f.ndim != 2 or len(f) != len(labels) or len(f) < 2:
            raise ValueError(f"need features (N >= 2, D) and N labels, got {f.shape} and "
                             f"{labels.shape}")
        classes = np.unique(labels)
        means = np.stack([f[labels == c].mean(axis=0) for c in classes])
        centred = f - means[np.searchsorted(classes, labels)]
        covariance = centred.T @ centred / len(f)
        return cls(classes, means, pinvh(covariance, check_finite=False))

    def distances(self, features: np.ndarray) -> np.ndarray:
        """float64 (N, K) squared Mahalanobis distance of each row to each class mean."""
        f = np.asarray(features, dtype=np.float64)
        fp = f @ self.precision
        own = np.einsum("nd,nd->n", fp, f)
        cross = fp @ self.means.T
        centre = np.einsum("kd,de,ke->k", self.means, self.precision, self.means)
        return np.maximum(own[:, None] - 2.0 * cross + centre[None, :], 0.0)

    def score(self, features: np.ndarray) -> np.ndarray:
        """float64 (N,) squared distance to the closest class mean (higher: more OOD)."""
        return self.distances(features).min(axis=1)
