"""Conformal prediction: empirical coverage and mean set size against the target ``1 − α``,
and how many classes each prediction set holds (``uqviz.conformal`` results in)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from uqviz.plots.theme import (
    ACCENT,
    CORRECT_COLOR,
    DIAGONAL_LINE,
    MUTED_COLOR,
    TEXT_COLOR,
    TOP_LEFT_LEGEND,
    WRONG_COLOR,
    finish,
    hex_to_rgba,
    rate_axis,
    vector,
)

if TYPE_CHECKING:
    from uqviz.conformal import AverageCoverage, ClassCoverage, ConformalCurve

__all__ = ["class_coverage_figure", "conformal_curve_figure", "coverage_vs_alpha_figure",
           "set_size_histogram_figure"]

BELOW_LEGEND = dict(orientation="h", x=0.0, y=-0.2, xanchor="left", yanchor="top")


def coverage_vs_alpha_figure(
    alpha,
    coverage,
    mean_set_size,
    *,
    coverage_low=None,
    coverage_high=None,
    title: str | None = "Conformal sets: coverage and size against the target",
    height: int = 400,
) -> go.Figure:
    """Left: empirical coverage against the target ``1 − α`` with the diagonal; right: the
    mean set size against ``1 − α``.

    Args:
        alpha: (K,) miscoverage levels in (0, 1).
        coverage: (K,) empirical test coverage.
        mean_set_size: (K,) mean number of classes per set.
        coverage_low, coverage_high: optional (K,) interval of the coverage, drawn as a band.
        title: figure title.
        height: figure height in px.
    """
    alpha = vector("alpha", alpha)
    coverage = vector("coverage", coverage)
    size = vector("mean_set_size", mean_set_size)
    if alpha.size == 0:
        raise ValueError("alpha is empty")
    if coverage.shape != alpha.shape or size.shape != alpha.shape:
        raise ValueError(f"alpha, coverage and mean_set_size must have equal length, got "
                         f"{alpha.size}, {coverage.size} and {size.size}")
    has_band = coverage_low is not None and coverage_high is not None
    if has_band:
        coverage_low = vector("coverage_low", coverage_low)
        coverage_high = vector("coverage_high", coverage_high)
        if coverage_low.shape != alpha.shape or coverage_high.shape != alpha.shape:
            raise ValueError(f"coverage_low and coverage_high must have {alpha.size} entries")
    order = np.argsort(1.0 - alpha, kind="stable")
    target = (1.0 - alpha)[order]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.14,
                        subplot_titles=("Coverage", "Mean set size"))
    if has_band:
        fig.add_trace(go.Scatter(x=target, y=coverage_high[order], mode="lines",
                                 line=dict(width=0), hoverinfo="skip", showlegend=False),
                      row=1, col=1)
        fig.add_trace(go.Scatter(x=target, y=coverage_low[order], mode="lines",
                                 line=dict(width=0), fill="tonexty",
                                 fillcolor=hex_to_rgba(ACCENT, 0.18), name="95% interval",
                                 hoverinfo="skip"),
                      row=1, col=1)
    ends = [float(target[0]), float(target[-1])]
    fig.add_trace(go.Scatter(x=ends, y=ends, mode="lines", name="Target: coverage = 1 − α",
                             line=DIAGONAL_LINE, hoverinfo="skip"), row=1, col=1)
    fig.add_trace(
        go.Scatter(x=target, y=coverage[order], mode="lines+markers", name="Empirical coverage",
                   line=dict(color=ACCENT, width=2.5), marker=dict(color=ACCENT, size=6),
                   hovertemplate="Target %{x:.1%}<br>Coverage %{y:.2%}<extra></extra>"),
        row=1, col=1,
    )
    fig.add_trace(
        go.Scatter(x=target, y=size[order], mode="lines+markers", name="Mean set size",
                   showlegend=False,
                   line=dict(color=TEXT_COLOR, width=2.5), marker=dict(color=TEXT_COLOR, size=6),
                   hovertemplate="Target %{x:.1%}<br>Mean set size %{y:.2f}<extra></extra>"),
        row=1, col=2,
    )
    fig.update_xaxes(title_text="Target coverage 1 − α", **rate_axis(target))
    band = [coverage_low, coverage_high] if has_band else []
    fig.update_yaxes(title_text="Empirical test coverage",
                     **rate_axis(np.concatenate([coverage, target, *band])), row=1, col=1)
    fig.update_yaxes(title_text="Mean classes per set", rangemode="tozero", row=1, col=2)
    return finish(fig, title=title, height=height, legend=TOP_LEFT_LEGEND)


def conformal_curve_figure(curve: ConformalCurve, *, title: str | None = None,
                           height: int = 400, average: AverageCoverage | None = None,
                           marked_alpha: float | None = None,
                           legend_below: bool = False) -> go.Figure:
    """``coverage_vs_alpha_figure`` of a ``uqviz.conformal.ConformalCurve``, with its interval.

    Args:
        curve: coverage and set size against α on one split (``ConformalSplit.curve``).
        title: default names the score.
        height: figure height in px.
        average: the coverage averaged over many splits (``uqviz.conformal.AverageCoverage``,
            ``ConformalSplit.draws``), drawn as a second line on the coverage panel, named
            "Average of N splits".
        marked_alpha: a dotted vertical line at ``1 − marked_alpha`` on both panels.
        legend_below: the legend in one row under the panels (for a wide, short figure).
    """
    fig = coverage_vs_alpha_figure(
        curve.alpha, curve.coverage, curve.mean_set_size, coverage_low=curve.coverage_low,
        coverage_high=curve.coverage_high, height=height,
        title=title or f"Conformal sets ({curve.score.upper()}): coverage and size "
                       "against the target",
    )
    targets = [1.0 - np.asarray(curve.alpha, dtype=np.float64)]
    shown = [curve.coverage, curve.coverage_low, curve.coverage_high, targets[0]]
    if average is not None:
        shown.append(average.coverage)
        targets.append(1.0 - np.asarray(average.alpha, dtype=np.float64))
        order = np.argsort(1.0 - average.alpha, kind="stable")
        fig.add_trace(go.Scatter(
            x=(1.0 - average.alpha)[order], y=average.coverage[order], mode="lines",
            name=f"Average of {average.n_draws} splits", line=dict(color=CORRECT_COLOR, width=2),
            hovertemplate="Target %{x:.1%}<br>Mean coverage %{y:.2%}<extra></extra>"),
            row=1, col=1)
    if marked_alpha is not None:
        fig.add_vline(x=1.0 - float(marked_alpha), line=dict(color=MUTED_COLOR, dash="dot"),
                      row="all", col="all")
        targets.append(np.array([1.0 - float(marked_alpha)]))
    fig.update_xaxes(**rate_axis(np.concatenate(targets)))
    fig.update_yaxes(**rate_axis(np.concatenate([np.ravel(np.asarray(v, dtype=np.float64))
                                                 for v in shown if v is not None])),
                     row=1, col=1)
    if legend_below:
        fig.update_layout(legend=BELOW_LEGEND)
    return fig


def class_coverage_figure(coverage: ClassCoverage, class_names, *,
                          title: str | None = "Coverage per true class",
                          height: int = 340) -> go.Figure:
    """Coverage per true class with 95% Wilson whiskers and the target ``1 − α`` as a dashed
    line.

    Args:
        coverage: ``uqviz.conformal.class_coverage`` of one split.
        class_names: (C,) names of the classes, in class order.
        title: figure title.
        height: figure height in px.
    """
    names = list(class_names)
    value = vector("coverage", coverage.coverage)
    if value.size != len(names):
        raise ValueError(f"{value.size} classes of coverage for {len(names)} class names")
    fig = go.Figure(go.Bar(
        x=names, y=value, marker_color=ACCENT, customdata=coverage.counts,
        error_y=dict(type="data", symmetric=False, array=coverage.high - value,
                     arrayminus=value - coverage.low, color=MUTED_COLOR),
        hovertemplate="Class %{x}: %{y:.1%} of %{customdata} images<extra></extra>"))
    fig.add_hline(y=coverage.target, line=dict(color=WRONG_COLOR, dash="dash", width=2))
    fig.update_xaxes(title_text="True class", type="category")
    fig.update_yaxes(title_text="Share of its images covered", **rate_axis(full=True))
    return finish(fig, title=title, height=height, showlegend=False)


def set_size_histogram_figure(
    set_sizes,
    *,
    num_classes: int | None = None,
    title: str | None = "How many classes each prediction set holds",
    height: int = 340,
) -> go.Figure:
    """Share of test rows per prediction-set size, one bar per size 0, 1, 2, ….

    Args:
        set_sizes: (N,) ints >= 0, e.g. ``ConformalResult.set_sizes``.
        num_classes: C, to extend the x axis to every possible size.
        title: figure title.
        height: figure height in px.
    """
    sizes = np.asarray(set_sizes)
    if sizes.ndim != 1:
        raise ValueError(f"set_sizes must be 1-D, got shape {sizes.shape}")
    if sizes.size and not np.issubdtype(sizes.dtype, np.integer):
        raise ValueError(f"set_sizes must be integers, got dtype {sizes.dtype}")
    if sizes.size and sizes.min() < 0:
        raise ValueError(f"set_sizes must be >= 0, found {sizes.min()}")
    largest = int(num_classes) if num_classes is not None else int(sizes.max(initial=1))
    fig = go.Figure(
        go.Histogram(
            x=sizes.astype(np.int32), histnorm="probability",
            xbins=dict(start=-0.5, end=largest + 0.5, size=1),
            marker=dict(color=ACCENT, line=dict(color="#FFFFFF", width=1)),
            hovertemplate="Set size %{x}<br>Share of rows %{y:.1%}<extra></extra>",
            name="Set size",
        )
    )
    fig.update_xaxes(title_text="Classes in the prediction set", range=[-0.5, largest + 0.5],
                     dtick=1 if largest <= 20 else None)
    shares = np.bincount(sizes.astype(np.int64), minlength=largest + 1) / max(sizes.size, 1)
    fig.update_yaxes(title_text="Share of test rows", **rate_axis(shares, from_zero=True))
    return finish(fig, title=title, height=height, showlegend=False)
