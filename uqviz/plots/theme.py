"""One place for colours, method names, the ``"uqviz"`` Plotly template and the layout helpers
every figure builder shares.

Every figure builder in ``uqviz.plots`` uses ``TEMPLATE`` and ``method_color``, so a method has
the same colour on every chart of every page. Every axis that plots a rate (accuracy, coverage,
AUROC, ECE, a share of rows) takes its range and tick labels from ``rate_axis``, and any other
metric axis from ``value_axis``: one place decides that a rate stays inside [0, 1] and that
neighbouring tick labels never read the same. Builders end with ``finish`` (template, title,
height), draw lines with ``curve_trace`` (``go.Scattergl`` above ``SCATTERGL_MIN_POINTS``
points) and share ``DIAGONAL_LINE`` and ``TOP_LEFT_LEGEND``. Importing this module registers
the template in ``plotly.io.templates`` (it does not change ``plotly.io.templates.default``).

Streamlit note: ``st.plotly_chart(fig)`` applies Streamlit's own theme on top of a figure's
template unless called with ``theme=None``; trace colours set here survive either way.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from uqviz.labels import METHOD_LABELS, method_label

__all__ = [
    "ACCENT",
    "CORRECT_COLOR",
    "DIAGONAL_COLOR",
    "DIAGONAL_LINE",
    "FALLBACK_PALETTE",
    "FONT_FAMILY",
    "GRID_COLOR",
    "IN_DISTRIBUTION_COLOR",
    "METHOD_COLORS",
    "METHOD_LABELS",
    "MUTED_COLOR",
    "OUT_OF_DISTRIBUTION_COLOR",
    "SCATTERGL_MIN_POINTS",
    "SEQUENTIAL_SCALE",
    "TEMPLATE",
    "TEXT_COLOR",
    "TOP_LEFT_LEGEND",
    "WRONG_COLOR",
    "curve_trace",
    "method_color",
    "method_label",
    "rate_axis",
    "register_template",
    "value_axis",
]

TEMPLATE = "uqviz"

ACCENT = "#4C6EF5"
TEXT_COLOR = "#212529"
MUTED_COLOR = "#868E96"
GRID_COLOR = "#E9ECEF"
AXIS_LINE_COLOR = "#CED4DA"
DIAGONAL_COLOR = "#495057"
FONT_FAMILY = "Inter, system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', sans-serif"

CORRECT_COLOR = "#2F9E44"
WRONG_COLOR = "#E03131"
IN_DISTRIBUTION_COLOR = "#1C7ED6"
OUT_OF_DISTRIBUTION_COLOR = "#F76707"

# White to the accent colour, for heatmaps of counts and shares.
SEQUENTIAL_SCALE = [[0.0, "#FFFFFF"], [0.5, "#A5B4FC"], [1.0, "#364FC7"]]

METHOD_COLORS: dict[str, str] = {
    "softmax": "#E69F00",  # orange: the plain baseline
    "temperature": "#56B4E9",  # sky blue
    "mc_dropout": "#009E73",  # bluish green
    "deep_ensemble": "#7048E8",  # violet
    "prior_ensemble": "#CC79A7",  # reddish purple
    "tta": "#F0C808",  # yellow
    "ensemble": "#364FC7",  # indigo
}


# Colours for methods without a fixed colour (e.g. from a user's file); none repeats a fixed one.
FALLBACK_PALETTE: tuple[str, ...] = (
    "#0072B2",
    "#D55E00",
    "#8C6D31",
    "#17BECF",
    "#BCBD22",
    "#E64980",
    "#5C940D",
    "#862E9C",
    "#1098AD",
    "#A61E4D",
    "#74B816",
    "#495057",
)

SCATTERGL_MIN_POINTS = 1000
DIAGONAL_LINE = dict(color=DIAGONAL_COLOR, dash="dash", width=1.5)
TOP_LEFT_LEGEND = dict(x=0.01, y=0.99, xanchor="left", yanchor="top")


def method_color(name: str) -> str:
    """The colour of a method: fixed for the built-in ids, else stable per name.

    Unknown names hash (MD5, not Python's salted ``hash``) into ``FALLBACK_PALETTE``, so the
    same name gets the same colour in every process and on every page.

    Args:
        name: method id, e.g. ``"deep_ensemble"`` or a name from a user's predictions file.

    Returns:
        A ``#RRGGBB`` colour.
    """
    if name in METHOD_COLORS:
        return METHOD_COLORS[name]
    digest = hashlib.md5(str(name).encode("utf-8")).digest()
    return FALLBACK_PALETTE[int.from_bytes(digest[:4], "big") % len(FALLBACK_PALETTE)]


def _axis_style() -> dict:
    return dict(
        showgrid=True,
        gridcolor=GRID_COLOR,
        gridwidth=1,
        zeroline=False,
        showline=True,
        linecolor=AXIS_LINE_COLOR,
        linewidth=1,
        ticks="outside",
        tickcolor=AXIS_LINE_COLOR,
        ticklen=4,
        title=dict(font=dict(size=14, color=TEXT_COLOR), standoff=8),
        tickfont=dict(size=12, color=TEXT_COLOR),
        automargin=True,
    )


def _build_template() -> go.layout.Template:
    template = go.layout.Template(pio.templates["plotly_white"])
    template.layout.update(
        font=dict(family=FONT_FAMILY, size=13, color=TEXT_COLOR),
        title=dict(font=dict(size=17, color=TEXT_COLOR), x=0.0, xanchor="left", y=0.97,
                   pad=dict(l=4)),
        paper_bgcolor="#FFFFFF",
        plot_bgcolor="#FFFFFF",
        colorway=[ACCENT, *FALLBACK_PALETTE],
        xaxis=_axis_style(),
        yaxis=_axis_style(),
        legend=dict(bgcolor="rgba(255,255,255,0.85)", bordercolor=GRID_COLOR, borderwidth=1,
                    font=dict(size=12)),
        hoverlabel=dict(bgcolor="#FFFFFF", bordercolor=AXIS_LINE_COLOR,
                        font=dict(family=FONT_FAMILY, size=12, color=TEXT_COLOR)),
        hovermode="closest",
        margin=dict(l=64, r=24, t=64, b=56),
        colorscale=dict(sequential=SEQUENTIAL_SCALE),
        bargap=0.05,
    )
    template.data.bar = [go.Bar(marker=dict(line=dict(width=0)))]
    return template


def register_template() -> str:
    """Register the ``"uqviz"`` template in ``plotly.io.templates`` (idempotent); its name."""
    if TEMPLATE not in pio.templates:
        pio.templates[TEMPLATE] = _build_template()
    return TEMPLATE


# -- helpers of the figure builders ------------------------------------------------------------
def hex_to_rgba(hex_color: str, alpha: float) -> str:
    """``"#RRGGBB"`` -> ``"rgba(r,g,b,alpha)"``."""
    value = hex_color.lstrip("#")
    r, g, b = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def vector(name: str, values, *, dtype=np.float64) -> np.ndarray:
    array = np.asarray(values, dtype=dtype)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    return array


# -- axes of rates and other metrics ------------------------------------------------------------
MIN_RATE_SPAN = 0.1  # a flat rate is drawn in a window 10 points wide, not Plotly's ±1
FULL_RATE_SPAN = 0.6  # a rate spread wider than this gets the whole [0, 1]
MIN_VALUE_SPAN = 0.1  # a flat metric: a window 10% of its size wide
TICKS_PER_AXIS = 6  # about this many ticks (between 2 and 6)


def _finite(values) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    return array[np.isfinite(array)]


def _axis(lo: float, hi: float, percent: bool) -> dict:
    """Linear ticks every 1, 2 or 5 × 10^k over [lo, hi], written with as many decimals as the
    step needs, so that two ticks never share a label."""
    raw = (hi - lo) / TICKS_PER_AXIS
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw * (1 - 1e-9))
    scaled = step * (100.0 if percent else 1.0)
    decimals = max(0, math.ceil(-math.log10(scaled) - 1e-9))
    return dict(range=[lo, hi], tickmode="linear", tick0=0.0, dtick=step,
                tickformat=f".{decimals}{'%' if percent else 'f'}")


def rate_axis(values=(), *, percent: bool = True, full: bool = False,
              from_zero: bool = False) -> dict:
    """Range and ticks of an axis that plots a rate: a share in [0, 1] such as accuracy,
    coverage, AUROC, ECE or a share of rows.

    The range never leaves [0, 1]. It zooms on the values (a flat series gets a window
    ``MIN_RATE_SPAN`` wide around it, shifted inside [0, 1] at either end), and becomes the whole
    [0, 1] once the values spread over more than ``FULL_RATE_SPAN``. Ticks fall every 1, 2 or
    5 × 10^k and their format carries the digits that step needs (``.0%``, ``.1%``, ``.2f``, …),
    so neighbouring labels always differ.

    Args:
        values: every number the axis must show (points, interval ends, reference lines);
            NaN and infinities are ignored.
        percent: labels as percentages (``"85%"``) rather than fractions (``"0.85"``).
        full: always the whole [0, 1].
        from_zero: start at 0 (bars: their length is the value).

    Returns:
        Keyword arguments of ``fig.update_xaxes`` / ``fig.update_yaxes``: ``range``,
        ``tickmode``, ``tick0``, ``dtick`` and ``tickformat``.
    """
    v = np.clip(_finite(values), 0.0, 1.0)
    if full or v.size == 0:
        return _axis(0.0, 1.0, percent)
    lo, hi = float(v.min()), float(v.max())
    pad = max(0.08 * (hi - lo), (MIN_RATE_SPAN - (hi - lo)) / 2)
    lo, hi = (0.0 if from_zero else lo - pad), hi + pad
    if lo < 0.0:
        lo, hi = 0.0, hi - lo
    if hi > 1.0:
        lo, hi = max(0.0, lo - (hi - 1.0)), 1.0
    if hi - lo >= FULL_RATE_SPAN:
        lo, hi = 0.0, 1.0
    return _axis(lo, hi, percent)


def value_axis(values, *, percent: bool = False, from_zero: bool = False) -> dict:
    """Range and ticks of an axis that plots a metric other than a rate (NLL, a mean
    uncertainty, a set size): as ``rate_axis`` without the bounds of [0, 1], except that an axis
    of values that are all >= 0 never shows negative ticks. A flat series gets a window
    ``MIN_VALUE_SPAN`` of its size wide (0.1 around 0).

    Returns:
        Keyword arguments of ``fig.update_xaxes`` / ``fig.update_yaxes`` (``rate_axis``).
    """
    v = _finite(values)
    if v.size == 0:
        return _axis(0.0, 1.0, percent)
    lo, hi = float(v.min()), float(v.max())
    least = MIN_VALUE_SPAN * max(abs(lo), abs(hi)) or MIN_VALUE_SPAN
    pad = max(0.08 * (hi - lo), (least - (hi - lo)) / 2)
    nonnegative = lo >= 0.0
    lo, hi = (0.0 if from_zero else lo - pad), hi + pad
    if nonnegative and lo < 0.0:
        lo, hi = 0.0, hi - lo
    return _axis(lo, hi, percent)


def finish(fig: go.Figure, *, title: str | None, height: int, **layout) -> go.Figure:
    register_template()
    fig.update_layout(template=TEMPLATE, title=dict(text=title), height=height, **layout)
    return fig


def check_nonempty(name: str, mapping: Mapping) -> None:
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


register_template()
