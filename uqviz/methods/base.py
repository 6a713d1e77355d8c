"""The interface every uncertainty method shares, and its configuration."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch

from uqviz.data.base import DatasetSpec, DataSplits
from uqviz.device import prefers_batched
from uqviz.methods.network import PLAIN, Pass
from uqviz.training import NetworkRecipe, Progress, TrainConfig, no_progress


@dataclass(frozen=True)
class MethodConfig:
    """Settings shared by the methods (each reads the fields it needs).

    Attributes:
        train: how each network is trained.
        seed: base seed; ensemble member k uses a seed derived from it.
        members: K, the ensemble size (deep and prior ensembles).
        mc_samples: T, the number of MC-dropout passes.
        prior_beta: β, the scale of the randomized prior (prior ensembles).
        bootstrap: train each prior-ensemble member on a bootstrap resample.
        batched: run members / MC samples as one batch; None = the choice recorded for the
            device and architecture in ``uqviz.device.BATCHING``.
    """

    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0
    members: int = 5
    mc_samples: int = 30
    prior_beta: float = 1.0
    bootstrap: bool = False
    batched: bool | None = None

    def __post_init__(self) -> None:
        if self.members < 2:
            raise ValueError(f"an ensemble needs at least 2 members, got {self.members}")
        if self.mc_samples < 2:
            raise ValueError(f"MC dropout needs at least 2 samples, got {self.mc_samples}")
        if self.prior_beta < 0:
            raise ValueError(f"prior_beta must be >= 0, got {self.prior_beta}")

    def use_batched(self, device: torch.device) -> bool:
        return prefers_batched(device) if self.batched is None else self.batched

    def base_recipe(self) -> NetworkRecipe:
        """The baseline network shared by softmax, temperature scaling and MC dropout."""
        return NetworkRecipe(train=self.train, seed=self.seed)


@dataclass(frozen=True)
class MethodOutput:
    """What ``Method.predict`` returns: probs float32 (S, N, C), features float32 (N, D) and
    the logits float32 (S, N, C) the probabilities are the softmax of (temperature scaling:
    the logits divided by T; ensembles and MC dropout: one per sample), for the OOD scores
    from logits (``uqviz.metrics.ood_scores``)."""

    probs: np.ndarray
    features: np.ndarray
    logits: np.ndarray | None = None


class Method(ABC):
    """An uncertainty method, on a built-in dataset's networks or on any ``Network``.

    On a built-in dataset: ``fit`` (train or load its networks), then ``predict``. On given
    networks (a user's model files): ``passes`` says which forward passes make its samples, and
    ``uqviz.methods.network.run_passes`` runs them (``uqviz.user_model.engine``).

    Class attributes: ``id`` (registry name), ``label`` (UI name, from ``uqviz.labels``),
    ``description`` (one sentence), ``stochastic`` (returns S > 1 samples), ``applies_to``
    (``"dataset"``: a built-in dataset's trained networks; ``"model"``: a user's model files).
    """

    id: ClassVar[str]
    label: ClassVar[str]
    description: ClassVar[str]
    stochastic: ClassVar[bool] = False
    applies_to: ClassVar[frozenset[str]] = frozenset({"dataset", "model"})

    @classmethod
    def passes(cls, *, networks: int = 1, mc_samples: int = 0,
               augmentations: tuple = ()) -> tuple[Pass, ...]:
        """The forward passes of given networks that make this method's samples: by default
        one plain pass of the first network (softmax, temperature scaling)."""
        return (PLAIN,)

    def __init__(self, config: MethodConfig | None = None) -> None:
        self.config = config or MethodConfig()
        self._fitted = False

    @abstractmethod
    def fit(self, spec: DatasetSpec, data: DataSplits, device: torch.device,
            progress: Progress = no_progress, data_seed: int = 0) -> Method:
        """Train (or load from the cache) what the method needs; returns self."""

    @abstractmethod
    def predict(self, x: torch.Tensor, device: torch.device, *,
                row_offset: int = 0) -> MethodOutput:
        """Predictive samples for images x (N, C, H, W) in [0, 1].

        ``row_offset``: the absolute index of ``x[0]`` in the block it was cut from; stochastic
        methods seed their samples by absolute row, so a block predicted in shards gives the
        same samples as in one call (deterministic methods ignore it).
        """

    def _check_fitted(self) -> None:
        if not self._fitted:
            raise RuntimeError(f"{self.id}: call fit() before predict()")
