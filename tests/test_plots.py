"""Figure builders draw exactly the numbers the metrics computed, in the house colours.

Inputs come from the real metric functions on small synthetic arrays; the tests read trace
data, axis titles, colours and legends back from the figures.
"""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest
from PIL import Image
from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix

from uqviz import metrics
from uqviz.conformal import coverage_vs_alpha, split_conformal
from uqviz.plots import (
    ACCENT,
    CORRECT_COLOR,
    IN_DISTRIBUTION_COLOR,
    METHOD_COLORS,
    METHOD_LABELS,
    OUT_OF_DISTRIBUTION_COLOR,
    SCATTERGL_MIN_POINTS,
    TEMPLATE,
    WRONG_COLOR,
    box_by_severity_figure,
    conformal_curve_figure,
    confusion_matrix_figure,
    coverage_vs_alpha_figure,
    curve_trace,
    image_grid_figure,
    in_out_histogram_figure,
    method_color,
    method_label,
    metric_vs_severity_figure,
    predictive_distribution_figure,
    referral_curve_figure,
    reliability_figure,
    reliability_overlay_figure,
    risk_coverage_figure,
    score_histogram_figure,
    set_size_histogram_figure,
)
from uqviz.plots.theme import FALLBACK_PALETTE


# -- synthetic predictions ---------------------------------------------------------------------
def _synthetic(n: int, c: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Overconfident softmax outputs: (N, C) probs and labels right about 70% of the time."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c)) * 3.0
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    labels = rng.integers(0, c, size=n)
    right = rng.random(n) < 0.7
    labels[right] = probs[right].argmax(axis=1)
    return probs, labels


@pytest.fixture(scope="module")
def data():
    probs, labels = _synthetic(600, 4, seed=0)
    correct = probs.argmax(axis=1) == labels
    return probs, labels, correct, metrics.uncertainty(probs, "entropy")


def _trace(fig: go.Figure, name: str):
    matches = [t for t in fig.data if t.name == name]
    assert len(matches) == 1, f"expected one trace named {name!r}, got {[t.name for t in fig.data]}"
    return matches[0]


def _uses_uqviz_template(fig: go.Figure) -> bool:
    return fig.layout.template.layout.colorway[0] == ACCENT


# -- theme -------------------------------------------------------------------------------------
def test_template_registered_with_accent():
    assert TEMPLATE in pio.templates
    assert pio.templates[TEMPLATE].layout.colorway[0] == ACCENT


def test_fixed_method_colours_distinct_and_outside_the_fallback_palette():
    assert set(METHOD_COLORS) == {"softmax", "temperature", "mc_dropout", "deep_ensemble",
                                  "prior_ensemble"}
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


# -- reliability -------------------------------------------------------------------------------
def test_reliability_figure_draws_the_bins(data):
    probs, labels, _, _ = data
    bins = metrics.reliability_bins(probs, labels, n_bins=10)
    fig = reliability_figure(bins, method="deep_ensemble")

    accuracy_bars = _trace(fig, "Accuracy in bin")
    np.testing.assert_allclose(np.asarray(accuracy_bars.y, float), bins.accuracy, equal_nan=True)
    np.testing.assert_allclose(accuracy_bars.x, (bins.lower + bins.upper) / 2)
    assert accuracy_bars.marker.color == METHOD_COLORS["deep_ensemble"]

    gap = _trace(fig, "Gap to confidence")
    np.testing.assert_allclose(np.asarray(gap.base, float), bins.accuracy, equal_nan=True)
    np.testing.assert_allclose(np.asarray(gap.y, float), bins.gap, equal_nan=True)
    # the gap bar ends at the mean confidence of the bin
    filled = bins.count > 0
    np.testing.assert_allclose((np.asarray(gap.base, float) + np.asarray(gap.y, float))[filled],
                               bins.confidence[filled])

    diagonal = _trace(fig, "Perfect calibration")
    assert list(diagonal.x) == [0.0, 1.0] and list(diagonal.y) == [0.0, 1.0]
    assert diagonal.line.dash == "dash"

    counts = _trace(fig, "Rows in bin")
    np.testing.assert_array_equal(counts.y, bins.count)
    assert counts.yaxis == "y2" and accuracy_bars.yaxis == "y"
    assert fig.layout.xaxis.matches == "x2" or fig.layout.xaxis2.matches == "x"  # shared x

    assert fig.layout.yaxis.title.text == "Accuracy"
    assert fig.layout.yaxis2.title.text == "Rows"
    assert fig.layout.xaxis2.title.text.startswith("Confidence")
    ece = metrics.expected_calibration_error(probs, labels, n_bins=10)
    assert f"ECE {ece:.3f}" in fig.layout.title.text
    assert "Deep ensemble" in fig.layout.title.text
    for word in ("Rows", "Accuracy", "Mean confidence", "Gap"):
        assert word in accuracy_bars.hovertemplate
    assert fig.layout.barmode == "overlay"
    assert _uses_uqviz_template(fig)
    fig.to_json()  # NaN of empty bins serialises


def test_reliability_figure_quantile_bins_show_adaptive_ece(data):
    probs, labels, _, _ = data
    bins = metrics.reliability_bins(probs, labels, n_bins=8, strategy="quantile")
    fig = reliability_figure(bins, method="softmax", title="Clean test set")
    adaptive = metrics.adaptive_calibration_error(probs, labels, n_bins=8)
    assert fig.layout.title.text == f"Clean test set · adaptive ECE {adaptive:.3f}"
    np.testing.assert_array_equal(_trace(fig, "Rows in bin").y, bins.count)
    assert _trace(fig, "Rows in bin").y.sum() == probs.shape[0]


def test_reliability_overlay_one_line_per_method(data):
    probs, labels, _, _ = data
    sharpened = probs**2 / (probs**2).sum(axis=1, keepdims=True)
    by_method = {"softmax": metrics.reliability_bins(probs, labels),
                 "temperature": metrics.reliability_bins(sharpened, labels)}
    fig = reliability_overlay_figure(by_method)
    assert _trace(fig, "Perfect calibration").line.dash == "dash"
    for method, bins in by_method.items():
        trace = _trace(fig, f"{method_label(method)} (ECE {bins.ece:.3f})")
        np.testing.assert_allclose(np.asarray(trace.x, float), bins.confidence, equal_nan=True)
        np.testing.assert_allclose(np.asarray(trace.y, float), bins.accuracy, equal_nan=True)
        assert trace.line.color == METHOD_COLORS[method]
    assert fig.layout.xaxis.title.text == "Mean confidence in bin"
    assert fig.layout.yaxis.title.text == "Accuracy in bin"


# -- risk–coverage -----------------------------------------------------------------------------
def test_risk_coverage_hand_worked_curve_and_aurc_in_legend():
    # most confident first: right, wrong, right, wrong -> risk 0, 1/2, 1/3, 1/2
    uncertainty = np.array([0.4, 0.1, 0.3, 0.2])
    correct = np.array([False, True, True, False])
    curve = metrics.risk_coverage_curve(uncertainty, correct)
    fig = risk_coverage_figure({"mc_dropout": curve})
    (trace,) = fig.data
    assert isinstance(trace, go.Scatter)
    np.testing.assert_allclose(trace.x, [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(trace.y, [0.0, 1 / 2, 1 / 3, 1 / 2])
    aurc = (0 + 1 / 2 + 1 / 3 + 1 / 2) / 4
    assert trace.name == f"MC dropout · AURC {aurc:.4f}"
    assert trace.line.color == METHOD_COLORS["mc_dropout"]
    np.testing.assert_allclose(trace.customdata, [0.1, 0.2, 0.3, 0.4])  # thresholds
    assert fig.layout.xaxis.title.text.startswith("Coverage")
    assert fig.layout.yaxis.title.text.startswith("Selective risk")


def test_risk_coverage_downsampled_to_webgl_keeping_the_ends():
    probs, labels = _synthetic(5000, 3, seed=1)
    correct = probs.argmax(axis=1) == labels
    curves = {"softmax": metrics.risk_coverage_curve(1 - probs.max(axis=1), correct),
              "deep_ensemble": metrics.risk_coverage_curve(metrics.entropy(probs), correct)}
    fig = risk_coverage_figure(curves)
    for trace, (method, curve) in zip(fig.data, curves.items(), strict=True):
        assert isinstance(trace, go.Scattergl)
        assert len(trace.x) <= 2000 and len(trace.x) == len(trace.y)
        assert trace.x[0] == curve.coverage[0] and trace.x[-1] == 1.0
        assert trace.y[0] == curve.risk[0] and trace.y[-1] == curve.risk[-1]
        assert f"AURC {metrics.area_under_risk_coverage(1 - probs.max(axis=1), correct):.4f}" \
            in fig.data[0].name
        assert trace.line.color == METHOD_COLORS[method]
    small = risk_coverage_figure(curves, max_points=50)
    assert all(len(t.x) == 50 and isinstance(t, go.Scatter) for t in small.data)
    assert small.data[0].x[-1] == 1.0


def test_curve_trace_switches_to_webgl_above_the_limit():
    x = np.arange(SCATTERGL_MIN_POINTS, dtype=float)
    assert type(curve_trace(x, x)) is go.Scatter
    x = np.arange(SCATTERGL_MIN_POINTS + 1, dtype=float)
    assert type(curve_trace(x, x, name="many")) is go.Scattergl


# -- referral ----------------------------------------------------------------------------------
def test_referral_curve_with_operating_point():
    uncertainty = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    correct = np.array([True, True, True, False, True, True, False, False])
    curve = metrics.referral_curve(uncertainty, correct)
    point = metrics.ReferralIndex.from_scores(uncertainty, correct).at_threshold(0.6)
    # refer 0.7 and 0.8 (2 of 8); the 6 automated hold 5 right
    assert point.n_referred == 2 and point.automated_accuracy == pytest.approx(5 / 6)
    fig = referral_curve_figure(curve, method="temperature", operating_point=point,
                                operating_method="temperature")

    line = _trace(fig, "Temperature scaling")
    np.testing.assert_allclose(line.x, np.arange(8) / 8)
    # refer j most uncertain, accuracy of the rest: j=0 -> 5/8, j=1 -> 5/7, j=2 -> 5/6 ...
    np.testing.assert_allclose(line.y[:4], [5 / 8, 5 / 7, 5 / 6, 4 / 5])
    assert line.line.color == METHOD_COLORS["temperature"]
    baseline = _trace(fig, "Temperature scaling: random referral")
    np.testing.assert_allclose(baseline.y, np.full(8, 5 / 8))
    assert baseline.line.dash == "dash" and baseline.line.color == line.line.color

    marker = _trace(fig, "Operating point")
    assert list(marker.x) == [0.25] and marker.y[0] == pytest.approx(5 / 6)
    assert marker.marker.color == METHOD_COLORS["temperature"]
    lo, hi = point.automated_accuracy_ci
    assert marker.error_y.array[0] == pytest.approx(hi - 5 / 6)
    assert marker.error_y.arrayminus[0] == pytest.approx(5 / 6 - lo)
    (note,) = fig.layout.annotations
    assert "Refer 25.0% (2 cases)" in note.text and "83.3%" in note.text
    assert any(shape.x0 == 0.25 and shape.x1 == 0.25 for shape in fig.layout.shapes)
    assert fig.layout.xaxis.title.text == "Share of cases referred to a human"
    assert fig.layout.yaxis.title.text == "Accuracy on the automated cases"


def test_referral_everything_referred_has_no_marker():
    uncertainty = np.array([0.1, 0.2, 0.3])
    correct = np.array([False, True, True])  # the most confident row is wrong
    index = metrics.ReferralIndex.from_scores(uncertainty, correct)
    point = index.for_target_accuracy(1.0)  # no threshold reaches 100% on these rows
    assert not point.reached
    fig = referral_curve_figure({"softmax": metrics.referral_curve(uncertainty, correct)},
                                operating_point=point)
    assert "Operating point" not in [t.name for t in fig.data]
    assert "Every case referred" in fig.layout.annotations[0].text


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
            _trace(referral, label).line.color,
            _trace(severity, label).line.color,
        }
        assert colours == {method_color(method)}
    assert method_color("deep_ensemble") != method_color("my_upload")


# -- score histograms --------------------------------------------------------------------------
def test_score_histogram_correct_vs_wrong(data):
    _, _, correct, uncertainty = data
    fig = score_histogram_figure(uncertainty[correct], uncertainty[~correct],
                                 score_label="Predictive entropy", method="mc_dropout")
    right = _trace(fig, f"Correct (n={correct.sum():,})")
    wrong = _trace(fig, f"Wrong (n={(~correct).sum():,})")
    np.testing.assert_allclose(right.x, uncertainty[correct], rtol=1e-6)
    np.testing.assert_allclose(wrong.x, uncertainty[~correct], rtol=1e-6)
    assert right.histnorm == wrong.histnorm == "probability"
    assert right.bingroup == wrong.bingroup  # same bins for both groups
    assert right.marker.color == CORRECT_COLOR and wrong.marker.color == WRONG_COLOR
    assert fig.layout.barmode == "overlay"
    assert fig.layout.xaxis.title.text == "Predictive entropy"
    assert fig.layout.yaxis.title.text == "Share of the rows in each group"
    assert "MC dropout" in fig.layout.title.text


def test_in_out_histogram_colours_and_names():
    fig = in_out_histogram_figure([0.1, 0.2, 0.3], [0.7, 0.9], score_label="Entropy",
                                  method="softmax", out_name="SVHN")
    inside, outside = fig.data
    assert inside.name == "In-distribution (n=3)" and outside.name == "SVHN (n=2)"
    assert inside.marker.color == IN_DISTRIBUTION_COLOR
    assert outside.marker.color == OUT_OF_DISTRIBUTION_COLOR
    np.testing.assert_allclose(outside.x, [0.7, 0.9], rtol=1e-6)
    with pytest.raises(ValueError, match="in_scores must be 1-D"):
        in_out_histogram_figure(np.zeros((2, 2)), [0.1], score_label="E", method="softmax")


# -- confusion matrix --------------------------------------------------------------------------
def test_confusion_matrix_counts_and_row_shares():
    predicted = np.array([0, 0, 1, 1, 1, 2, 0])
    labels = np.array([0, 1, 1, 1, 0, 2, 2])
    counts = metrics.confusion_matrix(predicted, labels, 3)
    names = ["cat", "dog", "bird"]

    fig = confusion_matrix_figure(counts, names, normalize=False)
    (heat,) = fig.data
    np.testing.assert_array_equal(heat.z, [[1, 1, 0], [1, 2, 0], [1, 0, 1]])
    assert list(heat.x) == names and list(heat.y) == names
    assert fig.layout.xaxis.title.text == "Predicted class"
    assert fig.layout.yaxis.title.text == "True class"
    assert fig.layout.yaxis.autorange == "reversed"  # first class on top

    shares = confusion_matrix_figure(counts, names, normalize=True).data[0]
    expected = sklearn_confusion_matrix(labels, predicted, normalize="true")
    np.testing.assert_allclose(shares.z, expected)
    np.testing.assert_allclose(np.asarray(shares.z).sum(axis=1), 1.0)
    assert shares.zmax == 1.0
    np.testing.assert_array_equal(np.asarray(shares.customdata)[..., 0], counts)


def test_confusion_matrix_empty_row_and_validation():
    counts = np.array([[2, 0], [0, 0]])
    heat = confusion_matrix_figure(counts, ["a", "b"], normalize=True).data[0]
    np.testing.assert_allclose(heat.z, [[1.0, 0.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="square"):
        confusion_matrix_figure(np.zeros((2, 3)), ["a", "b"])
    with pytest.raises(ValueError, match="3 names for a 2×2"):
        confusion_matrix_figure(counts, ["a", "b", "c"])
    repeated = confusion_matrix_figure(counts, ["x", "x"]).data[0]
    assert len(set(repeated.x)) == 2


# -- shifts ------------------------------------------------------------------------------------
def test_metric_vs_severity_lines_and_intervals():
    severity = [0, 1, 2, 3]
    values = {"softmax": np.array([0.9, 0.8, 0.6, 0.5]),
              "deep_ensemble": np.array([0.92, 0.85, 0.7, 0.6])}
    lower = values["softmax"] - 0.02
    upper = values["softmax"] + 0.03
    fig = metric_vs_severity_figure(severity, values, metric_label="Accuracy",
                                    intervals_by_method={"softmax": (lower, upper)},
                                    tickformat=".0%")
    for method, y in values.items():
        trace = _trace(fig, method_label(method))
        assert list(trace.x) == severity
        np.testing.assert_allclose(trace.y, y)
    soft = _trace(fig, "Softmax")
    np.testing.assert_allclose(soft.error_y.array, 0.03)
    np.testing.assert_allclose(soft.error_y.arrayminus, 0.02)
    assert _trace(fig, "Deep ensemble").error_y.array is None
    assert fig.layout.yaxis.title.text == "Accuracy"
    assert fig.layout.xaxis.title.text.startswith("Shift severity")
    with pytest.raises(ValueError, match="3 entries for 4 severities"):
        metric_vs_severity_figure(severity, {"softmax": [1, 2, 3]}, metric_label="ECE")


def test_box_by_severity_groups_values():
    values = {"softmax": {1: [0.1, 0.2], 2: [0.3]}, "mc_dropout": {1: [0.05], 2: [0.2, 0.25]}}
    fig = box_by_severity_figure(values, metric_label="ECE")
    soft = _trace(fig, "Softmax")
    assert list(soft.x) == ["1", "1", "2"]
    np.testing.assert_allclose(soft.y, [0.1, 0.2, 0.3])
    assert soft.marker.color == METHOD_COLORS["softmax"]
    assert list(_trace(fig, "MC dropout").x) == ["1", "2", "2"]
    assert fig.layout.boxmode == "group"
    assert list(fig.layout.xaxis.categoryarray) == ["1", "2"]
    assert fig.layout.yaxis.title.text == "ECE"


# -- one example -------------------------------------------------------------------------------
def test_predictive_distribution_mean_and_spread():
    samples = np.array([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2], [0.6, 0.1, 0.3]])
    fig = predictive_distribution_figure(samples, ["cat", "dog", "bird"], method="deep_ensemble",
                                         true_class=1)
    bars = _trace(fig, "Mean over samples")
    np.testing.assert_allclose(bars.y, [0.6, 0.2, 0.2])
    np.testing.assert_allclose(bars.error_y.array, samples.std(axis=0))
    # the predicted class's spread is the method's variance score (divide by S)
    variance = metrics.predicted_class_variance(samples[:, None, :])[0]
    assert bars.error_y.array[0] ** 2 == pytest.approx(variance)
    assert bars.error_y.visible
    assert list(bars.marker.line.width) == [0, 3, 0]
    assert list(fig.layout.xaxis.ticktext) == ["cat", "dog", "bird"]
    assert fig.layout.yaxis.title.text == "Probability"
    assert "3 samples" in fig.layout.title.text

    strip = predictive_distribution_figure(samples, ["cat", "dog", "bird"], method="mc_dropout",
                                           style="strip")
    dots = _trace(strip, "Samples")
    np.testing.assert_allclose(np.sort(dots.y), np.sort(samples.ravel()))
    np.testing.assert_allclose(dots.y, samples.ravel())  # sample-major, class-minor
    offsets = np.asarray(dots.x) - np.tile(np.arange(3), 3)  # dots spread across each bar
    assert np.all(np.abs(offsets) <= 0.3 + 1e-12) and np.ptp(offsets) > 0
    with pytest.raises(ValueError, match="2 names for 3 classes"):
        predictive_distribution_figure(samples, ["a", "b"], method="softmax")


# -- images ------------------------------------------------------------------------------------
def _decode(fig: go.Figure) -> np.ndarray:
    source = fig.data[0].source
    assert source.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))))


