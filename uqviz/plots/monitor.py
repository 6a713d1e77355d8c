"""The Monitor page's figure: a stream batch by batch — accuracy estimated without labels beside
the true one, the referred, out-of-distribution and confidence shares, the drift evidence — with
the alarms marked."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from uqviz.plots.theme import (
    ACCENT,
    MUTED_COLOR,
    OUT_OF_DISTRIBUTION_COLOR,
    TEXT_COLOR,
    WRONG_COLOR,
    finish,
    hex_to_rgba,
    method_color,
    rate_axis,
    value_axis,
)

if TYPE_CHECKING:
    from uqviz.monitor import MonitorResult

__all__ = ["ACCURACY_ALARM_COLOR", "DRIFT_ALARM_COLOR", "drift_accuracy_figure", "monitor_figure"]

DRIFT_ALARM_COLOR = WRONG_COLOR
ACCURACY_ALARM_COLOR = "#F08C00"
DRIFT_FILL = hex_to_rgba(MUTED_COLOR, 0.10)


def _alarm_line(fig: go.Figure, x: int, color: str, text: str, dash: str) -> None:
    fig.add_vline(x=x, line=dict(color=color, width=2, dash=dash), row="all", col=1)
    fig.add_annotation(x=x, y=1.0, xref="x", yref="paper", text=text, showarrow=False,
                       xanchor="left", yanchor="bottom", font=dict(color=color, size=12))


HOVER = "Batch %{customdata}<br>%{y:.1%}<extra>%{fullData.name}</extra>"


def _accuracy_traces(result: MonitorResult, color: str, estimator_label: str) -> list:
    """The estimate's interval band, the estimate (dashed) and the true accuracy per batch."""
    x, names = np.arange(1, len(result.batch_names) + 1), list(result.batch_names)
    traces = [
        go.Scatter(x=x, y=result.estimate_high, mode="lines", line=dict(width=0),
                   showlegend=False, hoverinfo="skip"),
        go.Scatter(x=x, y=result.estimate_low, mode="lines", line=dict(width=0),
                   fill="tonexty", fillcolor=hex_to_rgba(color, 0.18),
                   name=f"{1 - result.alpha:.0%} interval", hoverinfo="skip"),
        go.Scatter(x=x, y=result.estimated_accuracy, mode="lines+markers",
                   name=f"Estimated without labels ({estimator_label})",
                   line=dict(color=color, width=2.5, dash="dash"), customdata=names,
                   hovertemplate=HOVER)]
    if np.isfinite(result.true_accuracy).any():
        traces.append(go.Scatter(x=x, y=result.true_accuracy, mode="lines+markers",
                                 name="True accuracy (labels known here)",
                                 line=dict(color=TEXT_COLOR, width=2), customdata=names,
                                 hovertemplate=HOVER))
    return traces


def _batch_ticks(names: tuple[str, ...]) -> dict:
    """The batch axis: positions 1…B labelled by the batch names (up to 40 of them)."""
    n = len(names)
    ticks = (dict(tickmode="array", tickvals=list(range(1, n + 1)), ticktext=list(names))
             if n <= 40 else {})
    return dict(range=[0.5, n + 0.5], **ticks)


def _accuracy_values(result: MonitorResult) -> np.ndarray:
    return np.concatenate([result.estimate_low, result.estimate_high,
                           result.estimated_accuracy, result.true_accuracy])


