"""Plotly figure builders (plotly only: never streamlit, never torch).

``theme`` holds the ``"uqviz"`` template and one colour and label per method; ``figures`` turns
analysis results (``uqviz.metrics``, ``uqviz.conformal``) into ``go.Figure`` objects that pages
show with ``st.plotly_chart(fig, theme=None)`` (``theme=None`` keeps the uqviz template).
"""

from uqviz.plots.figures import (
    MAX_CURVE_POINTS,
    SCATTERGL_MIN_POINTS,
    box_by_severity_figure,
    conformal_curve_figure,
    confusion_matrix_figure,
    coverage_vs_alpha_figure,
    curve_trace,
    image_grid_figure,
    in_out_histogram_figure,
    metric_vs_severity_figure,
    predictive_distribution_figure,
    referral_curve_figure,
    reliability_figure,
    reliability_overlay_figure,
    risk_coverage_figure,
    score_histogram_figure,
    sensitivity_specificity_figure,
    set_size_histogram_figure,
)
from uqviz.plots.theme import (
    ACCENT,
    CORRECT_COLOR,
    IN_DISTRIBUTION_COLOR,
    METHOD_COLORS,
    METHOD_LABELS,
    OUT_OF_DISTRIBUTION_COLOR,
    TEMPLATE,
    WRONG_COLOR,
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
