"""Confidence intervals of an accuracy: how their widths shrink with the number of test rows.
(The three intervals side by side per method are drawn in the browser, as SVG:
``uqviz/ui/components/interval_subsample.js``.)"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from uqviz.metrics.classification import AccuracyIntervals
from uqviz.plots.theme import DIAGONAL_COLOR, MUTED_COLOR, finish, method_color

__all__ = ["INTERVAL_KINDS", "interval_width_figure"]

# kind -> (label, marker symbol, line dash); the browser's chart and table take the labels
INTERVAL_KINDS: dict[str, tuple[str, str, str]] = {
    "wald": ("Normal approx. (Wald)", "diamond", "dash"),
    "wilson": ("Wilson", "circle", "solid"),
    "bootstrap": ("Percentile bootstrap", "square", "dot"),
}


def interval_width_figure(
    intervals: AccuracyIntervals,
    *,
    method: str,
    size: int | None = None,
    title: str | None = None,
    height: int = 400,
) -> go.Figure:
    """Width of each interval against the number of test rows (log x axis), with the
    reference ``c / sqrt(n)`` through the Wilson width on all rows.

    Args:
        intervals: one method's ``AccuracyIntervals`` over a grid of sizes.
        method: its id (colour and legend).
        size: mark this subsample size with a dotted vertical line.
        title: figure title.
        height: px.
    """
    n = intervals.sizes.astype(np.float64)
    color = method_color(method)
    fig = go.Figure()
    for kind, width in intervals.widths.items():
        label, symbol, dash = INTERVAL_KINDS[kind]
        fig.add_trace(go.Scatter(
            x=n, y=width, mode="lines+markers", name=label,
            line=dict(color=color, dash=dash, width=2.5),
            marker=dict(color=color, symbol=symbol, size=7),
            hovertemplate=f"{label}<br>n = %{{x:,}}<br>width %{{y:.1%}}<extra></extra>"))
    c = float(intervals.widths["wilson"][-1] * np.sqrt(n[-1]))
    fig.add_trace(go.Scatter(x=n, y=c / np.sqrt(n), mode="lines", name="∝ 1/√n",
                             line=dict(color=MUTED_COLOR, width=1.5), hoverinfo="skip"))
    if size is not None:
        # a trace, not add_vline: shapes and annotations on a log axis take log10 coordinates
        top = float(max(np.nanmax(w) for w in intervals.widths.values()))
        fig.add_trace(go.Scatter(x=[size, size], y=[0.0, top], mode="lines",
                                 name=f"n = {size:,} (slider)",
                                 line=dict(color=DIAGONAL_COLOR, dash="dot", width=1.5),
                                 hoverinfo="skip"))
    ticks = [t for t in (10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000,
                         50_000, 100_000, 200_000, 500_000, 1_000_000) if n[0] <= t <= n[-1]]
    fig.update_xaxes(type="log", title_text="Test rows n (log scale)",
                     tickvals=sorted({*ticks, int(n[-1])}), tickformat=",d")
    fig.update_yaxes(title_text="Interval width", tickformat=".0%",
                     rangemode="tozero")
    return finish(fig, title=title, height=height,
                   legend=dict(orientation="h", yanchor="top", y=-0.2, x=0.0))
