"""The referral workbench in the browser: its controls, numbers and curve answer every key
press and drag in the same frame, without a Python rerun.

A Custom Component v2 (``st.components.v2.component``, files ``referral_workbench.{html,css,
js}`` next to this module). Python sends it once per (source, method, score) the cuts of a
``CompactReferral`` (every cut up to ``FULL_ROWS`` rows, else a grid of ``GRID_POINTS``
quantiles with exact counts) as base64 arrays; the JavaScript computes the operating point of
each mode as ``CompactReferral``'s queries do and reports the committed value as the state
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
        payload: the JSON-ready arrays, ``n``, ``z`` and the resolution sentence.
    """

    compact: CompactReferral
    default_threshold: float
    payload: dict


_PREPARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _b64(values: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(values, dtype=dtype).tobytes()).decode("ascii")


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
    arrays = {"thresholds": _b64(compact.thresholds, "<f8"), "kept": _b64(compact.kept, "<i4"),
              "correct": _b64(compact.correct, "<i4")}
    digest = hashlib.sha1("|".join(arrays.values()).encode("ascii")).hexdigest()[:16]
    q90 = float(np.quantile(index.sorted_uncertainty, 0.9))
    default = float(compact.thresholds[max(1, compact.position_at_threshold(q90))])
    payload = {"n": compact.n, "z": compact.z, "exact": compact.exact, "digest": digest,
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
