"""The active-learning curve: test accuracy against the number of labels, one line per
acquisition strategy with its band over seeds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import plotly.graph_objects as go

from uqviz.plots.theme import ACCENT, METHOD_COLORS, MUTED_COLOR, finish, hex_to_rgba

if TYPE_CHECKING:
    from uqviz.teaching.active import LearningCurve

__all__ = ["STRATEGY_COLORS", "active_learning_figure"]

# random is the grey baseline; BALD shares MC dropout's colour (it samples MC dropout)
STRATEGY_COLORS: dict[str, str] = {
    "random": MUTED_COLOR,
    "entropy": "#0072B2",
    "margin": "#D55E00",
    "bald": METHOD_COLORS.get("mc_dropout", ACCENT),
}


def active_learning_figure(
    curves: Mapping[str, LearningCurve],
    *,
    mark_labels: int | None = None,
    title: str | None = "Test accuracy as labels are acquired",
    height: int = 440,
) -> go.Figure:
    """Mean accuracy per strategy (line and markers) with a shaded band (mean ± 1 SD).

    Args:
        curves: ``{strategy: LearningCurve}`` (see ``uqviz.teaching.active``).
        mark_labels: draw a dotted vertical line at this number of labels.
        title: figure title.
        height: figure height in px.
    """
    if not curves:
        raise ValueError("active_learning_figure needs at least one strategy, got none")
    fig = go.Figure()
    for strategy, curve in curves.items():
        color = STRATEGY_COLORS.get(strategy, ACCENT)
        name = curve.label
        seeds = curve.accuracy.shape[0]
        if seeds > 1:
            fig.add_trace(go.Scatter(x=curve.n_labels, y=curve.upper, mode="lines",
                                     line=dict(width=0), hoverinfo="skip", showlegend=False,
                                     legendgroup=strategy))
            fig.add_trace(go.Scatter(x=curve.n_labels, y=curve.lower, mode="lines",
                                     line=dict(width=0), fill="tonexty",
                                     fillcolor=hex_to_rgba(color, 0.16), hoverinfo="skip",
                                     showlegend=False, legendgroup=strategy))
        fig.add_trace(go.Scatter(
            x=curve.n_labels, y=curve.mean, mode="lines+markers", name=name,
            legendgroup=strategy, line=dict(color=color, width=2.5),
            marker=dict(color=color, size=5),
            hovertemplate=f"{name}<br>%{{x}} labels<br>mean accuracy %{{y:.1%}} "
                          f"over {seeds} seed(s)<extra></extra>"))
    if mark_labels is not None:
        fig.add_vline(x=mark_labels, line=dict(color=MUTED_COLOR, dash="dot", width=1.5),
                      annotation_text=f"{mark_labels} labels", annotation_position="bottom right")
    fig.update_xaxes(title_text="Labelled images")
    fig.update_yaxes(title_text="Test accuracy", tickformat=".0%")
    return finish(fig, title=title, height=height,
                   legend=dict(orientation="h", yanchor="top", y=-0.18, x=0.0),
                   hovermode="x unified")
