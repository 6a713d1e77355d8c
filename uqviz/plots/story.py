"""The Story page's figures: one estimate per method with its 95% interval, and the guarantee
set beside what the held-out cases show."""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go

from uqviz.plots.theme import ACCENT, MUTED_COLOR, finish, method_color, method_label

__all__ = ["estimates_figure", "guarantee_figure"]


def estimates_figure(estimates: Mapping[str, tuple[float, float, float]], *, x_title: str,
                     title: str | None = None, percent: bool = True,
                     x_range: tuple[float, float] | None = None,
                     height: int = 300) -> go.Figure:
    """One horizontal bar per method (its colour) with its 95% interval as whiskers.

    Args:
        estimates: method -> (value, lower, upper).
        x_title: the axis title (what the bars measure).
        title: figure title.
        percent: show values as percentages.
        x_range: the x axis range.
        height: figure height in px.
    """
    names = list(estimates)
    values = [estimates[m][0] for m in names]
    fig = go.Figure(go.Bar(
        y=[method_label(m) for m in names], x=values, orientation="h",
        marker_color=[method_color(m) for m in names],
        error_x=dict(type="data", symmetric=False, color=MUTED_COLOR,
                     array=[estimates[m][2] - estimates[m][0] for m in names],
                     arrayminus=[estimates[m][0] - estimates[m][1] for m in names]),
        hovertemplate="%{y}: %{x" + (":.2%" if percent else ":.3f") + "}<extra></extra>"))
    fig.update_xaxes(title_text=x_title, tickformat=".0%" if percent else None, range=x_range)
    fig.update_yaxes(autorange="reversed")
    return finish(fig, title=title, height=height, showlegend=False)


def guarantee_figure(*, certified: float, calibration: float,
                     heldout: tuple[float, float, float] | None, target: float,
                     title: str | None = None, height: int = 300) -> go.Figure:
    """The accuracy on automated cases: guaranteed (a bound), on the calibration half, and on
    the held-out half with its 95% interval; a dashed line at the target.

    Args:
        certified: the guaranteed lower bound on the accuracy.
        calibration: accuracy on the calibration half's automated cases.
        heldout: (value, lower, upper) on the held-out half, or None.
        target: the accuracy asked for.
        title: figure title.
        height: figure height in px.
    """
    labels = ["Guaranteed (lower bound)", "Calibration half"]
    values = [certified, calibration]
    err_plus, err_minus = [0.0, 0.0], [0.0, 0.0]
    if heldout is not None:
        labels.append("Held-out half")
        values.append(heldout[0])
        err_plus.append(heldout[2] - heldout[0])
        err_minus.append(heldout[0] - heldout[1])
    fig = go.Figure(go.Bar(
        y=labels, x=values, orientation="h", marker_color=[ACCENT, MUTED_COLOR, MUTED_COLOR][
            :len(labels)], text=[f"{v:.1%}" for v in values], textposition="inside",
        error_x=dict(type="data", symmetric=False, array=err_plus, arrayminus=err_minus,
                     color="#333333"),
        hovertemplate="%{y}: %{x:.2%}<extra></extra>"))
    fig.add_vline(x=target, line=dict(color="#D6336C", dash="dash", width=2),
                  annotation_text=f"asked {target:.0%}", annotation_position="top")
    low = min(min(values), target) - 0.05
    fig.update_xaxes(title_text="Accuracy on the automated cases", tickformat=".0%",
                     range=[max(0.0, low), 1.0])
    fig.update_yaxes(autorange="reversed")
    return finish(fig, title=title, height=height, showlegend=False)
