"""The referral workbench in the browser: its controls, numbers and curve answer every key
press and drag in the same frame, without a Python rerun.

A Custom Component v2 (``st.components.v2.component``, files ``referral_workbench.{html,css,
js}`` next to this module). Python sends it once per (source, method, score) every number it
can show, per slider position, as base64 arrays: the operating point at each kept cut of a
``CompactReferral`` (every cut up to ``GRID_POINTS`` distinct scores, else a grid of that many
quantiles with exact counts; ``operating_point_table``), the kept cut each position of the
budget and target sliders selects (``SLIDERS``; ``CompactReferral.position_at_budget``,
``position_for_target``) and, for each pair of positions of the two cost sliders
(``COST_VALUES``), the cost-optimal cut and its expected cost (``cost_table``, i.e.
``CompactReferral.for_costs``, with the reviewers' accuracy q: a referred case costs the review
plus ``(1 − q)`` of an error). The JavaScript only looks these up, formats and draws them, and
reports the committed value as the state ``commit = {"mode": ..., "value": ...}`` (on
release, or after a pause in key presses).
"""

from __future__ import annotations

import base64
import hashlib
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import streamlit as st

from uqviz.metrics.selective import (
    CompactReferral,
    ReferralIndex,
    cost_table,
    operating_point_table,
)
from uqviz.numerics import finite_number
from uqviz.ui.components import component_asset, component_js

GRID_POINTS = 2_000  # the threshold slider's positions: at most this many kept cuts
# the budget and target sliders (%): value(k) = (offset + k) / scale, k = 0 … steps
SLIDERS = {
    "budget": {"label": "Share of cases sent to a human (%)", "min": 0, "max": 100,
               "step": "0.5", "offset": 0, "scale": 2, "steps": 200},
    "target": {"label": "Target accuracy on automated cases (%)", "min": 50, "max": 100,
               "step": "0.1", "offset": 500, "scale": 10, "steps": 500},
}
# the costs each cost slider offers (of an automated error, of a human review): 0, then
# 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 per decade from 0.1 to 1,000
COST_VALUES = (0.0, *(round(m * 10.0**d, 6) for d in range(-1, 3)
                      for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8)), 1000.0)
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
        payload: the JSON-ready arrays, ``n``, ``z``, the sliders, the costs and the
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


def _cost_label(value: float) -> str:
    return f"{value:g}"


def snap_cost(value) -> float | None:
    """The offered cost (``COST_VALUES``) nearest to ``value`` (ties: the smaller); None when
    ``value`` is not a finite number."""
    value = finite_number(value)
    if value is None:
        return None
    return min(COST_VALUES, key=lambda c: (abs(c - value), c))


def cost_note(reviewer_accuracy: float) -> str:
    """How the expected cost counts the reviewers, in words (after the expected cost)."""
    if reviewer_accuracy >= 1:
        return "(reviews assumed correct)."
    return (f"(reviewers right {reviewer_accuracy:.0%} of the time: a referred case costs the "
            f"review plus {1 - reviewer_accuracy:.0%} of an error's cost).")


def prepare(index: ReferralIndex, reviewer_accuracy: float = 1.0) -> Workbench:
    """The component's data for ``index``, the cost table with reviewers right with
    probability ``reviewer_accuracy`` (cached while the index lives)."""
    by_accuracy = _PREPARED.setdefault(index, {})
    found = by_accuracy.get(reviewer_accuracy)
    if found is not None:
        return found
    if index.n >= 2**31:
        raise ValueError(f"the workbench handles under 2**31 cases, got {index.n:,}")
    compact = index.compact(GRID_POINTS)
    table = operating_point_table(compact)
    cuts = slider_cuts(compact)
    costs = cost_table(compact, COST_VALUES, reviewer_accuracy=reviewer_accuracy)
    arrays = {
        "thresholds": _b64(table.threshold, "<f8"), "kept": _b64(table.n_automated, "<i4"),
        "correct": _b64(compact.correct, "<i4"), "referred": _b64(table.n_referred, "<i4"),
        "errors": _b64(table.n_errors_automated, "<i4"),
        "referredFraction": _b64(table.referred_fraction, "<f8"),
        "accuracy": _b64(table.automated_accuracy, "<f8"),
        "accuracyLo": _b64(table.automated_accuracy_ci[:, 0], "<f8"),
        "accuracyHi": _b64(table.automated_accuracy_ci[:, 1], "<f8"),
        "errorRate": _b64(table.automated_error_rate, "<f8"),
        "referredAccuracy": _b64(table.referred_accuracy, "<f8"),
        "referredLo": _b64(table.referred_accuracy_ci[:, 0], "<f8"),
        "referredHi": _b64(table.referred_accuracy_ci[:, 1], "<f8"),
        "budgetCut": _b64(cuts["budget"], "<i4"), "targetCut": _b64(cuts["target"], "<i4"),
        "targetReached": _b64(cuts["reached"], "<i4"),
        "costCut": _b64(costs.position.ravel(), "<i4"),
        "costExpected": _b64(costs.expected_cost.ravel(), "<f8"),
    }
    digest = hashlib.sha1("|".join(arrays.values()).encode("ascii")).hexdigest()[:16]
    q90 = float(np.quantile(index.sorted_uncertainty, 0.9))
    default = float(compact.thresholds[max(1, compact.position_at_threshold(q90))])
    payload = {"n": compact.n, "z": compact.z, "exact": compact.exact, "digest": digest,
               "sliders": SLIDERS, "costs": list(COST_VALUES),
               "costLabels": [_cost_label(c) for c in COST_VALUES],
               "randomAccuracy": table.random_accuracy,
               "costNote": cost_note(reviewer_accuracy),
               "resolution": resolution_text(compact), **arrays}
    prepared = Workbench(compact, default, payload)
    by_accuracy[reviewer_accuracy] = prepared
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
            ``cost_review``, as the sliders offer them (``COST_VALUES`` for the costs).
        color: the method's colour for the curve.
        key: the component's key in session state (its state: ``commit``).
        on_commit: called (before the rerun) when the component commits a value.
    """
    data = {**prepared.payload, "id": f"{data_id}|{prepared.payload['digest']}", "mode": mode,
            "values": values, "color": color}
    _mount(key=key, data=data, default={"commit": None}, on_commit_change=on_commit)
