"""The confidence intervals' subsample slider in the browser: the slider, the comparison chart,
the table and the warnings answer every key press and drag in the same frame, without a
Python rerun.

A Custom Component v2 (``st.components.v2.component``, files ``interval_subsample.{html,css,
js}`` next to this module). Python sends it once per (source, methods) the slider's sizes
(``slider_sizes``: every size up to ``FULL_ROWS`` rows, else a geometric grid of at most
``GRID_POINTS``) and, for each method at each of those sizes, every number the component shows:
the accuracy, the Wald interval (clipped and unclipped), the Wilson interval, the exact
percentile bootstrap, their widths and where Wald fails (``accuracy_intervals`` on the page's
one seeded permutation, ``n_resamples=None``), as base64 arrays. The JavaScript only looks them
up, formats and draws them, and reports the committed size as the state ``commit`` (on release,
or after a pause in key presses).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import streamlit as st

from uqviz.metrics.classification import (
    EXACT_BOOTSTRAP_MAX_N,
    AccuracyIntervals,
    accuracy_intervals,
    nested_subsample_hits,
    normal_quantile,
)
from uqviz.numerics import finite_number
from uqviz.ui.components import component_asset, component_js

FULL_ROWS = 1_000
GRID_POINTS = 1_000  # the slider's positions: at most this many sizes
SMALLEST = 20
CONFIDENCE = 0.95
_NAME = "interval_subsample"

_mount = st.components.v2.component(
    "uqviz_interval_subsample",
    html=component_asset(_NAME, ".html"),
    css=component_asset(_NAME, ".css"),
    js=component_js(_NAME),
)


@dataclass(frozen=True)
class MethodRows:
    """One method as the component shows it.

    Attributes:
        id: the method's key.
        label: its name on screen.
        color: its colour (CSS).
        correct: (N,) bool, whether each scored row was classified correctly.
    """

    id: str
    label: str
    color: str
    correct: np.ndarray


@dataclass(frozen=True, eq=False)
class SubsampleData:
    """What the component is given for one (source, methods).

    Attributes:
        sizes: (K,) the sizes the slider offers, increasing, ``sizes[-1]`` = all rows.
        hits: ``{method: (K,) correct rows among the first sizes[i] rows}``.
        intervals: ``{method: accuracy_intervals at sizes}`` (the exact bootstrap).
        payload: the JSON-ready arrays, ``z``, the confidence and the resolution sentence.
    """

    sizes: np.ndarray
    hits: dict[str, np.ndarray]
    intervals: dict[str, AccuracyIntervals]
    payload: dict

    def snap(self, size) -> int:
        """The offered size nearest to ``size`` (ties: the smaller); all rows when ``size`` is
        not a finite number."""
        value = finite_number(size)
        if value is None:
            return int(self.sizes[-1])
        i = int(np.searchsorted(self.sizes, value))
        if i >= self.sizes.size:
            return int(self.sizes[-1])
        if i > 0 and value - self.sizes[i - 1] <= self.sizes[i] - value:
            i -= 1
        return int(self.sizes[i])


def _b64(values: np.ndarray, dtype: str = "<i4") -> str:
    return base64.b64encode(np.ascontiguousarray(values, dtype=dtype).tobytes()).decode("ascii")


def interval_columns(iv: AccuracyIntervals) -> dict[str, str]:
    """What the component shows of one method at each size, as base64 arrays: ``accuracy``;
    ``wald``, ``waldUnclipped``, ``wilson``, ``bootstrap`` (K × 2, row by row: lo, hi); their
    widths ``waldWidth`` (clipped, the table's), ``waldUnclippedWidth`` (the chart's),
    ``wilsonWidth``, ``bootstrapWidth``; ``zeroWidth`` and ``outside`` (int8 0/1: Wald's
    interval has zero width, or leaves [0, 1])."""
    widths = iv.widths
    f8 = {"accuracy": iv.accuracy, "wald": iv.wald, "waldUnclipped": iv.wald_unclipped,
          "wilson": iv.wilson, "bootstrap": iv.bootstrap,
          "waldWidth": widths["wald"],
          "waldUnclippedWidth": iv.wald_unclipped[:, 1] - iv.wald_unclipped[:, 0],
          "wilsonWidth": widths["wilson"], "bootstrapWidth": widths["bootstrap"]}
    return {**{name: _b64(values, "<f8") for name, values in f8.items()},
            "zeroWidth": _b64(iv.wald_zero_width, "<i1"),
            "outside": _b64(iv.wald_outside, "<i1")}


def slider_sizes(n_total: int, *, smallest: int = SMALLEST, full: int = FULL_ROWS,
                 points: int = GRID_POINTS) -> np.ndarray:
    """The subsample sizes the slider offers: every size from ``smallest`` to ``n_total`` when
    ``n_total`` <= ``full``; else at most ``points`` sizes, ``np.rint`` of a geometric grid
    from ``smallest`` to ``n_total`` with as many points as keep ``points`` distinct sizes
    (so every size at the small end, where the intervals change most, then steps of a fixed
    ratio). Just ``[n_total]`` when ``n_total`` <= ``smallest``.

    Raises:
        ValueError: when ``n_total`` < 1.
    """
    if n_total < 1:
        raise ValueError(f"n_total must be >= 1, got {n_total}")
    if n_total <= smallest:
        return np.array([n_total], dtype=np.int64)
    if n_total <= full:
        return np.arange(smallest, n_total + 1, dtype=np.int64)

    def grid(count: int) -> np.ndarray:
        return np.unique(np.rint(np.geomspace(smallest, n_total, count)).astype(np.int64))

    lo, hi = points, 16 * points  # the largest count whose grid keeps at most `points` sizes
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if grid(mid).size <= points:
            lo = mid
        else:
            hi = mid - 1
    return grid(lo)


def resolution_text(sizes: np.ndarray) -> str:
    """The sizes the slider offers, in words."""
    first, last = int(sizes[0]), int(sizes[-1])
    if sizes.size == 1:
        return f"All {last:,} rows."
    if sizes.size == last - first + 1:
        return f"Every size from {first:,} to {last:,} rows."
    steps = np.diff(sizes)
    every = int(sizes[np.argmax(steps > 1)])  # the last size before the first gap
    ratio = 100 * (float(np.median(sizes[1:][steps > 1] / sizes[:-1][steps > 1])) - 1)
    return (f"Sizes on a grid of {sizes.size:,}: every size from {first:,} to {every:,} rows, "
            f"then steps of about {ratio:.2g}% up to {last:,}; the numbers at each size are "
            "exact.")


def prepare(methods: list[MethodRows], *, source: str, kinds: Mapping[str, str],
            confidence: float = CONFIDENCE) -> SubsampleData:
    """The component's data: the sizes up to the smallest method's row count, each method's
    counts and intervals at them (``accuracy_intervals`` with the exact bootstrap, seed 0).

    Args:
        methods: in the order shown.
        source: the data's name on screen (the caption starts with it).
        kinds: ``{"wald" | "wilson" | "bootstrap": label}``.
    """
    if not methods:
        raise ValueError("the interval component needs at least one method, got none")
    n_total = min(m.correct.size for m in methods)
    if n_total > EXACT_BOOTSTRAP_MAX_N:
        raise ValueError(f"the exact bootstrap handles at most {EXACT_BOOTSTRAP_MAX_N:,} rows, "
                         f"got {n_total:,}")
    sizes = slider_sizes(n_total)
    hits = {m.id: nested_subsample_hits(m.correct, seed=0)[sizes - 1] for m in methods}
    intervals = {m.id: accuracy_intervals(m.correct, sizes, confidence=confidence,
                                          n_resamples=None, seed=0) for m in methods}
    columns = {m.id: {"hits": _b64(hits[m.id]), **interval_columns(intervals[m.id])}
               for m in methods}
    digest = hashlib.sha1("|".join([_b64(sizes), *(c for m in methods
                                                   for c in columns[m.id].values())])
                          .encode("ascii"))
    payload = {
        "sizes": _b64(sizes), "n_total": n_total, "z": normal_quantile(confidence),
        "confidence": confidence,
        "resolution": resolution_text(sizes), "source": source, "kinds": dict(kinds),
        "digest": digest.hexdigest()[:16],
        "methods": [{"id": m.id, "label": m.label, "color": m.color, **columns[m.id]}
                    for m in methods],
    }
    return SubsampleData(sizes, hits, intervals, payload)


def interval_subsample(prepared: SubsampleData, *, data_id: str, size: int, key: str,
                       on_commit: Callable[[], None]) -> None:
    """Mount the component.

    Args:
        prepared: from ``prepare``.
        data_id: names the data (source, methods; a digest of the counts is added): the
            component keeps its own position while this stays the same, and takes ``size``
            when it changes (or when it is mounted afresh).
        size: one of ``prepared.sizes`` (``SubsampleData.snap``).
        key: the component's key in session state (its state: ``commit``).
        on_commit: called (before the rerun) when the component commits a size.
    """
    data = {**prepared.payload, "id": f"{data_id}|{prepared.payload['digest']}",
            "size": int(size)}
    _mount(key=key, data=data, default={"commit": None}, on_commit_change=on_commit)
