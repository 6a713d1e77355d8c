"""The house colours and template, the same colour for a method on every figure, the line-trace
helper, and the layering of ``uqviz.plots`` (neither streamlit nor torch)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from tests.plots.figure_checks import tick_labels, trace_named
from uqviz import metrics
from uqviz.plots import (
    ACCENT,
    METHOD_COLORS,
    METHOD_LABELS,
    SCATTERGL_MIN_POINTS,
    TEMPLATE,
    curve_trace,
    method_color,
    method_label,
    metric_vs_severity_figure,
    referral_curve_figure,
    reliability_overlay_figure,
    risk_coverage_figure,
)
from uqviz.plots.theme import FALLBACK_PALETTE, rate_axis, value_axis


# -- theme -------------------------------------------------------------------------------------
def test_template_registered_with_accent():
    assert TEMPLATE in pio.templates
    assert pio.templates[TEMPLATE].layout.colorway[0] == ACCENT


def test_fixed_method_colours_distinct_and_outside_the_fallback_palette():
    from uqviz.labels import METHOD_LABELS as REGISTERED  # every registered method has one

    assert set(METHOD_COLORS) == set(REGISTERED)
    assert len(set(METHOD_COLORS.values())) == len(METHOD_COLORS)
    assert not set(METHOD_COLORS.values()) & set(FALLBACK_PALETTE)
    for name, color in METHOD_COLORS.items():
        assert method_color(name) == color


def test_method_labels_with_fallback():
    assert method_label("mc_dropout") == "MC dropout" == METHOD_LABELS["mc_dropout"]
    assert method_label("temperature") == "Temperature scaling"
    assert method_label("my_upload") == "my_upload"


def test_fallback_colour_stable_and_spread():
    assert method_color("user_model") == method_color("user_model")
    assert method_color("user_model") in FALLBACK_PALETTE
    colours = {method_color(f"model_{i}") for i in range(40)}
    assert len(colours) >= 6  # hashing spreads names over the palette


def test_curve_trace_switches_to_webgl_above_the_limit():
    x = np.arange(SCATTERGL_MIN_POINTS, dtype=float)
    assert type(curve_trace(x, x)) is go.Scatter
    x = np.arange(SCATTERGL_MIN_POINTS + 1, dtype=float)
    assert type(curve_trace(x, x, name="many")) is go.Scattergl


# -- colours shared across figures -------------------------------------------------------------
def test_same_method_same_colour_across_figures(data):
    probs, labels, correct, uncertainty = data
    methods = ["deep_ensemble", "my_upload"]
    reliability = reliability_overlay_figure(
        {m: metrics.reliability_bins(probs, labels) for m in methods})
    risk = risk_coverage_figure({m: metrics.risk_coverage_curve(uncertainty, correct)
                                 for m in methods})
    referral = referral_curve_figure({m: metrics.referral_curve(uncertainty, correct)
                                      for m in methods})
    severity = metric_vs_severity_figure([0, 1], {m: [0.9, 0.8] for m in methods},
                                         metric_label="Accuracy")
    for method in methods:
        label = method_label(method)
        colours = {
            next(t for t in reliability.data if t.name.startswith(label)).line.color,
            next(t for t in risk.data if t.name.startswith(label)).line.color,
            trace_named(referral, label).line.color,
            trace_named(severity, label).line.color,
        }
        assert colours == {method_color(method)}
    assert method_color("deep_ensemble") != method_color("my_upload")


# -- layering ----------------------------------------------------------------------------------
def test_importing_plots_loads_neither_streamlit_nor_torch():
    code = (
        "import sys, uqviz.plots\n"
        "bad = sorted({k.split('.')[0] for k in sys.modules} & {'streamlit', 'torch'})\n"
        "print(','.join(bad))\n"
        "print(uqviz.plots.method_color('someone_elses_model'))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env)
    bad, colour = out.stdout.split("\n")[:2]
    assert bad == "", f"uqviz.plots imported {bad}"
    # the fallback colour does not depend on Python's salted string hash
    assert colour == method_color("someone_elses_model")


# -- axes ------------------------------------------------------------------------------------
def test_rate_axis_stays_in_zero_one_holds_the_values_and_labels_every_tick_apart():
    rng = np.random.default_rng(0)
    cases = [np.full(4, v) for v in (0.0, 0.5, 1.0, 0.999, 0.001)]
    cases += [np.array([0.505, 0.512]), np.array([0.0, 1.0]), np.array([0.2, 0.9])]
    cases += [rng.uniform(a, a + w, 5) for a, w in rng.uniform(0, 1, (40, 2)) * [1, 0.3]
              if a + w <= 1]
    for values in cases:
        for percent in (True, False):
            axis = go.layout.YAxis(**rate_axis(values, percent=percent))
            lo, hi = axis.range
            assert 0.0 <= lo <= values.min() and values.max() <= hi <= 1.0, (values, lo, hi)
            labels = tick_labels(axis)
            assert 2 <= len(labels) <= 7, (values, labels)
            assert len(set(labels)) == len(labels), (values, labels)
    assert rate_axis(full=True)["range"] == [0.0, 1.0]
    assert rate_axis([0.1, 0.95])["range"] == [0.0, 1.0]  # spread wide: the whole scale
    assert rate_axis([0.3, 0.32], from_zero=True)["range"][0] == 0.0
    assert rate_axis([np.nan, 0.5, np.inf])["range"][0] > 0.0  # NaN and ∞ are ignored


def test_rate_axis_formats():
    assert tick_labels(go.layout.YAxis(**rate_axis(full=True))) == [
        "0%", "20%", "40%", "60%", "80%", "100%"]
    assert rate_axis([0.505, 0.512], percent=False)["tickformat"] == ".2f"
    assert rate_axis([0.9, 0.901])["tickformat"] == ".0%"
    axis = go.layout.YAxis(**rate_axis([0.9990, 0.9995]))
    assert len(set(tick_labels(axis))) == len(tick_labels(axis))


def test_value_axis_never_goes_negative_for_a_nonnegative_metric():
    for values in (np.zeros(3), np.full(3, 2.5), np.array([0.01, 0.02]), np.array([0.3, 4.0])):
        axis = go.layout.YAxis(**value_axis(values))
        lo, hi = axis.range
        assert 0.0 <= lo <= values.min() and values.max() <= hi
        labels = tick_labels(axis)
        assert len(set(labels)) == len(labels) >= 2, labels
    lo, hi = value_axis([-1.0, -1.0])["range"]
    assert lo < -1.0 < hi
