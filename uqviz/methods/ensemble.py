"""Deep ensembles: K independently initialised networks, predictions averaged."""

from __future__ import annotations

import numpy as np
import torch

from uqviz.data.base import DatasetSpec, DataSplits
from uqviz.inference import ensemble_logits
from uqviz.labels import METHOD_LABELS
from uqviz.methods.base import Method, MethodOutput
from uqviz.numerics import softmax
from uqviz.training import NetworkRecipe, Progress, member_recipes, no_progress, trained_network


class DeepEnsembleMethod(Method):
    """K members trained from different random initialisations and batch orders (default 5).

    Member 0 is the softmax baseline's network, so the ensemble adds K − 1 trainings.

    References: Lakshminarayanan, Pritzel & Blundell, "Simple and Scalable Predictive
    Uncertainty Estimation using Deep Ensembles", NeurIPS 2017.
    """

    id = "deep_ensemble"
    label = METHOD_LABELS["deep_ensemble"]
    description = ("K networks trained from different random starts; their average is the "
                   "prediction.")
    stochastic = True

    def member_base(self) -> NetworkRecipe:
        return self.config.base_recipe()

    def fit(self, spec: DatasetSpec, data: DataSplits, device: torch.device,
            progress: Progress = no_progress, data_seed: int = 0) -> DeepEnsembleMethod:
        recipes = member_recipes(self.member_base(), self.config.members)
        self.nets = []
        for k, recipe in enumerate(recipes):
            def member_progress(f: float, msg: str, k: int = k) -> None:
                progress((k + f) / len(recipes), f"member {k + 1}/{len(recipes)}: {msg}")

            self.nets.append(trained_network(spec, data, recipe, device, member_progress,
                                             data_seed))
        self._fitted = True
        return self

    def predict(self, x: torch.Tensor, device: torch.device, *,
                row_offset: int = 0) -> MethodOutput:
        self._check_fitted()
        logits, feats = ensemble_logits(self.nets, x, device,
                                        batched=self.config.batched)
        return MethodOutput(softmax(logits, dtype=np.float32), feats,
                            np.asarray(logits, dtype=np.float32))
