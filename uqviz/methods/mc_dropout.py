"""MC dropout: T stochastic passes through the baseline network with only dropout active."""

from __future__ import annotations

import numpy as np
import torch

from uqviz.inference import mc_dropout_logits
from uqviz.labels import METHOD_LABELS
from uqviz.methods.base import MethodOutput
from uqviz.methods.network import Pass
from uqviz.methods.softmax import SoftmaxMethod
from uqviz.numerics import softmax


class MCDropoutMethod(SoftmaxMethod):
    """Average of T dropout samples of one network (default T = 30).

    References: Gal & Ghahramani, "Dropout as a Bayesian Approximation: Representing Model
    Uncertainty in Deep Learning", ICML 2016.
    """

    id = "mc_dropout"
    label = METHOD_LABELS["mc_dropout"]
    description = "One network sampled T times with dropout left on at test time."
    stochastic = True

    @classmethod
    def passes(cls, *, networks: int = 1, mc_samples: int = 0,
               augmentations: tuple = ()) -> tuple[Pass, ...]:
        """T passes of the first network with dropout sampling (seeded per batch by the
        caller: ``run_passes``'s ``dropout_seed``)."""
        return tuple(Pass(dropout=i) for i in range(mc_samples))

    def predict(self, x: torch.Tensor, device: torch.device, *,
                row_offset: int = 0) -> MethodOutput:
        self._check_fitted()
        logits = mc_dropout_logits(self.net, x, device, samples=self.config.mc_samples,
                                   seed=self.config.seed, batched=self.config.batched,
                                   row_offset=row_offset)
        _, feats = self.logits(x, device)
        return MethodOutput(softmax(logits, dtype=np.float32), feats,
                            np.asarray(logits, dtype=np.float32))
