"""Confidence intervals of an accuracy: three intervals side by side per method, and how their
widths shrink with the number of test rows."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from uqviz.metrics.classification import AccuracyIntervals
from uqviz.plots.theme import DIAGONAL_COLOR, MUTED_COLOR, _finish, method_color, method_label

__all__ = ["INTERVAL_KINDS", "interval_comparison_figure", "interval_width_figure"]

# kind -> (label, marker symbol, line dash)
INTERVAL_KINDS: dict[str, tuple[str, str, str]] = {
    "wald": ("Normal approx. (Wald)", "diamond", "dash"),
    "wilson": ("Wilson", "circle", "solid"),
    "bootstrap": ("Percentile bootstrap", "square", "dot"),
}


def _row(intervals: AccuracyIntervals, size: int) -> int:
    hit = np.flatnonzero(intervals.sizes == size)
    if hit.size == 0:
        raise ValueError(f"no subsample of {size} rows; sizes: {intervals.sizes.tolist()}")
    return int(hit[0])


def _bounds(intervals: AccuracyIntervals, kind: str, j: int) -> tuple[float, float]:
    # the Wald interval is drawn unclipped, so that leaving [0, 1] shows
    iv = {"wald": intervals.wald_unclipped, "wilson": intervals.wilson,
          "bootstrap": intervals.bootstrap}[kind]
    return float(iv[j, 0]), float(iv[j, 1])


def interval_comparison_figure(
    intervals: Mapping[str, AccuracyIntervals],
    size: int,
    *,
    title: str | None = None,
    height: int | None = None,
) -> go.Figure:
    """For each method, the accuracy on ``size`` test rows with its three intervals, one row
    each (Wald drawn unclipped; a vertical line marks 100%).

    Args:
        intervals: ``{method: AccuracyIntervals}``, each holding a subsample of ``size`` rows.
        size: the subsample to show.
        title: figure title (default names ``size``).
        height: px (default grows with the number of rows).
    """
    if not intervals:
        raise ValueError("interval_comparison_figure needs at least one method, got none")
    fig = go.Figure()
    rows: list[str] = []
    for method, iv in intervals.items():
        j = _row(iv, size)
        acc = float(iv.accuracy[j])
        color = method_color(method)
        for kind, (label, symbol, _) in INTERVAL_KINDS.items():
            lo, hi = _bounds(iv, kind, j)
            row = f"{method_label(method)} · {label}"
            rows.append(row)
            fig.add_trace(go.Scatter(
                x=[acc], y=[row], mode="markers", showlegend=False,
                marker=dict(color=color, size=10, symbol=symbol),
                error_x=dict(type="data", symmetric=False, array=[hi - acc],
                             arrayminus=[acc - lo], color=color, thickness=2.5, width=6),
                hovertemplate=(f"{method_label(method)}, {label}<br>accuracy {acc:.1%} "
                               f"[{lo:.1%}, {hi:.1%}]<br>width {hi - lo:.1%}<extra></extra>")))
    fig.add_vline(x=1.0, line=dict(color=DIAGONAL_COLOR, dash="dot", width=1.5),
                  annotation_text="100%", annotation_position="top")
    lows = [_bounds(iv, k, _row(iv, size))[0] for iv in intervals.values() for k in INTERVAL_KINDS]
    fine = min(lows) > 0.9  # whole-percent ticks would repeat (98%, 98%, 99%)
    fig.update_xaxes(title_text=f"Accuracy on {size:,} test rows, with 95% intervals",
                     tickformat=".1%" if fine else ".0%")
    fig.update_yaxes(categoryorder="array", categoryarray=rows[::-1], title_text=None)
    return _finish(fig, title=title, height=height or 90 + 34 * len(rows), showlegend=False,
                   margin=dict(l=16, r=24, t=48 if title else 28, b=56))


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
    return _finish(fig, title=title, height=height,
                   legend=dict(orientation="h", yanchor="top", y=-0.2, x=0.0))
