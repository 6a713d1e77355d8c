"""Plotly figure builders: analysis results in, ``go.Figure`` out.

Builders compute nothing statistical. They take the result dataclasses of ``uqviz.metrics``
and ``uqviz.conformal`` (or arrays already computed) and draw them with the ``"uqviz"``
template and one colour per method (``theme.method_color``). Display-only arithmetic is
allowed: bin centres, row shares of a confusion matrix, the mean and spread of a handful of
predictive samples, tiling images into a grid.

Heavy curves are thinned with ``uqviz.metrics.selective.downsample_curve`` to
``MAX_CURVE_POINTS`` points (ends kept), and a line with more than ``SCATTERGL_MIN_POINTS``
points is drawn with ``go.Scattergl`` (WebGL).
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from uqviz.metrics.calibration import ReliabilityBins
from uqviz.metrics.selective import (
    OneVsRestRates,
    OperatingPoint,
    ReferralCurve,
    RiskCoverageCurve,
    downsample_curve,
)
from uqviz.plots.theme import (
    ACCENT,
    CORRECT_COLOR,
    DIAGONAL_COLOR,
    IN_DISTRIBUTION_COLOR,
    MUTED_COLOR,
    OUT_OF_DISTRIBUTION_COLOR,
    SEQUENTIAL_SCALE,
    TEMPLATE,
    TEXT_COLOR,
    WRONG_COLOR,
    method_color,
    method_label,
    register_template,
)

if TYPE_CHECKING:
    from uqviz.conformal import ConformalCurve

__all__ = [
    "MAX_CURVE_POINTS",
    "SCATTERGL_MIN_POINTS",
    "box_by_severity_figure",
    "confusion_matrix_figure",
    "conformal_curve_figure",
    "coverage_vs_alpha_figure",
    "curve_trace",
    "image_grid_figure",
    "in_out_histogram_figure",
    "metric_vs_severity_figure",
    "predictive_distribution_figure",
    "referral_curve_figure",
    "reliability_figure",
    "reliability_overlay_figure",
    "risk_coverage_figure",
    "score_histogram_figure",
    "sensitivity_specificity_figure",
    "set_size_histogram_figure",
]

MAX_CURVE_POINTS = 2000
SCATTERGL_MIN_POINTS = 1000
MIN_BAR_WIDTH = 0.006
DIAGONAL_LINE = dict(color=DIAGONAL_COLOR, dash="dash", width=1.5)
BELOW_LEGEND = dict(orientation="h", x=0.0, y=-0.2, xanchor="left", yanchor="top")
TOP_LEFT_LEGEND = dict(x=0.01, y=0.99, xanchor="left", yanchor="top")
BOTTOM_RIGHT_LEGEND = dict(x=0.99, y=0.02, xanchor="right", yanchor="bottom")
ASSUMED_DISPLAY_WIDTH = 760  # px, to size image grids whose aspect ratio is fixed
CAPTION_CHAR_WIDTH = 6.5  # px per character of an 11 px caption, to truncate captions


# -- helpers -----------------------------------------------------------------------------------
def _rgba(hex_color: str, alpha: float) -> str:
    """``"#RRGGBB"`` -> ``"rgba(r,g,b,alpha)"``."""
    value = hex_color.lstrip("#")
    r, g, b = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _vector(name: str, values, *, dtype=np.float64) -> np.ndarray:
    array = np.asarray(values, dtype=dtype)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    return array


def _finish(fig: go.Figure, *, title: str | None, height: int, **layout) -> go.Figure:
    register_template()
    fig.update_layout(template=TEMPLATE, title=dict(text=title), height=height, **layout)
    return fig


def _check_nonempty(name: str, mapping: Mapping) -> None:
    if not mapping:
        raise ValueError(f"{name} needs at least one method, got none")


def curve_trace(x, y, **kwargs) -> go.Scatter | go.Scattergl:
    """A line trace: ``go.Scattergl`` above ``SCATTERGL_MIN_POINTS`` points, else ``go.Scatter``.

    Args:
        x, y: (P,) coordinates (downsample first; see ``downsample_curve``).
        **kwargs: passed to the trace (name, line, customdata, hovertemplate, ...).
    """
    trace_type = go.Scattergl if len(x) > SCATTERGL_MIN_POINTS else go.Scatter
    return trace_type(x=x, y=y, **kwargs)


# -- calibration -------------------------------------------------------------------------------
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
               marker=dict(color=_rgba(WRONG_COLOR, 0.18),
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
    fig.update_xaxes(range=[0.0, 1.0])
    fig.update_xaxes(title_text="Confidence (probability of the predicted class)", row=2, col=1)
    fig.update_yaxes(title_text="Accuracy", range=[0.0, 1.02], row=1, col=1)
    fig.update_yaxes(title_text="Rows", rangemode="tozero", row=2, col=1)
    base = title or label
    return _finish(fig, title=f"{base} · {_ece_name(bins)} {bins.ece:.3f}", height=height,
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
    _check_nonempty("reliability_overlay_figure", bins_by_method)
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
    fig.update_xaxes(title_text="Mean confidence in bin", range=[0.0, 1.0])
    fig.update_yaxes(title_text="Accuracy in bin", range=[0.0, 1.02])
    return _finish(fig, title=title, height=height, legend=TOP_LEFT_LEGEND)


# -- selective prediction and referral ---------------------------------------------------------
def risk_coverage_figure(
    curves: Mapping[str, RiskCoverageCurve],
    *,
    max_points: int = MAX_CURVE_POINTS,
    title: str | None = "Risk–coverage: error rate as uncertain rows are set aside",
    height: int = 460,
) -> go.Figure:
    """Risk–coverage curves of several methods, AURC in each legend entry.

    Each curve is downsampled to ``max_points`` (ends kept) and drawn with ``go.Scattergl``
    when it still has more than ``SCATTERGL_MIN_POINTS`` points.

    Args:
        curves: method id -> ``RiskCoverageCurve``.
        max_points: cap on the points drawn per curve.
        title: figure title.
        height: figure height in px.
    """
    _check_nonempty("risk_coverage_figure", curves)
    fig = go.Figure()
    for method, curve in curves.items():
        label = method_label(method)
        coverage, risk = downsample_curve(curve.coverage, curve.risk, max_points)
        _, threshold = downsample_curve(curve.coverage, curve.threshold, max_points)
        fig.add_trace(
            curve_trace(
                coverage, risk, mode="lines", name=f"{label} · AURC {curve.aurc:.4f}",
                line=dict(color=method_color(method), width=2.5),
                customdata=threshold,
                hovertemplate=("Coverage %{x:.1%}<br>Risk %{y:.3f}<br>"
                               "Kept if uncertainty ≤ %{customdata:.4g}"
                               f"<extra>{label}</extra>"),
            )
        )
    fig.update_xaxes(title_text="Coverage (share of rows kept, most confident first)",
                     range=[0.0, 1.0], tickformat=".0%")
    fig.update_yaxes(title_text="Selective risk (error rate of the kept rows)",
                     rangemode="tozero")
    return _finish(fig, title=title, height=height, legend=TOP_LEFT_LEGEND,
                   legend_title_text="AURC: lower is better")


def referral_curve_figure(
    curves: Mapping[str, ReferralCurve] | ReferralCurve,
    *,
    operating_point: OperatingPoint | None = None,
    method: str = "model",
    operating_method: str | None = None,
    max_points: int = MAX_CURVE_POINTS,
    title: str | None = "Accuracy as uncertain cases are referred",
    height: int = 460,
) -> go.Figure:
    """Accuracy on the retained cases against the share referred, per method.

    Solid: ``curve.accuracy_retained`` vs ``curve.referred_fraction``; dashed, same colour:
    ``curve.random_baseline`` (referring at random keeps the overall accuracy). An
    ``OperatingPoint`` is marked with a diamond, its Wilson interval as an error bar, a dotted
    vertical line and an annotation.

    Args:
        curves: method id -> ``ReferralCurve``, or one ``ReferralCurve`` (named ``method``).
        operating_point: the chosen policy, e.g. ``ReferralIndex.at_threshold(t)``.
        method: name of a single curve.
        operating_method: method the operating point belongs to (colours its marker).
        max_points: cap on the points drawn per curve.
        title: figure title.
        height: figure height in px.
    """
    if isinstance(curves, ReferralCurve):
        curves = {method: curves}
    _check_nonempty("referral_curve_figure", curves)
    fig = go.Figure()
    for name, curve in curves.items():
        label = method_label(name)
        color = method_color(name)
        referred, accuracy = downsample_curve(curve.referred_fraction, curve.accuracy_retained,
                                              max_points)
        _, baseline = downsample_curve(curve.referred_fraction, curve.random_baseline,
                                       max_points)
        fig.add_trace(
            curve_trace(referred, accuracy, mode="lines", name=label, legendgroup=name,
                        line=dict(color=color, width=2.5),
                        hovertemplate=("Referred %{x:.1%}<br>Accuracy on the rest %{y:.2%}"
                                       f"<extra>{label}</extra>"))
        )
        fig.add_trace(
            curve_trace(referred, baseline, mode="lines", name=f"{label}: random referral",
                        legendgroup=name, opacity=0.8,
                        line=dict(color=color, width=1.5, dash="dash"),
                        hovertemplate=("Referred %{x:.1%} at random<br>Accuracy %{y:.2%}"
                                       f"<extra>{label}</extra>"))
        )
    if operating_point is not None:
        _mark_operating_point(fig, operating_point, operating_method)
    fig.update_xaxes(title_text="Share of cases referred to a human", range=[0.0, 1.0],
                     tickformat=".0%")
    fig.update_yaxes(title_text="Accuracy on the automated cases", tickformat=".1%")
    return _finish(fig, title=title, height=height, legend=BOTTOM_RIGHT_LEGEND)


def _mark_operating_point(
    fig: go.Figure, point: OperatingPoint, operating_method: str | None
) -> None:
    x = float(point.referred_fraction)
    fig.add_vline(x=x, line=dict(color=MUTED_COLOR, dash="dot", width=1.5))
    accuracy = float(point.automated_accuracy)
    if math.isnan(accuracy):
        fig.add_annotation(x=x, y=1.0, yref="paper", yanchor="bottom", showarrow=False,
                           text="Every case referred: nothing automated")
        return
    lo, hi = (float(v) for v in point.automated_accuracy_ci)
    error = None
    if math.isfinite(lo) and math.isfinite(hi):
        error = dict(type="data", symmetric=False, array=[hi - accuracy],
                     arrayminus=[accuracy - lo], color=TEXT_COLOR, thickness=1.5, width=6)
    fill = method_color(operating_method) if operating_method else TEXT_COLOR
    fig.add_trace(
        go.Scatter(
            x=[x], y=[accuracy], mode="markers", name="Operating point",
            marker=dict(symbol="diamond", size=14, color=fill,
                        line=dict(color="#FFFFFF", width=2)),
            error_y=error,
            customdata=[[point.threshold, point.n_referred, point.n, lo, hi]],
            hovertemplate=(
                "Refer uncertainty > %{customdata[0]:.4g}<br>"
                "Referred %{customdata[1]:,} of %{customdata[2]:,} (%{x:.1%})<br>"
                "Accuracy on the rest %{y:.2%} "
                "(95% CI %{customdata[3]:.1%}–%{customdata[4]:.1%})<extra></extra>"
            ),
        )
    )
    text = f"Refer {x:.1%} ({point.n_referred:,} cases)<br>→ {accuracy:.1%} accurate on the rest"
    if not point.reached:
        text = "Target not reached<br>" + text
    fig.add_annotation(x=x, y=accuracy, text=text, showarrow=True, arrowhead=2,
                       ax=-70 if x > 0.6 else 70, ay=45, align="left",
                       bgcolor="rgba(255,255,255,0.9)", bordercolor=MUTED_COLOR,
                       font=dict(size=12))


# -- score distributions -----------------------------------------------------------------------
def _two_histograms(first, second, *, names, colors, score_label, title, nbins, height):
    fig = go.Figure()
    for values, name, color in zip((first, second), names, colors, strict=True):
        fig.add_trace(
            go.Histogram(
                x=values, name=f"{name} (n={values.size:,})", histnorm="probability",
                bingroup="scores", nbinsx=nbins, opacity=0.6,
                marker=dict(color=color, line=dict(color=color, width=1)),
                hovertemplate=f"{score_label} %{{x}}<br>Share %{{y:.1%}}<extra>{name}</extra>",
            )
        )
    fig.update_xaxes(title_text=score_label)
    fig.update_yaxes(title_text="Share of the rows in each group", tickformat=".0%")
    return _finish(fig, title=title, height=height, barmode="overlay",
                   legend=dict(x=0.99, y=0.99, xanchor="right", yanchor="top"))


def score_histogram_figure(
    correct_scores,
    wrong_scores,
    *,
    score_label: str,
    method: str,
    nbins: int = 40,
    title: str | None = None,
    height: int = 380,
) -> go.Figure:
    """Overlaid normalised histograms of an uncertainty score, correct vs wrong predictions.

    Both histograms share bins (``bingroup``) and show the share of their own group per bin,
    so groups of different sizes compare.

    Args:
        correct_scores: (N_correct,) score of the rows predicted right.
        wrong_scores: (N_wrong,) score of the rows predicted wrong.
        score_label: axis label, e.g. ``UNCERTAINTY_SCORES[key].label``.
        method: method id (for the title).
        nbins: about how many bins.
        title: default "<score>: correct vs wrong · <method>".
        height: figure height in px.
    """
    correct = _vector("correct_scores", correct_scores, dtype=np.float32)
    wrong = _vector("wrong_scores", wrong_scores, dtype=np.float32)
    return _two_histograms(
        correct, wrong, names=("Correct", "Wrong"), colors=(CORRECT_COLOR, WRONG_COLOR),
        score_label=score_label, nbins=nbins, height=height,
        title=title or f"{score_label}: correct vs wrong · {method_label(method)}",
    )


def in_out_histogram_figure(
    in_scores,
    out_scores,
    *,
    score_label: str,
    method: str,
    in_name: str = "In-distribution",
    out_name: str = "Out-of-distribution",
    nbins: int = 40,
    title: str | None = None,
    height: int = 380,
) -> go.Figure:
    """Overlaid normalised histograms of a score on in- vs out-of-distribution rows.

    Args:
        in_scores: (N_in,) score of in-distribution rows.
        out_scores: (N_out,) score of OOD rows.
        score_label: axis label.
        method: method id (for the title).
        in_name, out_name: legend names of the two groups (e.g. the OOD set's name).
        nbins: about how many bins.
        title: default "<score>: in vs out of distribution · <method>".
        height: figure height in px.
    """
    inside = _vector("in_scores", in_scores, dtype=np.float32)
    outside = _vector("out_scores", out_scores, dtype=np.float32)
    return _two_histograms(
        inside, outside, names=(in_name, out_name),
        colors=(IN_DISTRIBUTION_COLOR, OUT_OF_DISTRIBUTION_COLOR),
        score_label=score_label, nbins=nbins, height=height,
        title=title or f"{score_label}: in vs out of distribution · {method_label(method)}",
    )


# -- confusion matrix --------------------------------------------------------------------------
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
    return _finish(fig, title=title or default_title, height=height)


# -- shifts ------------------------------------------------------------------------------------
def metric_vs_severity_figure(
    x_severity,
    values_by_method: Mapping[str, np.ndarray],
    *,
    metric_label: str,
    intervals_by_method: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    tickformat: str | None = None,
    title: str | None = None,
    height: int = 420,
) -> go.Figure:
    """One line per method: a metric at each shift severity.

    Args:
        x_severity: (K,) severities (e.g. ``[0, 1, 2, 3, 4, 5]``, 0 = clean test set).
        values_by_method: method id -> (K,) metric values.
        metric_label: y-axis label, e.g. ``METRIC_INFO["ece"].label``.
        intervals_by_method: optional method id -> ((K,) lower, (K,) upper), drawn as error bars.
        tickformat: d3 format of the y axis, e.g. ``".0%"``.
        title: default "<metric> as the shift gets stronger".
        height: figure height in px.
    """
    _check_nonempty("metric_vs_severity_figure", values_by_method)
    x = np.asarray(x_severity)
    if x.ndim != 1:
        raise ValueError(f"x_severity must be 1-D, got shape {x.shape}")
    fig = go.Figure()
    for method, values in values_by_method.items():
        y = _vector(f"values of {method!r}", values)
        if y.shape != x.shape:
            raise ValueError(f"values of {method!r} have {y.size} entries for {x.size} severities")
        label = method_label(method)
        color = method_color(method)
        error = None
        if intervals_by_method is not None and method in intervals_by_method:
            lower, upper = (_vector(f"interval of {method!r}", v) for v in
                            intervals_by_method[method])
            if lower.shape != x.shape or upper.shape != x.shape:
                raise ValueError(f"interval of {method!r} must have {x.size} entries, got "
                                 f"{lower.size} and {upper.size}")
            error = dict(type="data", symmetric=False, array=upper - y, arrayminus=y - lower,
                         color=color, thickness=1.2, width=4)
        fig.add_trace(
            go.Scatter(x=x, y=y, mode="lines+markers", name=label, error_y=error,
                       line=dict(color=color, width=2.5), marker=dict(color=color, size=8),
                       hovertemplate=(f"Severity %{{x}}<br>{metric_label} %{{y:.4g}}"
                                      f"<extra>{label}</extra>"))
        )
    if np.issubdtype(x.dtype, np.number):
        fig.update_xaxes(tickmode="array", tickvals=x)
    fig.update_xaxes(title_text="Shift severity (0 = clean test set)")
    fig.update_yaxes(title_text=metric_label, tickformat=tickformat)
    return _finish(fig, title=title or f"{metric_label} as the shift gets stronger",
                   height=height)


def box_by_severity_figure(
    values: Mapping[str, Mapping[object, Sequence[float]]],
    *,
    metric_label: str,
    tickformat: str | None = None,
    title: str | None = None,
    height: int = 420,
) -> go.Figure:
    """Grouped boxes: the spread of a metric at each severity (e.g. over corruptions), per method.

    Args:
        values: method id -> {severity -> values (e.g. one per corruption type)}.
        metric_label: y-axis label.
        tickformat: d3 format of the y axis.
        title: default "<metric> by shift severity".
        height: figure height in px.
    """
    _check_nonempty("box_by_severity_figure", values)
    order: list[str] = []
    fig = go.Figure()
    for method, by_severity in values.items():
        xs: list[str] = []
        ys: list[float] = []
        for severity, entries in by_severity.items():
            key = str(severity)
            if key not in order:
                order.append(key)
            entries = _vector(f"values of {method!r} at severity {severity}", entries)
            xs.extend([key] * entries.size)
            ys.extend(entries.tolist())
        label = method_label(method)
        color = method_color(method)
        fig.add_trace(
            go.Box(x=xs, y=ys, name=label, marker=dict(color=color, size=5),
                   line=dict(color=color), fillcolor=_rgba(color, 0.25),
                   boxpoints="all" if len(ys) <= 300 else "outliers", jitter=0.35, pointpos=0,
                   hovertemplate=(f"Severity %{{x}}<br>{metric_label} %{{y:.4g}}"
                                  f"<extra>{label}</extra>"))
        )
    fig.update_xaxes(title_text="Shift severity", type="category", categoryorder="array",
                     categoryarray=order)
    fig.update_yaxes(title_text=metric_label, tickformat=tickformat)
    return _finish(fig, title=title or f"{metric_label} by shift severity", height=height,
                   boxmode="group")


# -- one example -------------------------------------------------------------------------------
def predictive_distribution_figure(
    probs_samples,
    class_names: Sequence[str],
    *,
    method: str,
    style: str = "bars",
    true_class: int | None = None,
    title: str | None = None,
    height: int = 380,
) -> go.Figure:
    """The predictive distribution of one example: mean probability per class and its spread.

    ``style="bars"``: a bar of the mean over the S samples per class with an error bar of the
    standard deviation over samples (divide by S). ``style="strip"``: lighter mean bars with
    every sample as a dot (samples spread evenly across the bar's width, no randomness).

    Args:
        probs_samples: (S, C) probabilities of the example per sample, or (C,) for S = 1.
        class_names: C class names.
        method: method id (colour, title).
        style: ``"bars"`` or ``"strip"``.
        true_class: index of the true class, outlined and annotated when given.
        title: default "<method>: predictive distribution (S samples)".
        height: figure height in px.
    """
    probs = np.asarray(probs_samples, dtype=np.float64)
    if probs.ndim == 1:
        probs = probs[None]
    if probs.ndim != 2 or probs.shape[0] < 1:
        raise ValueError(f"probs_samples must be (S, C) or (C,), got shape {probs.shape}")
    s, c = probs.shape
    if len(class_names) != c:
        raise ValueError(f"class_names has {len(class_names)} names for {c} classes")
    if style not in ("bars", "strip"):
        raise ValueError(f"style must be 'bars' or 'strip', got {style!r}")
    if true_class is not None and not 0 <= int(true_class) < c:
        raise ValueError(f"true_class must be in 0..{c - 1}, got {true_class}")
    label = method_label(method)
    color = method_color(method)
    mean = probs.mean(axis=0)
    std = probs.std(axis=0)
    positions = np.arange(c)
    outline = [CORRECT_COLOR if i == true_class else color for i in range(c)]
    outline_width = [3 if i == true_class else 0 for i in range(c)]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=positions, y=mean, name="Mean over samples",
            marker=dict(color=color, opacity=1.0 if style == "bars" else 0.35,
                        line=dict(color=outline, width=outline_width)),
            error_y=dict(type="data", array=std, visible=style == "bars" and s > 1,
                         color=TEXT_COLOR, thickness=1.2, width=5),
            customdata=np.column_stack([std, np.asarray(class_names, dtype=object)]),
            hovertemplate=("%{customdata[1]}<br>Mean probability %{y:.3f}<br>"
                           "Std over samples %{customdata[0]:.3f}"
                           f"<extra>{label}</extra>"),
        )
    )
    if style == "strip":
        offsets = np.linspace(-0.3, 0.3, s) if s > 1 else np.zeros(1)
        x = (positions[None, :] + offsets[:, None]).ravel()
        sample_index = np.repeat(np.arange(s), c)
        fig.add_trace(
            curve_trace(
                x, probs.ravel(), mode="markers", name="Samples",
                marker=dict(color=color, size=6, line=dict(color="#FFFFFF", width=0.5)),
                customdata=sample_index,
                hovertemplate=f"Sample %{{customdata}}<br>Probability %{{y:.3f}}<extra>{label}"
                              "</extra>",
            )
        )
    if true_class is not None:
        fig.add_annotation(x=int(true_class), y=min(1.0, mean[true_class] + std[true_class]),
                           yanchor="bottom", text="true class", showarrow=False,
                           font=dict(color=CORRECT_COLOR, size=12))
    fig.update_xaxes(title_text="Class", tickmode="array", tickvals=positions,
                     ticktext=[str(n) for n in class_names], tickangle=-45 if c > 10 else 0)
    fig.update_yaxes(title_text="Probability", range=[0.0, 1.05])
    samples = f"{s} sample{'s' if s != 1 else ''}"
    return _finish(fig, title=title or f"{label}: predictive distribution ({samples})",
                   height=height, showlegend=style == "strip", bargap=0.25)


# -- images ------------------------------------------------------------------------------------
def _png_data_uri(pixels: np.ndarray) -> str:
    from PIL import Image  # pillow is a runtime dependency; imported only when drawing images

    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="RGB").save(buffer, format="PNG", compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(1, limit - 1)] + "…"


def image_grid_figure(
    images,
    captions: Sequence[str] | None = None,
    *,
    columns: int = 8,
    caption_colors: Sequence[str] | None = None,
    title: str | None = None,
) -> go.Figure:
    """A grid of images with a caption under each, as one PNG (small and fast to send).

    The images are tiled into one RGB mosaic (white gaps, a caption band under each row when
    captions are given), encoded as a PNG data URI in a single ``go.Image``. Hovering a tile
    shows its full caption.

    Args:
        images: (N, C, H, W) floats in [0, 1] with C = 1 (grey) or 3 (RGB), or (N, H, W);
            values outside [0, 1] are clipped for display.
        captions: N captions (shown truncated to fit; complete on hover).
        columns: tiles per row.
        caption_colors: N caption colours (e.g. ``CORRECT_COLOR`` / ``WRONG_COLOR``).
        title: figure title.

    Returns:
        The figure; ``fig.layout.meta`` holds the tile geometry
        ``{"tile_height", "tile_width", "gap", "band", "rows", "columns"}``.
    """
    array = np.asarray(images, dtype=np.float32)
    if array.ndim == 3:
        array = array[:, None]
    if array.ndim != 4 or array.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, C, H, W) with C = 1 or 3, or (N, H, W), "
                         f"got shape {np.asarray(images).shape}")
    n, _, h, w = array.shape
    if n == 0:
        raise ValueError("images is empty: nothing to show")
    if isinstance(columns, bool) or int(columns) != columns or columns < 1:
        raise ValueError(f"columns must be an integer >= 1, got {columns!r}")
    if captions is not None and len(captions) != n:
        raise ValueError(f"captions has {len(captions)} entries for {n} images")
    if caption_colors is not None and len(caption_colors) != n:
        raise ValueError(f"caption_colors has {len(caption_colors)} entries for {n} images")
    cols = min(int(columns), n)
    rows = math.ceil(n / cols)
    gap = max(1, round(w / 14))
    band = max(6, round(0.32 * h)) if captions is not None else 0
    step_y, step_x = h + band + gap, w + gap
    mosaic_h, mosaic_w = rows * step_y - gap, cols * step_x - gap
    pixels = np.rint(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)
    pixels = np.repeat(pixels, 3, axis=1) if pixels.shape[1] == 1 else pixels
    mosaic = np.full((mosaic_h, mosaic_w, 3), 255, dtype=np.uint8)
    for i in range(n):
        top, left = (i // cols) * step_y, (i % cols) * step_x
        mosaic[top : top + h, left : left + w] = pixels[i].transpose(1, 2, 0)
    fig = go.Figure(go.Image(source=_png_data_uri(mosaic), x0=0, y0=0, dx=1, dy=1,
                             hoverinfo="skip"))
    if captions is not None:
        tops = (np.arange(n) // cols) * step_y
        centres_x = (np.arange(n) % cols) * step_x + (w - 1) / 2.0
        limit = max(4, int(ASSUMED_DISPLAY_WIDTH / cols / CAPTION_CHAR_WIDTH))
        colors = [TEXT_COLOR] * n if caption_colors is None else list(caption_colors)
        fig.update_layout(annotations=[
            dict(x=float(centres_x[i]), y=float(tops[i] + h - 0.5 + band / 2.0), xref="x",
                 yref="y", text=_truncate(str(captions[i]), limit), showarrow=False,
                 font=dict(size=11, color=colors[i]), xanchor="center", yanchor="middle")
            for i in range(n)
        ])
        fig.add_trace(
            go.Scatter(x=centres_x, y=tops + (h - 1) / 2.0, mode="markers",
                       marker=dict(size=24, opacity=0), hovertext=[str(t) for t in captions],
                       hovertemplate="%{hovertext}<extra></extra>", showlegend=False)
        )
    fig.update_xaxes(visible=False, range=[-0.5, mosaic_w - 0.5], showgrid=False)
    fig.update_yaxes(visible=False, range=[mosaic_h - 0.5, -0.5], showgrid=False,
                     scaleanchor="x", constrain="domain")
    top_margin = 48 if title else 8
    display_width = min(ASSUMED_DISPLAY_WIDTH, mosaic_w * 8)
    height = int(min(2000, max(120, display_width * mosaic_h / mosaic_w + top_margin + 8)))
    meta = {"tile_height": h, "tile_width": w, "gap": gap, "band": band, "rows": rows,
            "columns": cols}
    return _finish(fig, title=title, height=height, margin=dict(l=4, r=4, t=top_margin, b=4),
                   meta=meta, showlegend=False)


# -- conformal prediction ----------------------------------------------------------------------
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
    alpha = _vector("alpha", alpha)
    coverage = _vector("coverage", coverage)
    size = _vector("mean_set_size", mean_set_size)
    if alpha.size == 0:
        raise ValueError("alpha is empty")
    if coverage.shape != alpha.shape or size.shape != alpha.shape:
        raise ValueError(f"alpha, coverage and mean_set_size must have equal length, got "
                         f"{alpha.size}, {coverage.size} and {size.size}")
    has_band = coverage_low is not None and coverage_high is not None
    if has_band:
        coverage_low = _vector("coverage_low", coverage_low)
        coverage_high = _vector("coverage_high", coverage_high)
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
                                 fillcolor=_rgba(ACCENT, 0.18), name="95% interval",
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
    fig.update_xaxes(title_text="Target coverage 1 − α", tickformat=".0%")
    fig.update_yaxes(title_text="Empirical test coverage", tickformat=".0%", row=1, col=1)
    fig.update_yaxes(title_text="Mean classes per set", rangemode="tozero", row=1, col=2)
    return _finish(fig, title=title, height=height, legend=TOP_LEFT_LEGEND)


def conformal_curve_figure(curve: ConformalCurve, *, title: str | None = None,
                           height: int = 400) -> go.Figure:
    """``coverage_vs_alpha_figure`` of a ``uqviz.conformal.ConformalCurve``, with its interval."""
    return coverage_vs_alpha_figure(
        curve.alpha, curve.coverage, curve.mean_set_size, coverage_low=curve.coverage_low,
        coverage_high=curve.coverage_high, height=height,
        title=title or f"Conformal sets ({curve.score.upper()}): coverage and size "
                       "against the target",
    )


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
    fig.update_yaxes(title_text="Share of test rows", tickformat=".0%")
    return _finish(fig, title=title, height=height, showlegend=False)


def sensitivity_specificity_figure(rates: OneVsRestRates, target_sensitivity: float,
                                   target_specificity: float, *, title: str | None = None,
                                   height: int = 300) -> go.Figure:
    """Horizontal bars of sensitivity and specificity with their 95% intervals and a target
    line for each (one-vs-rest, on the automated cases)."""
    names = ["Sensitivity", "Specificity"]
    values = [rates.sensitivity, rates.specificity]
    cis = [rates.sensitivity_ci, rates.specificity_ci]
    targets = [target_sensitivity, target_specificity]
    colors = [CORRECT_COLOR if (not math.isnan(v) and v >= t) else WRONG_COLOR
              for v, t in zip(values, targets, strict=True)]
    fig = go.Figure(go.Bar(
        y=names, x=values, orientation="h", marker_color=colors,
        error_x=dict(type="data", symmetric=False,
                     array=[max(0.0, hi - v) if not math.isnan(v) else 0
                            for v, (_, hi) in zip(values, cis, strict=True)],
                     arrayminus=[max(0.0, v - lo) if not math.isnan(v) else 0
                                 for v, (lo, _) in zip(values, cis, strict=True)]),
        customdata=[[n, lo, hi] for n, (lo, hi) in
                    zip([rates.n_positive, rates.n_negative], cis, strict=True)],
        hovertemplate="%{y}: %{x:.1%} (95% CI %{customdata[1]:.1%}–%{customdata[2]:.1%}, "
                      "n=%{customdata[0]})<extra></extra>",
        showlegend=False))
    for i, target in enumerate(targets):
        fig.add_shape(type="line", x0=target, x1=target, y0=i - 0.45, y1=i + 0.45,
                      line=dict(color=TEXT_COLOR, dash="dash", width=2))
        fig.add_annotation(x=target, y=i + 0.45, text=f"target {target:.0%}", showarrow=False,
                           yanchor="bottom", font=dict(size=11))
    fig.update_xaxes(range=[0, 1.02], tickformat=".0%", title="on the automated cases")
    return _finish(fig, title=title, height=height)
