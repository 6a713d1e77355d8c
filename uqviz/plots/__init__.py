"""Plotly figure builders (plotly only: never streamlit, never torch).

``theme`` holds the ``"uqviz"`` template, one colour and label per method and the layout helpers
every builder shares. One module per domain turns analysis results (``uqviz.metrics``,
``uqviz.conformal``) into ``go.Figure`` objects: ``calibration`` (reliability diagrams),
``selective`` (risk–coverage, referral, sensitivity/specificity), ``distributions`` (score
histograms), ``confusion``, ``shift``, ``predictive`` (one example's predictive distribution),
``images`` (image grids) and ``conformal``; ``intervals``, ``embedding``, ``teaching`` and
``active_learning`` serve their own pages and ``report`` builds the HTML report. Pages show a
figure with ``st.plotly_chart(fig, theme=None)`` (``theme=None`` keeps the uqviz template).

Builders compute nothing statistical: they take the result dataclasses of ``uqviz.metrics`` and
``uqviz.conformal`` (or arrays already computed). Display-only arithmetic is allowed: bin
centres, row shares of a confusion matrix, the mean and spread of a handful of predictive
samples, tiling images into a grid.
"""

from uqviz.plots.calibration import reliability_figure, reliability_overlay_figure
from uqviz.plots.conformal import (
    conformal_curve_figure,
    coverage_vs_alpha_figure,
    set_size_histogram_figure,
)
from uqviz.plots.confusion import confusion_matrix_figure
from uqviz.plots.distributions import in_out_histogram_figure, score_histogram_figure
from uqviz.plots.images import image_grid_figure
from uqviz.plots.predictive import predictive_distribution_figure
from uqviz.plots.selective import (
    MAX_CURVE_POINTS,
    referral_curve_figure,
    risk_coverage_figure,
    sensitivity_specificity_figure,
)
from uqviz.plots.shift import box_by_severity_figure, metric_vs_severity_figure
from uqviz.plots.theme import (
    ACCENT,
    CORRECT_COLOR,
    IN_DISTRIBUTION_COLOR,
    METHOD_COLORS,
    METHOD_LABELS,
    OUT_OF_DISTRIBUTION_COLOR,
    SCATTERGL_MIN_POINTS,
    TEMPLATE,
    WRONG_COLOR,
    curve_trace,
    method_color,
    method_label,
    register_template,
)

__all__ = [
    "ACCENT",
    "CORRECT_COLOR",
    "IN_DISTRIBUTION_COLOR",
    "MAX_CURVE_POINTS",
    "METHOD_COLORS",
    "METHOD_LABELS",
    "OUT_OF_DISTRIBUTION_COLOR",
    "SCATTERGL_MIN_POINTS",
    "TEMPLATE",
    "WRONG_COLOR",
    "box_by_severity_figure",
    "confusion_matrix_figure",
    "conformal_curve_figure",
    "coverage_vs_alpha_figure",
    "curve_trace",
    "image_grid_figure",
    "in_out_histogram_figure",
    "method_color",
    "method_label",
    "metric_vs_severity_figure",
    "predictive_distribution_figure",
    "referral_curve_figure",
    "register_template",
    "reliability_figure",
    "reliability_overlay_figure",
    "risk_coverage_figure",
    "score_histogram_figure",
    "sensitivity_specificity_figure",
    "set_size_histogram_figure",
]
