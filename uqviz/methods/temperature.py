"""Temperature scaling: the baseline network with its logits divided by a fitted T (the fit
itself, ``fit_temperature`` and the NLL it minimises, is ``uqviz.metrics.temperature``)."""

from __future__ import annotations

import numpy as np
import torch

from uqviz.data.base import DatasetSpec, DataSplits
from uqviz.labels import METHOD_LABELS
from uqviz.methods.base import MethodOutput
from uqviz.methods.network import as_logits
from uqviz.methods.softmax import SoftmaxMethod
from uqviz.metrics.temperature import (  # the torch-free fit; importable from here too
    cross_validated_nll_gain,
    fit_temperature,
    nll_at_temperature,
    nll_optimal_temperature,
)
from uqviz.numerics import softmax
from uqviz.training import Progress, no_progress

__all__ = [
    "TemperatureMethod",
    "cross_validated_nll_gain",
    "fit_temperature",
    "fit_temperature_on_outputs",
    "nll_at_temperature",
    "nll_optimal_temperature",
]


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
