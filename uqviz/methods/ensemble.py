"""Deep ensembles: K independently initialised networks, predictions averaged."""

from __future__ import annotations

import numpy as np
import torch

from uqviz.data.base import DatasetSpec, DataSplits
from uqviz.inference import ensemble_logits
from uqviz.labels import METHOD_LABELS
from uqviz.methods.base import Method, MethodOutput
from uqviz.methods.network import Pass
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
    applies_to = frozenset({"dataset"})

    @classmethod
    def passes(cls, *, networks: int = 1, mc_samples: int = 0,
               augmentations: tuple = ()) -> tuple[Pass, ...]:
        """One plain pass of each network: the members."""
        return tuple(Pass(network=k) for k in range(networks))

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


class CheckpointEnsembleMethod(DeepEnsembleMethod):
    """An ensemble of the checkpoints a user gives (same classes, same input): one sample per
    model file, averaged. It needs no training, and it exists only for a user's model
    (``applies_to``); on a built-in dataset the deep ensemble trains its members instead.

    References: Lakshminarayanan, Pritzel & Blundell 2017 (deep ensembles); the checkpoints'
    independence is the user's: members fine-tuned from one start are less diverse.
    """

    id = "ensemble"
    label = METHOD_LABELS["ensemble"]
    description = "Your model files together; their average is the prediction."
    applies_to = frozenset({"model"})

    def fit(self, spec: DatasetSpec, data: DataSplits, device: torch.device,
            progress: Progress = no_progress, data_seed: int = 0) -> DeepEnsembleMethod:
        raise ValueError(f"{self.label} runs on your model files (evaluate --model A --model B); "
                         "on a built-in dataset use deep_ensemble")
