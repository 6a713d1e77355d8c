"""The confusion matrix as a heatmap: counts or shares of each true class
(``uqviz.metrics.confusion_matrix`` in)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from uqviz.plots.theme import SEQUENTIAL_SCALE, finish

__all__ = ["confusion_matrix_figure"]


def _unique_names(names: Sequence[str]) -> list[str]:
    names = [str(n) for n in names]
    if len(set(names)) == len(names):
        return names
    return [f"{n} ({i})" for i, n in enumerate(names)]


def confusion_matrix_figure(
    matrix,
    class_names: Sequence[str],
    *,
    normalize: bool = False,
    title: str | None = None,
    show_text: bool | None = None,
    height: int | None = None,
) -> go.Figure:
    """Heatmap of a confusion matrix: rows true class, columns predicted class.

    Args:
        matrix: (C, C) counts ``M[true, predicted]`` (``uqviz.metrics.confusion_matrix``).
        class_names: C class names (made unique by appending the index when they repeat).
        normalize: colour and label each cell by its share of the true class's row (rows
            without any example show 0); hover always shows both count and share.
        title: default "Confusion matrix" (+ "(share of each true class)").
        show_text: write the values in the cells; default when C <= 20.
        height: default grows with C (380–900 px).
    """
    counts = np.asarray(matrix)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"matrix must be square (C, C), got shape {counts.shape}")
    c = counts.shape[0]
    if len(class_names) != c:
        raise ValueError(f"class_names has {len(class_names)} names for a {c}×{c} matrix")
    if counts.size and (counts < 0).any():
        raise ValueError(f"matrix must hold counts >= 0, found {counts.min()}")
    names = _unique_names(class_names)
    row_totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(row_totals > 0, counts / np.maximum(row_totals, 1), 0.0)
    z = shares if normalize else counts
    show_text = c <= 20 if show_text is None else show_text
    fig = go.Figure(
        go.Heatmap(
            z=z, x=names, y=names, colorscale=SEQUENTIAL_SCALE, zmin=0,
            zmax=1.0 if normalize else None,
            customdata=np.dstack([counts, shares]),
            texttemplate=("%{z:.0%}" if normalize else "%{z:,}") if show_text else None,
            textfont=dict(size=11 if c > 10 else 13),
            colorbar=dict(title=dict(text="Share of row" if normalize else "Rows"),
                          tickformat=".0%" if normalize else None),
            hovertemplate=("True: %{y}<br>Predicted: %{x}<br>Rows: %{customdata[0]:,}<br>"
                           "Share of the true class: %{customdata[1]:.1%}<extra></extra>"),
            xgap=1, ygap=1,
        )
    )
    fig.update_xaxes(title_text="Predicted class", type="category", showgrid=False,
                     tickangle=-45 if c > 10 else 0)
    fig.update_yaxes(title_text="True class", type="category", autorange="reversed",
                     showgrid=False, scaleanchor="x", constrain="domain")
    default_title = "Confusion matrix" + (" (share of each true class)" if normalize else "")
    height = height or int(min(900, max(380, 200 + 30 * c)))
    return finish(fig, title=title or default_title, height=height)
