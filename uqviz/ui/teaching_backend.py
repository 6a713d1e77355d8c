"""Cached calls of the Learn pages (1-D ensembles, two moons, aleatoric vs epistemic).

Each toy trains small MLPs on one CPU thread in about a second; ``st.cache_data`` keys every
result by the settings a teacher moves, so going back to a setting is instant.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from uqviz.device import configure_threads
from uqviz.metrics.scores import UNCERTAINTY_SCORES
from uqviz.teaching.active import STRATEGIES as STRATEGIES  # the active-learning page's
from uqviz.teaching.active import ActiveConfig as ActiveConfig  # strategies and settings
from uqviz.teaching.decomposition import WORKED_EXAMPLE as WORKED_EXAMPLE  # aleatoric page
from uqviz.teaching.decomposition import ToyResult, ToySettings, aleatoric_epistemic_toy
from uqviz.teaching.decomposition import decompose as decompose
from uqviz.teaching.decomposition import region_means as region_means
from uqviz.teaching.moons import (
    MOONS_METHODS,
    MoonsResult,
    MoonsSettings,
    moons_playground,
    probability_map,
    score_map,
)
from uqviz.teaching.regression1d import (
    FOUR_SETTINGS,
    EnsembleFit1D,
    RegressionSettings,
    fit_ensemble_1d,
)
from uqviz.teaching.regression1d import region_spread as region_spread  # 1-D page

MOONS_SCORES = ("entropy", "expected_entropy", "mutual_information", "max_prob")
"""Uncertainty scores offered on the two-moons page (``uqviz.metrics.scores`` keys)."""


@st.cache_data(show_spinner="Training the ensemble…", max_entries=64)
def ensemble_1d(members: int, prior: str, beta: float, bootstrap: bool,
                seed: int = 0) -> EnsembleFit1D:
    """One trained 1-D ensemble (see ``RegressionSettings``)."""
    configure_threads()
    return fit_ensemble_1d(RegressionSettings(members=members, prior=prior, beta=beta,
                                              bootstrap=bootstrap, seed=seed))


def four_settings(members: int, beta: float, seed: int = 0
                  ) -> list[tuple[str, EnsembleFit1D]]:
    """The four ensembles of the randomized-prior material with ``members`` and ``beta``."""
    return [(title, ensemble_1d(members, prior, beta, bootstrap, seed))
            for title, prior, bootstrap in FOUR_SETTINGS]


@st.cache_data(show_spinner="Training five classifiers on two moons…", max_entries=32)
def moons(n_points: int, noise: float, members: int, beta: float, seed: int = 0) -> MoonsResult:
    """The two-moons playground's predictions over the plane."""
    configure_threads()
    return moons_playground(MoonsSettings(n_points=n_points, noise=noise, members=members,
                                          beta=beta, seed=seed))


def moons_rows(result: MoonsResult, scores: list[str]
               ) -> tuple[list[tuple[str, dict[str, np.ndarray]]], list[float]]:
    """Rows of the heatmap grid: P(class 1), then each score in ``scores``; and the top of each
    row's colour scale (log 2 for entropies, the row's maximum otherwise)."""
    rows = [("P(class 1)", {m: probability_map(result, m) for m in MOONS_METHODS})]
    tops = [1.0]
    for key in scores:
        maps = {m: score_map(result, m, key) for m in MOONS_METHODS}
        rows.append((UNCERTAINTY_SCORES[key].label, maps))
        if key == "max_prob":
            tops.append(0.5)
        elif key in ("entropy", "expected_entropy"):
            tops.append(float(np.log(2)))
        else:
            tops.append(max(float(np.max(v)) for v in maps.values()) or 1.0)
    return rows, tops


@st.cache_data(show_spinner="Training the ensemble…", max_entries=64)
def toy(label_noise: float, n_points: int, seed: int = 0) -> ToyResult:
    """The aleatoric-vs-epistemic toy (see ``ToySettings``)."""
    configure_threads()
    return aleatoric_epistemic_toy(ToySettings(label_noise=label_noise, n_points=n_points,
                                               seed=seed))
