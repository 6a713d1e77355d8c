"""Randomized prior ensembles: each member is a trainable net plus a fixed random prior."""

from __future__ import annotations

from dataclasses import replace

from uqviz.labels import METHOD_LABELS
from uqviz.methods.ensemble import DeepEnsembleMethod
from uqviz.training import NetworkRecipe


class PriorEnsembleMethod(DeepEnsembleMethod):
    """K members ``f_k(x) + β p_k(x)`` with a fixed, randomly initialised prior network p_k
    and, optionally, a bootstrap resample of the training set per member.

    References: Osband, Aslanides & Cassirer, "Randomized Prior Functions for Deep
    Reinforcement Learning", NeurIPS 2018.
    """

    id = "prior_ensemble"
    label = METHOD_LABELS["prior_ensemble"]
    description = "An ensemble whose members each carry a fixed random prior network (scale β)."
    stochastic = True

    def member_base(self) -> NetworkRecipe:
        base = self.config.base_recipe()
        return replace(base, seed=base.seed + 104_729, prior_beta=self.config.prior_beta,
                       bootstrap=self.config.bootstrap)
