"""Softmax baseline: one network; its uncertainty is read off the softmax output."""

from __future__ import annotations

import numpy as np
import torch

from uqviz.data.base import DatasetSpec, DataSplits
from uqviz.labels import METHOD_LABELS
from uqviz.methods.base import Method, MethodOutput
from uqviz.methods.network import PLAIN, TorchNetwork, run_passes
from uqviz.numerics import softmax
from uqviz.training import Progress, no_progress, trained_network


class SoftmaxMethod(Method):
    """Maximum softmax probability of a single network (Hendrycks & Gimpel 2017).

    References: Hendrycks & Gimpel, "A Baseline for Detecting Misclassified and
    Out-of-Distribution Examples in Neural Networks", ICLR 2017.
    """

    id = "softmax"
    label = METHOD_LABELS["softmax"]
    description = "One network; confidence is its largest softmax probability."

    def fit(self, spec: DatasetSpec, data: DataSplits, device: torch.device,
            progress: Progress = no_progress, data_seed: int = 0) -> SoftmaxMethod:
        self.net = trained_network(spec, data, self.config.base_recipe(), device, progress,
                                   data_seed)
        self._fitted = True
        return self

    def logits(self, x: torch.Tensor, device: torch.device):
        """Logits (N, C) and features (N, D): one plain pass of the network
        (``uqviz.methods.network``, as on a user's model)."""
        self._check_fitted()
        samples, feats = run_passes([TorchNetwork(self.net, device)], x, {"plain": (PLAIN,)})
        return samples["plain"][0], feats

    def predict(self, x: torch.Tensor, device: torch.device, *,
                row_offset: int = 0) -> MethodOutput:
        logits, feats = self.logits(x, device)
        return MethodOutput(softmax(logits, dtype=np.float32)[None], feats,
                            np.asarray(logits, dtype=np.float32)[None])
