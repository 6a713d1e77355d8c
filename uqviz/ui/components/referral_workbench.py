"""The referral workbench in the browser: its controls, numbers and curve answer every key
press and drag in the same frame, without a Python rerun.

A Custom Component v2 (``st.components.v2.component``, files ``referral_workbench.{html,css,
js}`` next to this module). Python sends it once per (source, method, score) the cuts of a
``CompactReferral`` (every cut up to ``FULL_ROWS`` rows, else a grid of ``GRID_POINTS``
quantiles with exact counts) as base64 arrays, with the budget and target sliders
(``SLIDERS``), the kept cut each of their positions selects (``CompactReferral.position_at_budget``,
``position_for_target``) and the costs' limit (``MAX_COST``); the JavaScript looks up the cut of
the slider's position, computes its numbers as ``operating_point_from_counts`` does and the cost
mode's cut as ``CompactReferral.for_costs``, and reports the committed value as the state
``commit = {"mode": ..., "value": ...}`` (on release, or after a pause in typing).
"""

from __future__ import annotations

import base64
import hashlib
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import streamlit as st

from uqviz.metrics.selective import CompactReferral, ReferralIndex
from uqviz.ui.components import component_asset, component_js

FULL_ROWS = 100_000
GRID_POINTS = 10_000
# the budget and target sliders (%): value(k) = (offset + k) / scale, k = 0 … steps
SLIDERS = {
    "budget": {"label": "Share of cases sent to a human (%)", "min": 0, "max": 100,
               "step": "0.5", "offset": 0, "scale": 2, "steps": 200},
    "target": {"label": "Target accuracy on automated cases (%)", "min": 50, "max": 100,
               "step": "0.1", "offset": 500, "scale": 10, "steps": 500},
}
MAX_COST = 1e6  # the costs the cost mode accepts: 0 … MAX_COST
_NAME = "referral_workbench"

_mount = st.components.v2.component(
    "uqviz_referral_workbench",
    html=component_asset(_NAME, ".html"),
    css=component_asset(_NAME, ".css"),
    js=component_js(_NAME),
)
# the same JavaScript, no HTML: mounted without data it shows nothing (see warm_up)
_warm = st.components.v2.component("uqviz_referral_workbench_warm_up", js=component_js(_NAME))


@dataclass(frozen=True, eq=False)
class Workbench:
    """What the component is given for one sort of the scores, built once per index.

    Attributes:
        compact: the cuts the component (and the page's Python panels) answer at.
        default_threshold: the 90% quantile of the scores, snapped to a kept cut.
        payload: the JSON-ready arrays, ``n``, ``z``, the sliders, the costs' limit and the
            resolution sentence.
    """

    compact: CompactReferral
    default_threshold: float
    payload: dict


_PREPARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _b64(values: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(values, dtype=dtype).tobytes()).decode("ascii")


def slider_value(mode: str, k: int) -> float:
    """The value (%) of position ``k`` of the ``budget`` or ``target`` slider."""
    c = SLIDERS[mode]
    return (c["offset"] + k) / c["scale"]


def slider_cuts(compact: CompactReferral) -> dict[str, np.ndarray]:
    """The kept cut each position of the budget and target sliders selects: ``budget``
    (steps + 1,) ``position_at_budget``; ``target`` (steps + 1,) ``position_for_target`` and
    ``reached`` (steps + 1,) 1 where that target is reached, else 0."""
    budget = [compact.position_at_budget(slider_value("budget", k) / 100)
              for k in range(SLIDERS["budget"]["steps"] + 1)]
    target = [compact.position_for_target(slider_value("target", k) / 100)
              for k in range(SLIDERS["target"]["steps"] + 1)]
    return {"budget": np.array(budget), "target": np.array([i for i, _ in target]),
            "reached": np.array([int(r) for _, r in target])}


def resolution_text(compact: CompactReferral) -> str:
    """The thresholds the slider offers, in words."""
    if compact.exact:
        return (f"Thresholds at each of the {compact.size - 1:,} distinct scores of "
                f"{compact.n:,} cases.")
    return (f"Thresholds on a grid of {compact.size - 1:,} quantiles of {compact.n:,} scores; "
            "the numbers at each are exact.")


def prepare(index: ReferralIndex) -> Workbench:
    """The component's data for ``index`` (cached while the index lives)."""
    found = _PREPARED.get(index)
    if found is not None:
        return found
    if index.n >= 2**31:
        raise ValueError(f"the workbench handles under 2**31 cases, got {index.n:,}")
    compact = index.compact(index.n + 1 if index.n <= FULL_ROWS else GRID_POINTS)
    cuts = slider_cuts(compact)
    arrays = {"thresholds": _b64(compact.thresholds, "<f8"), "kept": _b64(compact.kept, "<i4"),
              "correct": _b64(compact.correct, "<i4"),
              "budgetCut": _b64(cuts["budget"], "<i4"), "targetCut": _b64(cuts["target"], "<i4"),
              "targetReached": _b64(cuts["reached"], "<i4")}
    digest = hashlib.sha1("|".join(arrays.values()).encode("ascii")).hexdigest()[:16]
    q90 = float(np.quantile(index.sorted_uncertainty, 0.9))
    default = float(compact.thresholds[max(1, compact.position_at_threshold(q90))])
    payload = {"n": compact.n, "z": compact.z, "exact": compact.exact, "digest": digest,
               "sliders": SLIDERS, "maxCost": MAX_COST,
               "resolution": resolution_text(compact), **arrays}
    prepared = Workbench(compact, default, payload)
    _PREPARED[index] = prepared
    return prepared


def warm_up(key: str):
    """Start the browser loading the components' code and the workbench's module while the
    server still computes: an instance without data or HTML (nothing shown) in a placeholder
    that the caller empties once the workbench is mounted. Returns the placeholder."""
    slot = st.empty()
    with slot:
        _warm(key=key, data=None, width="stretch", height="content")
    return slot


def referral_workbench(prepared: Workbench, *, data_id: str, mode: str, values: dict,
                       color: str, key: str, on_commit: Callable[[], None]) -> None:
    """Mount the workbench.

    Args:
        prepared: from ``prepare``.
        data_id: names the scores (source, method, score, content): the component keeps its
            own values while this stays the same, and takes ``values`` when it changes (or
            when it is mounted afresh).
        mode: one of ``uqviz.policy.REFERRAL_MODES``.
        values: ``threshold``, ``budget`` (%), ``target`` (%), ``cost_error``,
            ``cost_review``, as the slider steps allow them.
        color: the method's colour for the curve.
        key: the component's key in session state (its state: ``commit``).
        on_commit: called (before the rerun) when the component commits a value.
    """
    data = {**prepared.payload, "id": f"{data_id}|{prepared.payload['digest']}", "mode": mode,
            "values": values, "color": color}
    _mount(key=key, data=data, default={"commit": None}, on_commit_change=on_commit)
