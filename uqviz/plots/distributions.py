"""Score distributions: overlaid histograms of an uncertainty score, correct vs wrong
predictions and in- vs out-of-distribution rows (shared bins, each group's own shares)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from uqviz.plots.theme import (
    CORRECT_COLOR,
    IN_DISTRIBUTION_COLOR,
    OUT_OF_DISTRIBUTION_COLOR,
    WRONG_COLOR,
    finish,
    method_label,
    vector,
)

__all__ = ["in_out_histogram_figure", "score_histogram_figure"]


def _two_histograms(first, second, *, names, colors, score_label, title, nbins, height,
                    y_title="Share of the rows in each group", legend_below=False):
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
    fig.update_yaxes(title_text=y_title, tickformat=".0%")
    if legend_below:  # narrow columns: the legend under the plot, out of the bars' way
        return finish(fig, title=title, height=height, barmode="overlay", margin=dict(b=90),
                       legend=dict(orientation="h", x=0.0, y=-0.3, xanchor="left",
                                   yanchor="top"))
    return finish(fig, title=title, height=height, barmode="overlay",
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
    correct = vector("correct_scores", correct_scores, dtype=np.float32)
    wrong = vector("wrong_scores", wrong_scores, dtype=np.float32)
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
    y_title: str = "Share of the rows in each group",
    legend_below: bool = False,
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
        y_title: the y axis title.
        legend_below: the legend in one row under the plot (for narrow columns).
    """
    inside = vector("in_scores", in_scores, dtype=np.float32)
    outside = vector("out_scores", out_scores, dtype=np.float32)
    return _two_histograms(
        inside, outside, names=(in_name, out_name),
        colors=(IN_DISTRIBUTION_COLOR, OUT_OF_DISTRIBUTION_COLOR),
        score_label=score_label, nbins=nbins, height=height, y_title=y_title,
        legend_below=legend_below,
        title=title or f"{score_label}: in vs out of distribution · {method_label(method)}",
    )