def monitor_figure(result: MonitorResult, *, method: str, estimator_label: str,
                   drift_batch: int | None = None, title: str | None = None,
                   height: int = 640, score_label: str | None = None) -> go.Figure:
    """Three panels over the batches of a monitored stream, sharing the batch axis.

    1. Accuracy: the label-free estimate (the method's colour, dashed) with its per-batch
       interval as a band, and the true accuracy where labels are known (black).
    2. Shares of each batch: referred, flagged out-of-distribution, and the mean confidence.
    3. Drift evidence: log10 of the drift test's martingale, with the alarm level log10(1/α).

    A vertical line marks the first batch of each alarm; a grey band marks the batches from
    ``drift_batch`` on (where the demo stream drifts).

    Args:
        result: ``uqviz.monitor.monitor_stream``'s result.
        method: the method id (the estimate's colour).
        estimator_label: e.g. ``"DoC"``.
        drift_batch: 0-based batch where the stream starts to drift, or None.
        title: figure title.
        height: figure height in px.
        score_label: the score's label (what the OOD flags and the drift test read), named in
            the drift panel's title when given.
    """
    n = len(result.batch_names)
    if n == 0:
        raise ValueError("monitor_figure needs at least one batch, got none")
    x = np.arange(1, n + 1)
    color = method_color(method)
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.07,
                        row_heights=[0.45, 0.3, 0.25],
                        subplot_titles=("Accuracy per batch", "Shares of each batch",
                                        "Drift evidence (log10 of the test martingale)"
                                        if score_label is None else
                                        f"Drift evidence on {score_label} (log10 of the test "
                                        "martingale)"))
    names = list(result.batch_names)
    for trace in _accuracy_traces(result, color, estimator_label):
        fig.add_trace(trace, row=1, col=1)
    shares = (("Referred share", result.referred_share, ACCENT, "solid"),
              ("Flagged out-of-distribution", result.ood_share, OUT_OF_DISTRIBUTION_COLOR,
               "solid"),
              ("Mean confidence", result.mean_confidence, MUTED_COLOR, "dot"))
    for name, values, line_color, dash in shares:
        if np.isfinite(values).any():
            fig.add_trace(go.Scatter(x=x, y=values, mode="lines+markers", name=name,
                                     line=dict(color=line_color, width=2, dash=dash),
                                     customdata=names, hovertemplate=HOVER), row=2, col=1)
    level = math.log10(1 / result.alpha)
    fig.add_trace(go.Scatter(x=x, y=result.drift_log10_martingale, mode="lines+markers",
                             name="Drift evidence", line=dict(color=DRIFT_ALARM_COLOR, width=2),
                             customdata=names,
                             hovertemplate="Batch %{customdata}<br>log10 S = %{y:.2f}"
                                           "<extra></extra>"), row=3, col=1)
    fig.add_hline(y=level, line=dict(color=DRIFT_ALARM_COLOR, dash="dot", width=1.5),
                  row=3, col=1, annotation_text=f"alarm level log10(1/α) = {level:.2f}",
                  annotation_position="top left")
    if drift_batch is not None:
        fig.add_vrect(x0=drift_batch + 0.5, x1=n + 0.5, fillcolor=DRIFT_FILL, line_width=0,
                      layer="below", row="all", col=1)
    if result.first_drift_alarm is not None:
        _alarm_line(fig, result.first_drift_alarm + 1, DRIFT_ALARM_COLOR,
                    f"drift alarm (batch {names[result.first_drift_alarm]})", "solid")
    if result.first_accuracy_alarm is not None:
        _alarm_line(fig, result.first_accuracy_alarm + 1, ACCURACY_ALARM_COLOR,
                    f"accuracy alarm (batch {names[result.first_accuracy_alarm]})", "dash")
    share_values = np.concatenate([result.referred_share, result.ood_share,
                                   result.mean_confidence])
    fig.update_yaxes(title_text="Accuracy", row=1, col=1, **rate_axis(_accuracy_values(result)))
    fig.update_yaxes(title_text="Share", row=2, col=1, **rate_axis(share_values))
    fig.update_yaxes(title_text="log10 S", row=3, col=1,
                     **value_axis(np.append(result.drift_log10_martingale, level)))
    fig.update_xaxes(**_batch_ticks(result.batch_names))
    fig.update_xaxes(title_text="Batch (time →)", row=3, col=1)
    return finish(fig, title=title, height=height,
                  legend=dict(orientation="h", x=0.0, y=-0.12, xanchor="left", yanchor="top"),
                  margin=dict(l=60, r=20, t=60, b=90))


def drift_accuracy_figure(result: MonitorResult, *, method: str, estimator_label: str,
                          drift_batch: int | None = None, title: str | None = None,
                          height: int = 340) -> go.Figure:
    """The accuracy panel of ``monitor_figure`` alone (the Story's last step): per batch, the
    estimate without labels with its interval beside the true accuracy, the drift shaded and
    the first alarms marked.

    Args: as ``monitor_figure``.
    """
    n = len(result.batch_names)
    if n == 0:
        raise ValueError("drift_accuracy_figure needs at least one batch, got none")
    fig = go.Figure(_accuracy_traces(result, method_color(method), estimator_label))
    if drift_batch is not None:
        fig.add_vrect(x0=drift_batch + 0.5, x1=n + 0.5, fillcolor=DRIFT_FILL, line_width=0,
                      layer="below", annotation_text="drift", annotation_position="bottom left")
    for first, color, what, dash in (
            (result.first_drift_alarm, DRIFT_ALARM_COLOR, "drift alarm", "solid"),
            (result.first_accuracy_alarm, ACCURACY_ALARM_COLOR, "accuracy alarm", "dash")):
        if first is not None:
            fig.add_vline(x=first + 1, line=dict(color=color, width=2, dash=dash),
                          annotation_text=f"{what} (batch {result.batch_names[first]})",
                          annotation_position="top right", annotation_font_color=color)
    fig.update_xaxes(title_text="Batch (time →)", **_batch_ticks(result.batch_names))
    fig.update_yaxes(title_text="Accuracy", **rate_axis(_accuracy_values(result)))
    return finish(fig, title=title, height=height,
                  legend=dict(orientation="h", x=0.0, y=-0.25, xanchor="left", yanchor="top"),
                  margin=dict(l=60, r=20, t=30, b=60))