def test_image_grid_tiles_every_image_rgb():
    rng = np.random.default_rng(3)
    images = rng.random((5, 3, 6, 7))
    captions = [f"pred {i}" for i in range(5)]
    fig = image_grid_figure(images, captions, columns=2)
    meta = fig.layout.meta
    assert (meta["rows"], meta["columns"]) == (3, 2)
    mosaic = _decode(fig)
    step_y, step_x = 6 + meta["band"] + meta["gap"], 7 + meta["gap"]
    assert mosaic.shape == (3 * step_y - meta["gap"], 2 * step_x - meta["gap"], 3)
    expected = np.rint(images * 255).astype(np.uint8).transpose(0, 2, 3, 1)
    for i in range(5):
        top, left = (i // 2) * step_y, (i % 2) * step_x
        np.testing.assert_array_equal(mosaic[top : top + 6, left : left + 7], expected[i])
    assert [a.text for a in fig.layout.annotations] == captions
    hover = next(t for t in fig.data if isinstance(t, go.Scatter))
    assert list(hover.hovertext) == captions


def test_image_grid_grey_images_and_clipping():
    images = np.zeros((3, 1, 4, 4))
    images[1] = 0.5
    images[2] = 1.7  # clipped to white
    fig = image_grid_figure(images, columns=8)
    mosaic = _decode(fig)
    assert fig.layout.meta["band"] == 0 and not fig.layout.annotations
    gap = fig.layout.meta["gap"]
    assert mosaic.shape == (4, 3 * 4 + 2 * gap, 3)
    assert (mosaic[:, :4] == 0).all()
    assert (mosaic[:, 4 + gap : 8 + gap] == 128).all()
    assert (mosaic[:, 8 + 2 * gap :] == 255).all()
    with pytest.raises(ValueError, match="2 entries for 3 images"):
        image_grid_figure(images, ["a", "b"])
    with pytest.raises(ValueError, match="C = 1 or 3"):
        image_grid_figure(np.zeros((2, 2, 4, 4)))


# -- conformal ---------------------------------------------------------------------------------
def test_coverage_vs_alpha_from_a_conformal_curve(data):
    probs, labels, _, _ = data
    alphas = np.array([0.3, 0.05, 0.1, 0.2])
    curve = coverage_vs_alpha(probs.astype(np.float32), labels, alphas=alphas, seed=0)
    fig = conformal_curve_figure(curve)
    empirical = _trace(fig, "Empirical coverage")
    order = np.argsort(1 - alphas)
    np.testing.assert_allclose(empirical.x, (1 - alphas)[order])
    np.testing.assert_allclose(empirical.y, curve.coverage[order])
    sizes = _trace(fig, "Mean set size")
    np.testing.assert_allclose(sizes.y, curve.mean_set_size[order])
    assert sizes.xaxis == "x2"
    diagonal = _trace(fig, "Target: coverage = 1 − α")
    assert list(diagonal.x) == list(diagonal.y) == [0.7, 0.95]
    band = _trace(fig, "95% interval")
    np.testing.assert_allclose(band.y, curve.coverage_low[order])
    assert fig.layout.xaxis.title.text == "Target coverage 1 − α"
    assert fig.layout.yaxis.title.text == "Empirical test coverage"
    assert fig.layout.yaxis2.title.text == "Mean classes per set"
    assert "LAC" in fig.layout.title.text

    plain = coverage_vs_alpha_figure([0.1, 0.2], [0.91, 0.8], [1.5, 1.1])
    assert "95% interval" not in [t.name for t in plain.data]
    with pytest.raises(ValueError, match="equal length"):
        coverage_vs_alpha_figure([0.1, 0.2], [0.9], [1.5, 1.1])


def test_set_size_histogram(data):
    probs, labels, _, _ = data
    result = split_conformal(probs.astype(np.float32), labels, alpha=0.1, seed=0)
    fig = set_size_histogram_figure(result.set_sizes, num_classes=4)
    (hist,) = fig.data
    np.testing.assert_array_equal(hist.x, result.set_sizes)
    assert hist.xbins.start == -0.5 and hist.xbins.size == 1 and hist.xbins.end == 4.5
    assert hist.histnorm == "probability"
    assert fig.layout.xaxis.title.text == "Classes in the prediction set"
    with pytest.raises(ValueError, match="integers"):
        set_size_histogram_figure(np.array([1.5, 2.0]))


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
