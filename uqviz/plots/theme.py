"""One place for colours, method names, the ``"uqviz"`` Plotly template and the layout helpers
every figure builder shares.

Every figure builder in ``uqviz.plots`` uses ``TEMPLATE`` and ``method_color``, so a method has
the same colour on every chart of every page. Builders end with ``_finish`` (template, title,
height), draw lines with ``curve_trace`` (``go.Scattergl`` above ``SCATTERGL_MIN_POINTS``
points) and share ``DIAGONAL_LINE`` and ``TOP_LEFT_LEGEND``. Importing this module registers
the template in ``plotly.io.templates`` (it does not change ``plotly.io.templates.default``).

Streamlit note: ``st.plotly_chart(fig)`` applies Streamlit's own theme on top of a figure's
template unless called with ``theme=None``; trace colours set here survive either way.
"""

from __future__ import annotations

import hashlib
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
    "USER_METHOD_COLORS",
    "WRONG_COLOR",
    "curve_trace",
    "method_color",
    "method_label",
    "register_template",
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
}

# The methods only a user's own model has (``uqviz.user_model``); kept apart from the registry's
# table. None repeats a fixed or fallback colour.
USER_METHOD_COLORS: dict[str, str] = {
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
    if name in USER_METHOD_COLORS:
        return USER_METHOD_COLORS[name]
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


register_template()
