"""The predictive distribution of one example: the mean probability per class over a method's
samples, and their spread (the display-only mean and standard deviation of a few samples)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from uqviz.plots.theme import (
    CORRECT_COLOR,
    TEXT_COLOR,
    curve_trace,
    finish,
    method_color,
    method_label,
)

__all__ = ["predictive_distribution_figure"]


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
    return finish(fig, title=title or f"{label}: predictive distribution ({samples})",
                   height=height, showlegend=style == "strip", bargap=0.25)
