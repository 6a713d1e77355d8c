"""Dataset shift: a metric per method as the shift gets stronger, as lines or as boxes over
the corruptions of each severity; and the uncertainty of one image as it is rotated."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from uqviz.plots.theme import (
    check_nonempty,
    finish,
    hex_to_rgba,
    method_color,
    method_label,
    rate_axis,
    value_axis,
    vector,
)

__all__ = ["box_by_severity_figure", "estimated_accuracy_figure", "metric_vs_severity_figure",
           "rotation_figure"]

SEVERITY_TITLE = "Shift severity (0 = clean test set)"


def _is_percent(tickformat: str | None) -> bool:
    return bool(tickformat) and tickformat.endswith("%")


def _metric_axis(values, *, rate: bool | None, tickformat: str | None) -> dict:
    """The y axis of a metric (``theme.rate_axis`` for a rate, else ``theme.value_axis``): a
    percent ``tickformat`` makes the labels percentages and, unless ``rate`` says otherwise,
    the metric a rate; the digits come from the theme, never from ``tickformat``."""
    percent = _is_percent(tickformat)
    if percent if rate is None else rate:
        return rate_axis(values, percent=percent)
    return value_axis(values, percent=percent)


def metric_vs_severity_figure(
    x_severity,
    values_by_method: Mapping[str, np.ndarray],
    *,
    metric_label: str,
    intervals_by_method: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    tickformat: str | None = None,
    rate: bool | None = None,
    title: str | None = None,
    height: int = 420,
    x_title: str = SEVERITY_TITLE,
    y_title: bool = True,
    showlegend: bool = True,
    compact: bool = False,
) -> go.Figure:
    """One line per method: a metric at each shift severity.

    Args:
        x_severity: (K,) severities (e.g. ``[0, 1, 2, 3, 4, 5]``, 0 = clean test set).
        values_by_method: method id -> (K,) metric values.
        metric_label: y-axis label, e.g. ``METRIC_INFO["ece"].label``.
        intervals_by_method: optional method id -> ((K,) lower, (K,) upper), drawn as error bars.
        tickformat: ``".0%"`` (any format ending in ``%``) for labels in percent, else
            fractions; the number of digits is chosen by ``theme.rate_axis`` /
            ``theme.value_axis`` so that neighbouring ticks differ.
        rate: the metric is a rate in [0, 1] (accuracy, ECE, AUROC): the axis stays inside
            [0, 1] (``theme.rate_axis``). Default: a rate when ``tickformat`` is a percent.
        title: default "<metric> as the shift gets stronger".
        height: figure height in px.
        x_title: the x axis title.
        y_title: ``metric_label`` as the y axis title (False: the title names the metric).
        showlegend: draw the legend.
        compact: narrow margins and the legend in one row under the plot (for a grid of small
            figures).
    """
    check_nonempty("metric_vs_severity_figure", values_by_method)
    x = np.asarray(x_severity)
    if x.ndim != 1:
        raise ValueError(f"x_severity must be 1-D, got shape {x.shape}")
    fig = go.Figure()
    shown: list[np.ndarray] = []
    for method, values in values_by_method.items():
        y = vector(f"values of {method!r}", values)
        if y.shape != x.shape:
            raise ValueError(f"values of {method!r} have {y.size} entries for {x.size} severities")
        label = method_label(method)
        color = method_color(method)
        error = None
        if intervals_by_method is not None and method in intervals_by_method:
            lower, upper = (vector(f"interval of {method!r}", v) for v in
                            intervals_by_method[method])
            if lower.shape != x.shape or upper.shape != x.shape:
                raise ValueError(f"interval of {method!r} must have {x.size} entries, got "
                                 f"{lower.size} and {upper.size}")
            error = dict(type="data", symmetric=False, array=upper - y, arrayminus=y - lower,
                         color=color, thickness=1.2, width=4)
            shown += [lower, upper]
        shown.append(y)
        fig.add_trace(
            go.Scatter(x=x, y=y, mode="lines+markers", name=label, error_y=error,
                       cliponaxis=False,
                       line=dict(color=color, width=2.5), marker=dict(color=color, size=8),
                       hovertemplate=(f"Severity %{{x}}<br>{metric_label} %{{y:.4g}}"
                                      f"<extra>{label}</extra>"))
        )
    if np.issubdtype(x.dtype, np.number):
        fig.update_xaxes(tickmode="array", tickvals=x)
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=metric_label if y_title else None,
                     **_metric_axis(np.concatenate(shown), rate=rate, tickformat=tickformat))
    layout = {"showlegend": showlegend}
    if compact:
        layout.update(margin=dict(l=50, r=10, t=40, b=40),
                      legend=dict(orientation="h", x=0.0, y=-0.3, xanchor="left",
                                  yanchor="top"))
    return finish(fig, title=title or f"{metric_label} as the shift gets stronger",
                   height=height, **layout)


def box_by_severity_figure(
    values: Mapping[str, Mapping[object, Sequence[float]]],
    *,
    metric_label: str,
    tickformat: str | None = None,
    rate: bool | None = None,
    title: str | None = None,
    height: int = 420,
) -> go.Figure:
    """Grouped boxes: the spread of a metric at each severity (e.g. over corruptions), per method.

    Args:
        values: method id -> {severity -> values (e.g. one per corruption type)}.
        metric_label: y-axis label.
        tickformat: percent or not, as in ``metric_vs_severity_figure``.
        rate: the metric is a rate in [0, 1], as in ``metric_vs_severity_figure``.
        title: default "<metric> by shift severity".
        height: figure height in px.
    """
    check_nonempty("box_by_severity_figure", values)
    order: list[str] = []
    fig = go.Figure()
    every: list[float] = []
    for method, by_severity in values.items():
        xs: list[str] = []
        ys: list[float] = []
        for severity, entries in by_severity.items():
            key = str(severity)
            if key not in order:
                order.append(key)
            entries = vector(f"values of {method!r} at severity {severity}", entries)
            xs.extend([key] * entries.size)
            ys.extend(entries.tolist())
        every.extend(ys)
        label = method_label(method)
        color = method_color(method)
        fig.add_trace(
            go.Box(x=xs, y=ys, name=label, marker=dict(color=color, size=5),
                   line=dict(color=color), fillcolor=hex_to_rgba(color, 0.25),
                   boxpoints="all" if len(ys) <= 300 else "outliers", jitter=0.35, pointpos=0,
                   hovertemplate=(f"Severity %{{x}}<br>{metric_label} %{{y:.4g}}"
                                  f"<extra>{label}</extra>"))
        )
    fig.update_xaxes(title_text="Shift severity", type="category", categoryorder="array",
                     categoryarray=order)
    fig.update_yaxes(title_text=metric_label,
                     **_metric_axis(every, rate=rate, tickformat=tickformat))
    return finish(fig, title=title or f"{metric_label} by shift severity", height=height,
                   boxmode="group")


def estimated_accuracy_figure(
    x_severity,
    true_by_method: Mapping[str, np.ndarray],
    estimates: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]]],
    *,
    estimator_labels: Mapping[str, str] | None = None,
    title: str | None = None,
    height: int = 400,
    x_title: str = "Severity (0 = clean)",
) -> go.Figure:
    """Accuracy estimated without labels beside the true one, against severity: one panel per
    estimator; per method (its colour) the true accuracy solid and the estimate dashed with its
    interval as error bars. Where the two part, the estimate cannot be trusted.

    Args:
        x_severity: (K,) severities; with no severity, method or estimator at all, a note that
            there was nothing to estimate.
        true_by_method: method id -> (K,) true accuracy.
        estimates: estimator key -> method id -> ((K,) estimate, (K,) low, (K,) high).
        estimator_labels: estimator key -> panel title (default: the key).
        title: figure title.
        height: figure height in px.
        x_title: the x axis title.
    """
    x = np.asarray(x_severity)
    if not true_by_method and not estimates and x.size == 0:  # nothing estimated: say so
        fig = go.Figure()
        fig.add_annotation(text="Too few labelled clean rows to split off a reference",
                           showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
        return finish(fig, title=title, height=160)
    check_nonempty("estimated_accuracy_figure", true_by_method)
    if not estimates:
        raise ValueError("estimated_accuracy_figure needs at least one estimator, got none")
    labels = estimator_labels or {}
    fig = make_subplots(rows=1, cols=len(estimates), shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=[f"Estimated by {labels.get(e, e)}" for e in estimates])
    shown: list[np.ndarray] = []
    for col, (estimator, by_method) in enumerate(estimates.items(), start=1):
        for method, truth in true_by_method.items():
            color, label = method_color(method), method_label(method)
            y = vector(f"true accuracy of {method!r}", truth)
            est, low, high = (vector(f"{estimator} of {method!r}", v) for v in by_method[method])
            if not y.shape == est.shape == x.shape:
                raise ValueError(f"{method!r}: {y.size} true and {est.size} estimated values "
                                 f"for {x.size} severities")
            shown += [y, est, low, high]
            fig.add_trace(go.Scatter(
                x=x, y=y, mode="lines+markers", name=label, legendgroup=method,
                showlegend=col == 1, line=dict(color=color, width=2.5), cliponaxis=False,
                marker=dict(color=color, size=7),
                hovertemplate=f"Severity %{{x}}<br>true %{{y:.1%}}<extra>{label}</extra>"),
                row=1, col=col)
            fig.add_trace(go.Scatter(
                x=x, y=est, mode="lines+markers", name=f"{label} (estimated)",
                legendgroup=method, showlegend=False, cliponaxis=False,
                line=dict(color=color, width=2, dash="dash"),
                marker=dict(color=color, size=6, symbol="diamond"),
                error_y=dict(type="data", symmetric=False, array=high - est,
                             arrayminus=est - low, color=color, thickness=1, width=3),
                hovertemplate=(f"Severity %{{x}}<br>estimated %{{y:.1%}}"
                               f"<extra>{label}</extra>")), row=1, col=col)
        fig.update_xaxes(title_text=x_title, tickmode="array", tickvals=x, row=1, col=col)
    fig.update_yaxes(**rate_axis(np.concatenate(shown)))
    fig.update_yaxes(title_text="Accuracy (solid: true, dashed: estimated)", row=1, col=1)
    return finish(fig, title=title, height=height,
                  legend=dict(orientation="h", x=0.0, y=-0.25, xanchor="left", yanchor="top"),
                  margin=dict(l=60, r=20, t=50, b=90))


def rotation_figure(
    frames: Mapping[str, object],
    *,
    class_names: Sequence[str],
    score_label: str,
    angles: Sequence[float] | None = None,
    title: str | None = "Uncertainty and predicted class as the digit turns",
    height: int = 420,
) -> go.Figure:
    """One line per method: the uncertainty of one image at each rotation angle, each marker
    labelled with the class the method predicts there.

    Args:
        frames: method id -> table with columns ``angle``, ``uncertainty``, ``predicted``
            (class index) and ``confidence`` (``uqviz.shift_analysis.rotation_frame``).
        class_names: (C,) class names, in class order.
        score_label: the uncertainty score's label (y axis).
        angles: the x ticks (default: the angles of the first table).
        title: figure title.
        height: figure height in px.
    """
    check_nonempty("rotation_figure", frames)
    fig = go.Figure()
    for method, frame in frames.items():
        label, color = method_label(method), method_color(method)
        predicted = [class_names[int(c)] for c in frame.predicted]
        fig.add_trace(go.Scatter(
            x=list(frame.angle), y=vector(f"uncertainty of {method!r}", frame.uncertainty),
            mode="lines+markers+text", name=label, text=predicted, textposition="top center",
            line=dict(color=color, width=2.5), marker=dict(size=8), textfont=dict(color=color),
            customdata=np.column_stack([predicted, np.asarray(frame.confidence)]),
            hovertemplate=("%{x}°: predicts %{customdata[0]} (p=%{customdata[1]:.2f})<br>"
                           f"{score_label} %{{y:.3f}}<extra>{label}</extra>")))
    ticks = list(next(iter(frames.values())).angle) if angles is None else list(angles)
    fig.update_xaxes(title_text="Rotation (degrees)", tickvals=ticks)
    fig.update_yaxes(title_text=score_label)
    return finish(fig, title=title, height=height, legend=dict(orientation="h", y=-0.2))
