"""The Conformal page's α slider in the browser: its numbers and its two charts answer every
key press and drag in the same frame, without a Python rerun.

A Custom Component v2 (``st.components.v2.component``, files ``conformal_alpha.{html,css,js}``
next to this module). Python sends it once per (source, method, score, calibration share,
seed, randomized, λ, k_reg) one split's results at every α of the slider
(``uqviz.conformal.SLIDER_ALPHAS``, ``ConformalSplit.levels`` of ``Study.conformal_split``)
and the coverage averaged over splits at each (``Study.average_coverage``), as base64 arrays;
the JavaScript shows the level the slider is at and reports the committed α as the state
``alpha`` (on release, or after a pause in key presses).
"""

from __future__ import annotations

import base64
import hashlib
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import streamlit as st

from uqviz.conformal import AVERAGE_ALPHAS, SLIDER_ALPHAS, AverageCoverage, ConformalLevels
from uqviz.study import Study
from uqviz.ui.components import component_asset, component_js

_NAME = "conformal_alpha"

_mount = st.components.v2.component(
    "uqviz_conformal_alpha",
    html=component_asset(_NAME, ".html"),
    css=component_asset(_NAME, ".css"),
    js=component_js(_NAME),
)


@dataclass(frozen=True, eq=False)
class AlphaWorkbench:
    """What the component is given for one split's settings, built once per study and
    settings.

    Attributes:
        levels: one split's results at every α of ``SLIDER_ALPHAS``.
        average: coverage against α averaged over ``average.n_draws`` splits, at
            ``AVERAGE_ALPHAS`` (the curve below the component draws it too).
        payload: the JSON-ready arrays and sizes the component reads.
    """

    levels: ConformalLevels
    average: AverageCoverage
    payload: dict


_PREPARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _b64(values: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(values, dtype=dtype).tobytes()).decode("ascii")


def build_payload(levels: ConformalLevels, average: AverageCoverage,
                  class_names) -> dict:
    """The component's data: per level (rows of ``SLIDER_ALPHAS``) the threshold, its rank,
    the hits, the coverage, its interval and its distance to the target, the mean set size,
    the average over splits, the set-size counts and shares (sizes 0..C) and each class's
    hits, coverage and 95% Wilson interval (``ConformalLevels.slider_table``); the class
    counts and names; the slider's step. The browser only looks these up and formats them."""
    if levels.n_test >= 2**31:
        raise ValueError(f"the component handles under 2**31 test rows, got {levels.n_test:,}")
    table = levels.slider_table()
    arrays = {
        "alphas": _b64(levels.alpha, "<f8"),
        "qhat": _b64(levels.qhat, "<f8"),
        "rank": _b64(levels.rank, "<i4"),
        "hits": _b64(levels.hits, "<i4"),
        "low": _b64(levels.coverage_low, "<f8"),
        "high": _b64(levels.coverage_high, "<f8"),
        "meanSize": _b64(levels.mean_set_size, "<f8"),
        "average": _b64([average.at(a) for a in levels.alpha], "<f8"),
        "sizeCounts": _b64(levels.size_counts, "<i4"),
        "classHits": _b64(levels.class_hits, "<i4"),
        "classCounts": _b64(levels.class_counts, "<i4"),
        "coverage": _b64(table["coverage"], "<f8"),
        "delta": _b64(table["delta"], "<f8"),
        "sizeShare": _b64(table["size_share"], "<f8"),
        "classCoverage": _b64(table["class_coverage"], "<f8"),
        "classLow": _b64(table["class_low"], "<f8"),
        "classHigh": _b64(table["class_high"], "<f8"),
    }
    step = float(levels.alpha[1] - levels.alpha[0]) if levels.alpha.size > 1 else 0.01
    digest = hashlib.sha1("|".join(arrays.values()).encode("ascii")).hexdigest()[:16]
    return {"levels": int(levels.alpha.size), "classes": int(levels.class_counts.size),
            "names": [str(n) for n in class_names], "nCal": levels.n_cal,
            "nTest": levels.n_test, "nDraws": average.n_draws, "step": step,
            "digest": digest, **arrays}


def prepare(study: Study, settings: dict, seed: int, n_draws: int) -> AlphaWorkbench:
    """The component's data for ``study`` under ``settings`` (``score``, ``cal_fraction``,
    ``randomized``, ``lam``, ``k_reg``) and ``seed``; cached while the study lives."""
    key = (tuple(sorted(settings.items())), int(seed), int(n_draws))
    found = _PREPARED.setdefault(study, {})
    if key not in found:
        levels = study.conformal_split(seed=seed, **settings).levels(SLIDER_ALPHAS)
        average = study.average_coverage(AVERAGE_ALPHAS, n_draws, **settings)
        found[key] = AlphaWorkbench(levels, average,
                                    build_payload(levels, average, study.rows.names))
    return found[key]


def conformal_alpha(prepared: AlphaWorkbench, *, data_id: str, alpha: float, key: str,
                    on_commit: Callable[[], None]) -> None:
    """Mount the slider, its numbers and charts.

    Args:
        prepared: from ``prepare``.
        data_id: names the settings (source, method, score, share, seed, …): the component
            keeps its own α while this stays the same and takes ``alpha`` when it changes (or
            when it is mounted afresh).
        alpha: a level of ``SLIDER_ALPHAS``.
        key: the component's key in session state (its state: ``alpha``).
        on_commit: called (before the rerun) when the component commits an α.
    """
    data = {**prepared.payload, "id": f"{data_id}|{prepared.payload['digest']}",
            "alpha": float(alpha)}
    _mount(key=key, data=data, default={"alpha": None}, on_alpha_change=on_commit)
