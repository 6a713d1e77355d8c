"""The embedding map: a 2-D scatter of feature embeddings, coloured one of several ways.

Builders are pure: the page passes the coordinates, the per-point colour values (numbers for
a continuous colouring, category names for a categorical one) and the hover text; nothing
statistical is computed here. Each colouring has one fixed colour scale or palette
(``COLORINGS``), the same on every map. Above ``SCATTERGL_MIN_POINTS`` points the scatter is
drawn with WebGL (``go.Scattergl``).

Plotly's hover cannot show images, so the hover text carries the label, prediction and scores,
and the page lists the thumbnails of the points a box or lasso selects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from uqviz.plots.images import png_data_uri
from uqviz.plots.theme import (
    CORRECT_COLOR,
    IN_DISTRIBUTION_COLOR,
    MUTED_COLOR,
    OUT_OF_DISTRIBUTION_COLOR,
    SCATTERGL_MIN_POINTS,
    WRONG_COLOR,
    finish,
)

__all__ = [
    "CLASS_PALETTE",
    "COLORINGS",
    "NO_LABEL",
    "UNCERTAINTY_SCALE",
    "Coloring",
    "category_colors",
    "embedding_figure",
    "image_data_uris",
    "selected_rows",
]

NO_LABEL = "No label (OOD)"
# pale for the confident majority, saturated for the uncertain few (drawn on top)
UNCERTAINTY_SCALE = [[0.0, "#D0EBFF"], [0.35, "#74C0FC"], [0.65, "#F59F00"], [1.0, "#C92A2A"]]
CLASS_PALETTE = ("#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#9467BD", "#8C564B", "#E377C2",
                 "#7F7F7F", "#BCBD22", "#17BECF", "#393B79", "#AD494A", "#637939", "#7B4173")
SEVERITY_COLORS = ("#1C7ED6", "#FFE066", "#FCC419", "#F76707", "#E03131", "#862E9C")


@dataclass(frozen=True)
class Coloring:
    """One way to colour the map.

    Attributes:
        key: id used by the page (``"uncertainty"``, ``"correctness"``, …).
        label: what the picker shows.
        categorical: True when the values are category names, False for numbers.
        meaning: one line for the caption.
    """

    key: str
    label: str
    categorical: bool
    meaning: str


COLORINGS: dict[str, Coloring] = {c.key: c for c in (
    Coloring("uncertainty", "Uncertainty score", False,
             "pale = confident, red = uncertain (the chosen score)"),
    Coloring("correctness", "Right or wrong", True,
             "green = right, red = wrong, grey = no label (OOD)"),
    Coloring("class", "True class", True, "one colour per true class, grey = no label (OOD)"),
    Coloring("predicted", "Predicted class", True, "one colour per predicted class"),
    Coloring("distribution", "In or out of distribution", True,
             "blue = test images (clean or corrupted), orange = out-of-distribution"),
    Coloring("severity", "Corruption severity", True,
             "blue = clean, yellow to purple = severity 1 to 5, grey = OOD"),
)}


def category_colors(coloring: str, categories: Sequence[str]) -> dict[str, str]:
    """The fixed colour of each category of a categorical colouring.

    Args:
        coloring: a key of ``COLORINGS`` with ``categorical=True``.
        categories: the category names in display order (``NO_LABEL`` and ``"OOD"`` are grey).

    Returns:
        ``{category: "#RRGGBB"}``.

    Raises:
        ValueError: for an unknown or continuous colouring.
    """
    if coloring not in COLORINGS or not COLORINGS[coloring].categorical:
        valid = ", ".join(k for k, c in COLORINGS.items() if c.categorical)
        raise ValueError(f"unknown categorical colouring {coloring!r}; valid: {valid}")
    fixed = {"Right": CORRECT_COLOR, "Wrong": WRONG_COLOR, NO_LABEL: MUTED_COLOR,
             "OOD": MUTED_COLOR, "In distribution": IN_DISTRIBUTION_COLOR,
             "Out of distribution": OUT_OF_DISTRIBUTION_COLOR}
    colors: dict[str, str] = {}
    others = [c for c in categories if c not in fixed]
    for c in categories:
        if c in fixed:
            colors[c] = fixed[c]
        elif coloring == "severity":
            level = int(c) if str(c).isdigit() else 0
            colors[c] = SEVERITY_COLORS[min(level, len(SEVERITY_COLORS) - 1)]
        else:
            colors[c] = CLASS_PALETTE[others.index(c) % len(CLASS_PALETTE)]
    return colors


def _scatter(n: int):
    return go.Scattergl if n > SCATTERGL_MIN_POINTS else go.Scatter


def embedding_figure(
    coords,
    rows,
    *,
    values,
    coloring: str,
    color_title: str,
    hover_text: Sequence[str],
    categories: Sequence[str] | None = None,
    title: str | None = None,
    axis_titles: tuple[str, str] = ("", ""),
    height: int = 620,
    marker_size: float | None = None,
) -> go.Figure:
    """A scatter of the embedding, coloured by ``values``.

    Args:
        coords: (M, 2) positions.
        rows: (M,) row ids; each point carries its id as ``customdata`` (for selections).
        values: (M,) numbers (continuous colouring) or category names (categorical).
        coloring: a key of ``COLORINGS``.
        color_title: colour bar or legend title.
        hover_text: (M,) hover lines (``<br>`` between lines).
        categories: display order of the categories (default: order of appearance).
        title: figure title.
        axis_titles: x and y axis titles (e.g. "PC 1 (38% of variance)").
        height: px.
        marker_size: px; default shrinks with the number of points.

    Returns:
        One trace per category (click the legend to hide one; larger categories are drawn
        first, underneath), or one trace with a colour bar, the most uncertain on top; WebGL
        above ``SCATTERGL_MIN_POINTS`` points.
    """
    if coloring not in COLORINGS:
        raise ValueError(f"unknown colouring {coloring!r}; valid: {', '.join(COLORINGS)}")
    xy = np.asarray(coords, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"coords must be (M, 2), got shape {xy.shape}")
    ids = np.asarray(rows)
    values = np.asarray(values)
    hover = np.asarray(hover_text, dtype=object)
    for name, arr in (("rows", ids), ("values", values), ("hover_text", hover)):
        if arr.shape != (len(xy),):
            raise ValueError(f"{name} must have shape ({len(xy)},), got {arr.shape}")
    size = marker_size or (7.0 if len(xy) <= 2000 else 5.0 if len(xy) <= 10_000 else 3.5)
    trace = _scatter(len(xy))
    fig = go.Figure()
    common = dict(mode="markers", hovertemplate="%{text}<extra></extra>")
    if COLORINGS[coloring].categorical:
        labels = values.astype(str)
        order = list(categories) if categories is not None else list(dict.fromkeys(labels))
        colors = category_colors(coloring, order)
        counts = {cat: int((labels == cat).sum()) for cat in order}
        # large categories first (underneath), so that small ones stay visible; among equals
        # the first in the legend is drawn last, on top. The legend keeps the category order.
        drawn = sorted((c for c in order if counts[c]), key=lambda c: (-counts[c],
                                                                       -order.index(c)))
        for cat in drawn:
            mask = labels == cat
            fig.add_trace(trace(x=xy[mask, 0], y=xy[mask, 1], customdata=ids[mask],
                                text=hover[mask], name=f"{cat} ({counts[cat]:,})",
                                legendrank=1000 + order.index(cat),
                                marker=dict(color=colors[cat], size=size, opacity=0.8,
                                            line=dict(width=0)), **common))
        legend = dict(title=dict(text=color_title), itemsizing="constant")
        return finish(fig, title=title, height=height, legend=legend,
                       xaxis_title=axis_titles[0], yaxis_title=axis_titles[1],
                       dragmode="select")
    numbers = values.astype(np.float64)
    order = np.argsort(numbers, kind="stable")  # the most uncertain are drawn last, on top
    fig.add_trace(trace(x=xy[order, 0], y=xy[order, 1], customdata=ids[order],
                        text=hover[order], name=color_title, showlegend=False,
                        marker=dict(color=numbers[order], colorscale=UNCERTAINTY_SCALE,
                                    size=size, opacity=0.85, line=dict(width=0),
                                    colorbar=dict(title=dict(text=color_title, side="right"),
                                                  thickness=14)),
                        **common))
    return finish(fig, title=title, height=height, xaxis_title=axis_titles[0],
                   yaxis_title=axis_titles[1], dragmode="select")


def selected_rows(points: Sequence[Mapping], fig: go.Figure | None = None) -> np.ndarray:
    """Row ids of the points of a Streamlit Plotly selection (``event.selection.points``).

    Each point's ``customdata`` is its row id; when a point comes without it, its
    ``curve_number`` and ``point_index`` are looked up in ``fig``'s traces.

    Returns:
        int64 row ids, unique, in order of first selection.
    """
    found: list[int] = []
    for p in points:
        value = p.get("customdata")
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
        if value is None and fig is not None and "curve_number" in p:
            custom = fig.data[int(p["curve_number"])].customdata
            index = p.get("point_index", p.get("point_number"))
            value = None if custom is None or index is None else custom[int(index)]
        if value is not None:
            found.append(int(value))
    return np.array(list(dict.fromkeys(found)), dtype=np.int64)



def image_data_uris(pictures: Sequence[np.ndarray]) -> list[str]:
    """PNG data URIs of uint8 (H, W, 3) pictures, for ``st.column_config.ImageColumn``."""
    return [png_data_uri(np.ascontiguousarray(p, dtype=np.uint8)) for p in pictures]
