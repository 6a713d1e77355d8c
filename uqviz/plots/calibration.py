"""Reliability diagrams: one method's accuracy per confidence bin against the diagonal, and
every method's reliability curve on one diagram (``uqviz.metrics.reliability_bins`` in)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from uqviz.metrics.calibration import ReliabilityBins
from uqviz.plots.theme import (
    DIAGONAL_LINE,
    MUTED_COLOR,
    TOP_LEFT_LEGEND,
    WRONG_COLOR,
    check_nonempty,
    finish,
    hex_to_rgba,
    method_color,
    method_label,
    rate_axis,
)

__all__ = ["reliability_figure", "reliability_overlay_figure"]

MIN_BAR_WIDTH = 0.006
BELOW_LEGEND = dict(orientation="h", x=0.0, y=-0.2, xanchor="left", yanchor="top")


def _ece_name(bins: ReliabilityBins) -> str:
    return "adaptive ECE" if bins.strategy == "quantile" else "ECE"


def reliability_figure(
    bins: ReliabilityBins, *, method: str, title: str | None = None, height: int = 540
) -> go.Figure:
    """Reliability diagram of one method: accuracy per confidence bin against the diagonal.

    Row 1: a bar per bin at height ``bins.accuracy`` (method colour), a hatched gap bar from
    the accuracy to the mean confidence (``bins.gap``; above the bar = overconfident), and the
    dashed diagonal of perfect calibration. Row 2 (shared x): ``bins.count`` rows per bin.
    The title carries the ECE (``bins.ece``; "adaptive ECE" for quantile bins).

    Args:
        bins: from ``uqviz.metrics.reliability_bins``.
        method: method id, for the colour and the label.
        title: title text; " · ECE 0.034" is appended. Default: the method's label.
        height: figure height in px.
    """
    label = method_label(method)
    color = method_color(method)
    lower = np.asarray(bins.lower, dtype=np.float64)
    upper = np.asarray(bins.upper, dtype=np.float64)
    centre = (lower + upper) / 2.0
    width = np.maximum(upper - lower, MIN_BAR_WIDTH)
    customdata = np.column_stack(
        [lower, upper, bins.count, bins.confidence, bins.accuracy, bins.gap]
    )
    hover = (
        "Confidence %{customdata[0]:.3f}–%{customdata[1]:.3f}<br>"
        "Rows: %{customdata[2]:,}<br>"
        "Accuracy: %{customdata[4]:.3f}<br>"
        "Mean confidence: %{customdata[3]:.3f}<br>"
        "Gap (confidence − accuracy): %{customdata[5]:+.3f}"
        f"<extra>{label}</extra>"
    )
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.76, 0.24], vertical_spacing=0.05
    )
    fig.add_trace(
        go.Bar(x=centre, y=bins.accuracy, width=width, name="Accuracy in bin",
               marker=dict(color=color, line=dict(color="#FFFFFF", width=1)),
               customdata=customdata, hovertemplate=hover),
        row=1, col=1,
    )
    fig.add_trace(
        go.Bar(x=centre, y=bins.gap, base=bins.accuracy, width=width,
               name="Gap to confidence",
               marker=dict(color=hex_to_rgba(WRONG_COLOR, 0.18),
                           line=dict(color=WRONG_COLOR, width=1),
                           pattern=dict(shape="/", fgcolor=WRONG_COLOR, size=6, solidity=0.2)),
               customdata=customdata, hovertemplate=hover),
        row=1, col=1,
    )
    fig.add_trace(
        go.Scatter(x=[0.0, 1.0], y=[0.0, 1.0], mode="lines", name="Perfect calibration",
                   line=DIAGONAL_LINE, hoverinfo="skip"),
        row=1, col=1,
    )
    fig.add_trace(
        go.Bar(x=centre, y=bins.count, width=width, name="Rows in bin", showlegend=False,
               marker=dict(color=MUTED_COLOR),
               customdata=customdata,
               hovertemplate=("Confidence %{customdata[0]:.3f}–%{customdata[1]:.3f}<br>"
                              "Rows: %{y:,}<extra></extra>")),
        row=2, col=1,
    )
    fig.update_xaxes(**rate_axis(full=True, percent=False))
    fig.update_xaxes(title_text="Confidence (probability of the predicted class)", row=2, col=1)
    fig.update_yaxes(title_text="Accuracy", **rate_axis(full=True, percent=False), row=1, col=1)
    fig.update_yaxes(title_text="Rows", rangemode="tozero", row=2, col=1)
    base = title or label
    return finish(fig, title=f"{base} · {_ece_name(bins)} {bins.ece:.3f}", height=height,
                   barmode="overlay", legend=BELOW_LEGEND, margin=dict(b=110))


def reliability_overlay_figure(
    bins_by_method: Mapping[str, ReliabilityBins],
    *,
    title: str | None = "Reliability of every method",
    height: int = 480,
) -> go.Figure:
    """Reliability curves of several methods on one diagram, with the diagonal.

    One line with markers per method at (``bins.confidence``, ``bins.accuracy``) in the
    method's colour (empty bins skipped by ``connectgaps``); the legend shows each ECE.

    Args:
        bins_by_method: method id -> ``ReliabilityBins``.
        title: figure title.
        height: figure height in px.
    """
    check_nonempty("reliability_overlay_figure", bins_by_method)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=[0.0, 1.0], y=[0.0, 1.0], mode="lines", name="Perfect calibration",
                   line=DIAGONAL_LINE, hoverinfo="skip")
    )
    for method, bins in bins_by_method.items():
        label = method_label(method)
        customdata = np.column_stack([bins.lower, bins.upper, bins.count, bins.gap])
        fig.add_trace(
            go.Scatter(
                x=bins.confidence, y=bins.accuracy, mode="lines+markers", connectgaps=True,
                cliponaxis=False,
                name=f"{label} ({_ece_name(bins)} {bins.ece:.3f})",
                line=dict(color=method_color(method), width=2.5),
                marker=dict(color=method_color(method), size=7),
                customdata=customdata,
                hovertemplate=(
                    "Confidence %{customdata[0]:.3f}–%{customdata[1]:.3f}<br>"
                    "Rows: %{customdata[2]:,}<br>Mean confidence: %{x:.3f}<br>"
                    "Accuracy: %{y:.3f}<br>Gap: %{customdata[3]:+.3f}"
                    f"<extra>{label}</extra>"
                ),
            )
        )
    fig.update_xaxes(title_text="Mean confidence in bin", **rate_axis(full=True, percent=False))
    fig.update_yaxes(title_text="Accuracy in bin", **rate_axis(full=True, percent=False))
    return finish(fig, title=title, height=height, legend=TOP_LEFT_LEGEND)
