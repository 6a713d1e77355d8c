"""Figures of the Learn pages: the 1-D ensemble, two moons and aleatoric vs epistemic.

Builders draw results computed in ``uqviz.teaching`` (and maps computed by the backend); they
compute nothing. Methods keep their colours from ``uqviz.plots.theme``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from uqviz.plots.theme import (
    ACCENT,
    GRID_COLOR,
    MUTED_COLOR,
    OUT_OF_DISTRIBUTION_COLOR,
    TEXT_COLOR,
    WRONG_COLOR,
    finish,
    hex_to_rgba,
    method_color,
    method_label,
)

if TYPE_CHECKING:
    from uqviz.teaching.decomposition import Decomposition, ToyResult
    from uqviz.teaching.regression1d import EnsembleFit1D

__all__ = [
    "ALEATORIC_COLOR",
    "EPISTEMIC_COLOR",
    "TEACHING_METHODS",
    "decomposition_figure",
    "ensemble_1d_figure",
    "four_settings_figure",
    "moons_figure",
    "toy_figure",
]

ALEATORIC_COLOR = ACCENT
EPISTEMIC_COLOR = OUT_OF_DISTRIBUTION_COLOR
NO_DATA_FILL = "rgba(134,142,150,0.10)"
PROBABILITY_SCALE = [[0.0, "#1C7ED6"], [0.5, "#FFFFFF"], [1.0, "#E8590C"]]
UNCERTAINTY_SCALE = [[0.0, "#FFFFFF"], [0.35, "#D0BFFF"], [1.0, "#2B1A6B"]]
CLASS_COLORS = ("#1C7ED6", "#E8590C")
TEACHING_METHODS: dict[str, tuple[str, str]] = {"sngp": ("SNGP", "#0072B2")}
"""Models of the Learn pages only, not in the method registry: id -> (label, colour)."""


def _method_label(method: str) -> str:
    return TEACHING_METHODS[method][0] if method in TEACHING_METHODS else method_label(method)


def _method_color(method: str) -> str:
    return TEACHING_METHODS[method][1] if method in TEACHING_METHODS else method_color(method)


def _fit_color(fit: EnsembleFit1D) -> str:
    prior = fit.settings.prior != "none" and fit.settings.beta > 0
    return method_color("prior_ensemble" if prior else "deep_ensemble")


def _no_data_regions(fig: go.Figure, fit: EnsembleFit1D, **where) -> None:
    (a, b), (c, d) = fit.data.support
    lo, hi = fit.data.domain
    for x0, x1 in ((lo, a), (b, c), (d, hi)):
        fig.add_vrect(x0=x0, x1=x1, fillcolor=NO_DATA_FILL, line_width=0, layer="below", **where)


def _ensemble_traces(fit: EnsembleFit1D, *, show_members: bool, legend: bool
                     ) -> list[go.Scatter]:
    color = _fit_color(fit)
    x = fit.x_grid
    traces: list[go.Scatter] = [
        go.Scatter(x=np.concatenate([x, x[::-1]]),
                   y=np.concatenate([fit.mean + 2 * fit.std, (fit.mean - 2 * fit.std)[::-1]]),
                   fill="toself", fillcolor=hex_to_rgba(color, 0.18), line=dict(width=0),
                   hoverinfo="skip", name="mean ± 2σ", showlegend=legend, legendgroup="band"),
    ]
    if show_members:
        for k, curve in enumerate(fit.members):
            traces.append(go.Scatter(x=x, y=curve, mode="lines",
                                     line=dict(color=hex_to_rgba(color, 0.45), width=1),
                                     name="each member", showlegend=legend and k == 0,
                                     legendgroup="members", hoverinfo="skip"))
    traces.append(go.Scatter(x=x, y=fit.mean, mode="lines", line=dict(color=color, width=3),
                             name="ensemble mean", showlegend=legend, legendgroup="mean"))
    traces.append(go.Scatter(x=fit.data.x, y=fit.data.y, mode="markers",
                             marker=dict(color=TEXT_COLOR, size=6), name="training data",
                             showlegend=legend, legendgroup="data"))
    return traces


def ensemble_1d_figure(fit: EnsembleFit1D, *, show_members: bool = True,
                       title: str | None = None, height: int = 460) -> go.Figure:
    """The ensemble's members, mean and ±2σ band over x, training points on top; grey bands
    mark where there is no data (the gap and beyond both ends).

    Args:
        fit: a trained ensemble (``uqviz.teaching.regression1d.fit_ensemble_1d``).
        show_members: draw each member's curve.
        title: figure title.
        height: pixels.
    """
    fig = go.Figure(_ensemble_traces(fit, show_members=show_members, legend=True))
    _no_data_regions(fig, fit)
    fig.update_xaxes(title_text="x", range=list(fit.data.domain))
    fig.update_yaxes(title_text="y", range=[-5, 5])
    return finish(fig, title=title, height=height,
                   legend=dict(orientation="h", x=0, y=-0.18, xanchor="left", yanchor="top"))


def four_settings_figure(fits: Sequence[tuple[str, EnsembleFit1D]], *, show_members: bool = True,
                         height: int = 360) -> go.Figure:
    """The four ensembles of the randomized-prior material side by side, on shared axes.

    Args:
        fits: (panel title, fit) pairs, one panel each, left to right.
        show_members: draw each member's curve.
        height: pixels.
    """
    if not fits:
        raise ValueError("four_settings_figure needs at least one fit, got none")
    fig = make_subplots(rows=1, cols=len(fits), shared_yaxes=True, horizontal_spacing=0.025,
                        subplot_titles=[t for t, _ in fits])
    for col, (_, fit) in enumerate(fits, start=1):
        for trace in _ensemble_traces(fit, show_members=show_members, legend=col == 1):
            fig.add_trace(trace, row=1, col=col)
        _no_data_regions(fig, fit, row=1, col=col)
        fig.update_xaxes(title_text="x", range=list(fit.data.domain), row=1, col=col)
    fig.update_yaxes(title_text="y", range=[-5, 5], row=1, col=1)
    fig.update_yaxes(range=[-5, 5])
    return finish(fig, title=None, height=height, margin=dict(l=56, r=16, t=40, b=48),
                   legend=dict(orientation="h", x=0, y=-0.25, xanchor="left", yanchor="top"))


def moons_figure(rows: Sequence[tuple[str, Mapping[str, np.ndarray]]], grid_x: np.ndarray,
                 grid_y: np.ndarray, x: np.ndarray, y: np.ndarray, *,
                 zmax: Sequence[float] | None = None, height_per_row: int = 260) -> go.Figure:
    """Heatmaps over the plane: one row per quantity, one column per method, training points
    overlaid (coloured by class).

    Args:
        rows: (row label, {method: (Gy, Gx) map}) pairs; the first row whose label starts with
            "P(" uses a blue–white–orange scale on [0, 1], the others white to violet.
        grid_x: (Gx,) and grid_y: (Gy,) grid coordinates.
        x: (N, 2) training inputs; y: (N,) labels 0/1.
        zmax: per row, the top of the colour scale (None: the row's maximum).
        height_per_row: pixels per row.
    """
    if not rows:
        raise ValueError("moons_figure needs at least one row, got none")
    methods = list(rows[0][1])
    n_rows, n_cols = len(rows), len(methods)
    fig = make_subplots(rows=n_rows, cols=n_cols, shared_xaxes=True, shared_yaxes=True,
                        horizontal_spacing=0.012, vertical_spacing=0.045,
                        column_titles=[_method_label(m) for m in methods],
                        row_titles=[label for label, _ in rows])
    for r, (label, maps) in enumerate(rows, start=1):
        probability = label.startswith("P(")
        top = 1.0 if probability else (zmax[r - 1] if zmax is not None else
                                       max(float(np.max(v)) for v in maps.values()) or 1.0)
        bar_y = 1 - (r - 0.5) / n_rows
        for c, method in enumerate(methods, start=1):
            fig.add_trace(go.Heatmap(
                x=grid_x, y=grid_y, z=maps[method], zmin=0.0, zmax=top,
                colorscale=PROBABILITY_SCALE if probability else UNCERTAINTY_SCALE,
                showscale=c == n_cols,
                colorbar=dict(len=0.9 / n_rows, y=bar_y, thickness=12, x=1.06),
                hovertemplate=f"x=%{{x:.2f}}<br>y=%{{y:.2f}}<br>{label}=%{{z:.3f}}"
                              "<extra>" + _method_label(method) + "</extra>",
            ), row=r, col=c)
            for cls in (0, 1):
                pts = x[y == cls]
                fig.add_trace(go.Scatter(
                    x=pts[:, 0], y=pts[:, 1], mode="markers", hoverinfo="skip",
                    marker=dict(size=4, color=CLASS_COLORS[cls], line=dict(width=0.5,
                                                                           color="#FFFFFF")),
                    name=f"class {cls}", showlegend=r == 1 and c == 1, legendgroup=f"c{cls}",
                ), row=r, col=c)
    for c, method in enumerate(methods):
        fig.layout.annotations[c].font = dict(color=_method_color(method), size=15)
    fig.update_xaxes(range=[float(grid_x[0]), float(grid_x[-1])], showgrid=False,
                     constrain="domain")
    fig.update_yaxes(range=[float(grid_y[0]), float(grid_y[-1])], showgrid=False)
    return finish(fig, title=None, height=height_per_row * n_rows + 80,
                   margin=dict(l=40, r=90, t=40, b=40),
                   legend=dict(orientation="h", x=0, y=-0.04, xanchor="left", yanchor="top"))


def decomposition_figure(dec: Decomposition, *, height: int = 340) -> go.Figure:
    """Left: each member's probability of class 1 and their mean. Right: one bar of total
    entropy split into expected entropy (aleatoric) and mutual information (epistemic), and
    the ceiling log 2.

    Args:
        dec: a two-class ``Decomposition`` (``uqviz.teaching.decomposition.decompose``).
        height: pixels.
    """
    fig = make_subplots(rows=1, cols=2, column_widths=[0.55, 0.45], horizontal_spacing=0.14,
                        subplot_titles=["What the members say", "Entropy, split in two (nats)"])
    names = [f"member {i + 1}" for i in range(len(dec.member_probs))] + ["average p̄"]
    values = [*dec.member_probs[:, 1], dec.mean_probs[1]]
    colors = [hex_to_rgba(method_color("deep_ensemble"), 0.55)] * len(dec.member_probs) + [
        method_color("deep_ensemble")]
    fig.add_trace(go.Bar(x=names, y=values, marker_color=colors, showlegend=False,
                         text=[f"{v:.2f}" for v in values], textposition="outside",
                         hovertemplate="%{x}: P(class 1) = %{y:.3f}<extra></extra>"), row=1, col=1)
    fig.update_yaxes(title_text="P(class 1)", range=[0, 1.15], row=1, col=1)
    for value, name, color in ((dec.aleatoric, "Expected entropy (aleatoric)", ALEATORIC_COLOR),
                               (dec.epistemic, "Mutual information (epistemic)",
                                EPISTEMIC_COLOR)):
        fig.add_trace(go.Bar(x=["total entropy"], y=[value], name=name, marker_color=color,
                             text=[f"{value:.3f}"], textposition="inside",
                             hovertemplate=f"{name}: %{{y:.3f}} nats<extra></extra>"),
                      row=1, col=2)
    fig.add_hline(y=float(np.log(2)), line=dict(color=MUTED_COLOR, dash="dot"), row=1, col=2,
                  annotation_text="log 2: a coin flip", annotation_position="top left")
    fig.update_yaxes(title_text="nats", range=[0, 0.8], row=1, col=2)
    return finish(fig, title=None, height=height, barmode="stack",
                   margin=dict(l=56, r=16, t=40, b=40),
                   legend=dict(orientation="h", x=0.56, y=-0.12, xanchor="left", yanchor="top",
                               traceorder="normal"))


def toy_figure(result: ToyResult, *, height: int = 520) -> go.Figure:
    """Top: the training labels (flipped ones in red) and each member's P(class 1) along x.
    Bottom: total entropy as stacked areas, expected entropy (aleatoric) under mutual
    information (epistemic). The noisy-label block is shaded.

    Args:
        result: from ``uqviz.teaching.decomposition.aleatoric_epistemic_toy``.
        height: pixels.
    """
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        row_heights=[0.5, 0.5])
    color = method_color("prior_ensemble")
    xg = result.x_grid
    for k, member in enumerate(result.probs[:, :, 1]):
        fig.add_trace(go.Scatter(x=xg, y=member, mode="lines",
                                 line=dict(color=hex_to_rgba(color, 0.5), width=1),
                                 name="each member's P(class 1)", showlegend=k == 0,
                                 legendgroup="members", hoverinfo="skip"), row=1, col=1)
    for flipped, name, mcolor in ((False, "training label", MUTED_COLOR),
                                  (True, "flipped label (noise)", WRONG_COLOR)):
        keep = result.flipped == flipped
        fig.add_trace(go.Scatter(x=result.x[keep], y=result.y[keep], mode="markers",
                                 marker=dict(color=mcolor, size=7, symbol="line-ns-open",
                                             line=dict(width=2, color=mcolor)),
                                 name=name), row=1, col=1)
    fig.add_trace(go.Scatter(x=xg, y=result.aleatoric, mode="lines", stackgroup="h",
                             line=dict(color=ALEATORIC_COLOR, width=0.5),
                             fillcolor=hex_to_rgba(ALEATORIC_COLOR, 0.6),
                             name="expected entropy (aleatoric)"), row=2, col=1)
    fig.add_trace(go.Scatter(x=xg, y=result.epistemic, mode="lines", stackgroup="h",
                             line=dict(color=EPISTEMIC_COLOR, width=0.5),
                             fillcolor=hex_to_rgba(EPISTEMIC_COLOR, 0.6),
                             name="mutual information (epistemic)"), row=2, col=1)
    lo, hi = result.settings.NOISY
    for row in (1, 2):
        fig.add_vrect(x0=lo, x1=hi, fillcolor=hex_to_rgba(WRONG_COLOR, 0.07), line_width=0,
                      layer="below", row=row, col=1)
        for edge in result.settings.DATA:
            fig.add_vline(x=edge, line=dict(color=GRID_COLOR, dash="dot"), row=row, col=1)
    fig.add_annotation(x=(lo + hi) / 2, y=1.12, xref="x", yref="y", text="noisy labels",
                       showarrow=False, font=dict(color=WRONG_COLOR, size=12))
    fig.update_yaxes(title_text="P(class 1)", range=[-0.08, 1.2], row=1, col=1)
    fig.update_yaxes(title_text="nats", range=[0, 0.75], row=2, col=1)
    fig.update_xaxes(title_text="x", row=2, col=1)
    return finish(fig, title=None, height=height, margin=dict(l=56, r=16, t=24, b=40),
                   legend=dict(orientation="h", x=0, y=-0.12, xanchor="left", yanchor="top"))
