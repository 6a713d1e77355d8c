"""Selective prediction and referral: risk–coverage curves, the accuracy of the automated
cases as uncertain ones are referred (with an operating point), and the sensitivity and
specificity of a referral policy (``uqviz.metrics.selective`` in).

Heavy curves are thinned with ``uqviz.metrics.selective.downsample_curve`` to
``MAX_CURVE_POINTS`` points (ends kept), and a line with more than ``SCATTERGL_MIN_POINTS``
points is drawn with ``go.Scattergl`` (``theme.curve_trace``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from uqviz.metrics.selective import (
    OneVsRestRates,
    OperatingPoint,
    ReferralCurve,
    RiskCoverageCurve,
    downsample_curve,
)
from uqviz.plots.theme import (
    CORRECT_COLOR,
    MUTED_COLOR,
    TEXT_COLOR,
    TOP_LEFT_LEGEND,
    WRONG_COLOR,
    check_nonempty,
    curve_trace,
    finish,
    method_color,
    method_label,
    rate_axis,
)

__all__ = [
    "MAX_CURVE_POINTS",
    "referral_curve_figure",
    "risk_coverage_figure",
    "sensitivity_specificity_figure",
]

MAX_CURVE_POINTS = 2000
BOTTOM_RIGHT_LEGEND = dict(x=0.99, y=0.02, xanchor="right", yanchor="bottom")


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
    check_nonempty("risk_coverage_figure", curves)
    fig = go.Figure()
    risks = []
    for method, curve in curves.items():
        label = method_label(method)
        coverage, risk = downsample_curve(curve.coverage, curve.risk, max_points)
        risks.append(risk)
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
                     **rate_axis(full=True))
    fig.update_yaxes(title_text="Selective risk (error rate of the kept rows)",
                     **rate_axis(np.concatenate(risks), percent=False, from_zero=True))
    return finish(fig, title=title, height=height, legend=TOP_LEFT_LEGEND,
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
    team_accuracy: Mapping[str, np.ndarray] | None = None,
    reviewer_accuracy: float | None = None,
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
        team_accuracy: method id -> (P,) the team's accuracy at each of its curve's shares
            (``uqviz.metrics.selective.team_accuracy_curve``), drawn dotted in the same colour.
        reviewer_accuracy: the reviewers' accuracy those were computed with (legend text).
    """
    if isinstance(curves, ReferralCurve):
        curves = {method: curves}
    check_nonempty("referral_curve_figure", curves)
    fig = go.Figure()
    shown = []
    for name, curve in curves.items():
        label = method_label(name)
        color = method_color(name)
        referred, accuracy = downsample_curve(curve.referred_fraction, curve.accuracy_retained,
                                              max_points)
        _, baseline = downsample_curve(curve.referred_fraction, curve.random_baseline,
                                       max_points)
        shown += [np.asarray(accuracy, dtype=np.float64), np.asarray(baseline, dtype=np.float64)]
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
        if team_accuracy is not None and name in team_accuracy:
            _, team = downsample_curve(curve.referred_fraction, team_accuracy[name], max_points)
            shown.append(np.asarray(team, dtype=np.float64))
            people = ("" if reviewer_accuracy is None
                      else f", reviewers {100 * reviewer_accuracy:.0f}% accurate")
            fig.add_trace(
                curve_trace(referred, team, mode="lines", name=f"{label}: team{people}",
                            legendgroup=name, line=dict(color=color, width=2.5, dash="dot"),
                            hovertemplate=("Referred %{x:.1%}<br>Team accuracy %{y:.2%}"
                                           f"<extra>{label}: model + reviewers</extra>"))
            )
    if operating_point is not None:
        _mark_operating_point(fig, operating_point, operating_method)
        shown.append(np.array([operating_point.automated_accuracy,
                               *operating_point.automated_accuracy_ci], dtype=np.float64))
    fig.update_xaxes(title_text="Share of cases referred to a human", **rate_axis(full=True))
    fig.update_yaxes(title_text=("Accuracy (automated cases; dotted: the team)"
                                 if team_accuracy else "Accuracy on the automated cases"),
                     **rate_axis(np.concatenate(shown)))
    return finish(fig, title=title, height=height, legend=BOTTOM_RIGHT_LEGEND)


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
    fig.update_xaxes(title="on the automated cases", **rate_axis(full=True))
    return finish(fig, title=title, height=height)
