"""Temperature scaling: the baseline network with its logits divided by a fitted T."""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import minimize_scalar

from uqviz.data.base import DatasetSpec, DataSplits
from uqviz.labels import METHOD_LABELS
from uqviz.methods.base import MethodOutput
from uqviz.methods.network import as_logits
from uqviz.methods.softmax import SoftmaxMethod
from uqviz.numerics import softmax
from uqviz.training import Progress, no_progress


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


def fit_temperature_on_outputs(raw: np.ndarray, labels: np.ndarray, outputs: str,
                               seed: int) -> float:
    """``fit_temperature`` on a network's raw calibration outputs (N, C): logits, or
    log-probabilities for a network that outputs probabilities (``network.as_logits``)."""
    return fit_temperature(as_logits(raw, outputs).astype(np.float64), labels, seed=seed)


class TemperatureMethod(SoftmaxMethod):
    """The softmax baseline's network with T fitted on the validation split by NLL."""

    id = "temperature"
    label = METHOD_LABELS["temperature"]
    description = "The same network, logits divided by a temperature fitted on validation data."

    def fit(self, spec: DatasetSpec, data: DataSplits, device: torch.device,
            progress: Progress = no_progress, data_seed: int = 0) -> TemperatureMethod:
        super().fit(spec, data, device, progress, data_seed)
        val_logits, _ = self.logits(data.val_x, device)
        self.temperature = fit_temperature(val_logits, data.val_y.numpy())
        return self

    def predict(self, x: torch.Tensor, device: torch.device, *,
                row_offset: int = 0) -> MethodOutput:
        logits, feats = self.logits(x, device)
        return MethodOutput(
            softmax(logits, temperature=self.temperature, dtype=np.float32)[None], feats,
            (np.asarray(logits, dtype=np.float32) / np.float32(self.temperature))[None])
