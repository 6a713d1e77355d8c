"""Cached calls of the "Dataset shift" page that need images or networks: the corrupted test
images, the rotated digit and its predictions.

The predictions on every corruption × severity come from ``ensure_comparison(key, methods,
plan="shift")`` (``uqviz.ui.backend``), which predicts what is missing under a progress bar;
their analysis is ``uqviz.shift_analysis`` through each ``Study``. Everything here is keyed by
small ids (dataset, method, corruption, severity, image index, score).

The page's words and figures are built here too (``corruption_label``, ``SEVERITY_CURVES``,
``severity_curve_figure`` …), so that ``pages/shift.py`` only lays out widgets: each builder
draws finished tables with ``uqviz.plots`` and computes nothing of its own.

References: Gal & Ghahramani, "Dropout as a Bayesian Approximation", ICML 2016 (the rotated
digit).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from uqviz.data.user_images import MAX_UPLOAD_BYTES as MAX_UPLOAD_BYTES  # the Your images
from uqviz.data.user_images import ImageRejected as ImageRejected  # page's upload
from uqviz.data.user_images import PreparedImage as PreparedImage
from uqviz.data.user_images import preprocess
from uqviz.data.user_images import read_user_image as read_user_image
from uqviz.device import default_device
from uqviz.methods import Method, get_method
from uqviz.metrics.label_free import ESTIMATORS
from uqviz.metrics.scores import UNCERTAINTY_SCORES
from uqviz.plots import box_by_severity_figure, image_grid_figure, metric_vs_severity_figure
from uqviz.plots.shift import estimated_accuracy_figure, rotation_figure
from uqviz.predictions import TEST_GROUP, shift_group
from uqviz.shift_analysis import all_corruptions_table as all_corruptions_table  # the page's
from uqviz.shift_analysis import label_free_series, label_free_table, rotation_frame
from uqviz.shift_analysis import severity_series as severity_series  # tables and curves
from uqviz.shift_analysis import severity_spread as severity_spread
from uqviz.shift_analysis import severity_table as severity_table
from uqviz.shift_analysis import shift_corruptions as shift_corruptions
from uqviz.shifts import CORRUPTIONS, ROTATION_ANGLES, corrupt_pictures, image_batch, rotate
from uqviz.sources import APP_CONFIG, DATA_SEED, YOUR_MODEL, NoImages
from uqviz.ui.backend import dataset_spec, dataset_splits, source, study, test_images
from uqviz.ui.models import model_source, predict_model_pictures
from uqviz.user_model.images import prepare_picture


@st.cache_data(show_spinner=False, max_entries=32)
def corrupted_test_images(dataset: str, corruption: str, severity: int) -> np.ndarray:
    """The test split corrupted exactly as the shift run did (``Source.group_images``: a
    user's model batch by batch, as its engine did): float32 (N, C, H, W). Asked of the app's
    source, which keeps a user's model's decoded images (its plan and the shift plan seed the
    corruptions alike: ``EvalPlan.seed`` 0)."""
    group = TEST_GROUP if severity == 0 else shift_group(corruption, severity)
    return source(dataset).group_images(group)


ESTIMATOR_LABELS = {key: e.label for key, e in ESTIMATORS.items()}


@st.cache_data(show_spinner="Estimating the accuracy without labels…", max_entries=32)
def label_free_severity_series(dataset: str, methods: tuple[str, ...], corruption: str):
    """ATC-MC and DoC estimates beside the true accuracy at every severity of ``corruption``
    (``uqviz.shift_analysis.label_free_table``, as ``label_free_series``) for the studies of
    the shift plan (predicted first by ``ensure_comparison(..., plan="shift")``)."""
    table = label_free_table([study(dataset, m, "shift") for m in methods], corruption)
    return label_free_series(table, list(methods))


@st.cache_resource(show_spinner="Loading the trained networks…", max_entries=8)
def fitted_method(dataset: str, method: str) -> Method:
    """A fitted method (networks read from the disk cache when trained before). Read-only."""
    spec = dataset_spec(dataset)
    return get_method(method, APP_CONFIG).fit(spec, dataset_splits(dataset), default_device(),
                                              data_seed=DATA_SEED)


@st.cache_data(show_spinner=False, max_entries=32)
def rotated_images(dataset: str, index: int) -> np.ndarray:
    """Test image ``index`` rotated by each of ``ROTATION_ANGLES``: float32 (13, C, H, W)."""
    x = dataset_splits(dataset).test_x[index: index + 1]
    return rotate(x.expand(len(ROTATION_ANGLES), *x.shape[1:]),
                  list(map(float, ROTATION_ANGLES))).numpy()


@st.cache_data(show_spinner="Predicting the rotated digit…", max_entries=64)
def rotated_predictions(dataset: str, method: str, index: int, score: str) -> pd.DataFrame:
    """Rows (method, angle, predicted, confidence, uncertainty) for the rotated test image
    (``uqviz.shift_analysis.rotation_frame``)."""
    images = image_batch(rotated_images(dataset, index))
    out = fitted_method(dataset, method).predict(images, default_device())
    return rotation_frame(method, ROTATION_ANGLES, out.probs, score)


def predict_prepared(dataset: str, methods: list[str], tensors: list, corruption: str,
                     severity: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The user's prepared images (each (C, H, W) in [0, 1]) with ``corruption`` at
    ``severity`` applied (seeded), and every method's predictive samples (S, N, C) on them."""
    batch = corrupt_pictures(tensors, corruption, severity, seed=0)
    outputs = {m: fitted_method(dataset, m).predict(batch, default_device()).probs
               for m in methods}
    return batch.numpy(), outputs


@dataclass(frozen=True)
class PictureTarget:
    """What the Your images page runs pictures through: a built-in dataset's trained methods or
    a user's model.

    Attributes:
        dataset: the sidebar's key.
        input_shape: (C, H, W) the networks take.
        class_names: output i is ``class_names[i]``.
        is_digits: a built-in digits dataset (the drawing canvas applies).
        own_model: a user's model (pictures are read as its folder's images, and run through
            it), not the app's trained networks.
    """

    dataset: str
    input_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    is_digits: bool
    own_model: bool = False

    def prepare(self, image) -> PreparedImage:
        """A decoded picture as the networks see it: for a built-in dataset centred and scaled
        like its digits (``preprocess``); for a user's model exactly as its folder images are
        read (``prepare_picture``)."""
        if self.own_model:
            return prepare_picture(image, model_source(self.dataset).config)
        return preprocess(image, self.input_shape)

    def predict(self, tensors: list, methods: list[str], corruption: str,
                severity: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The prepared pictures corrupted (seeded) and every method's samples (S, N, C) on
        them; ``UserModelError`` (one line) when a user's model fails."""
        if self.own_model:
            return predict_model_pictures(self.dataset, methods, tensors, corruption, severity)
        return predict_prepared(self.dataset, methods, tensors, corruption, severity)


def picture_target(dataset: str) -> PictureTarget:
    """The ``PictureTarget`` of a sidebar key; ``DatasetUnavailable`` or ``UserModelError``
    when it cannot be loaded."""
    src = source(dataset)
    if src.kind == YOUR_MODEL:
        config = model_source(dataset).config
        return PictureTarget(dataset, tuple(config.input_shape), tuple(config.classes), False,
                             own_model=True)
    spec = dataset_spec(dataset)
    return PictureTarget(dataset, tuple(spec.input_shape), tuple(spec.class_names),
                         bool(spec.is_digits))


def prediction_rows(outputs: dict[str, np.ndarray], i: int,
                    class_names: tuple[str, ...]) -> list[dict]:
    """One row per method for image ``i``: the predicted class, max probability, entropy and
    mutual information (None for a single-sample method) of its samples."""
    from uqviz.metrics.scores import entropy, max_prob, mutual_information

    rows = []
    for m, probs in outputs.items():
        sample = probs[:, i:i + 1]
        rows.append({"method": m, "prediction": class_names[int(sample.mean(axis=0)[0].argmax())],
                     "max prob.": float(max_prob(sample)[0]),
                     "entropy": float(entropy(sample)[0]),
                     "mutual info.": (float(mutual_information(sample)[0])
                                      if sample.shape[0] > 1 else None)})
    return rows


# -- the Dataset shift page's words and figures ----------------------------------------------
NO_CORRUPTIONS = ("This predictions file has no corrupted copies of the test set (groups named "
                  "`<corruption>:<severity>`, e.g. `gaussian_noise:3`). The page needs them, or a "
                  "trained dataset (digits, mnist5k …) where the app corrupts the images itself.")
LABEL_FREE_CAPTION = ("Half of the clean test images are a labelled reference; the other half, "
                      "clean and corrupted, is estimated without its labels (dashed, 95% "
                      "interval) beside its true accuracy (solid). Where they part, the Monitor "
                      "page's estimate is off as far.")
NO_ROTATION = ("The rotated digit needs a built-in digits dataset (it refits the app's "
               "networks); the charts above are your model on your images.")


@dataclass(frozen=True)
class SeverityCurve:
    """One metric the page draws against severity.

    Attributes:
        label: the chart's title and the metric's name in the summary's select box.
        tickformat: the y axis's d3 format (``".0%"``, ``".2f"``).
        how: the one-line caption that says how to read the chart.
        rate: the metric is a rate in [0, 1] (accuracy, ECE, AUROC): its axis stays inside.
    """

    label: str
    tickformat: str
    how: str
    rate: bool


SEVERITY_CURVES = {  # severity_table column -> its curve, in the page's order
    "accuracy": SeverityCurve("Accuracy", ".0%",
                              "Share of correct predictions: falls as the shift grows.", True),
    "ece": SeverityCurve("ECE", ".2f",
                         "Calibration error: how far confidence drifts from accuracy.", True),
    "nll": SeverityCurve("NLL", ".2f",
                         "Negative log-likelihood: punishes confident mistakes hardest.", False),
    "mean_uncertainty": SeverityCurve(
        "Mean uncertainty", ".2f", "A good method grows more uncertain as the images get worse.",
        False),
    "auroc_wrong_vs_right": SeverityCurve(
        "AUROC wrong vs right", ".2f",
        "Does the score rank wrong predictions above right ones? 0.5 = no better than chance.",
        True),
}


def corruption_label(corruption: str) -> str:
    """A corruption's label (``gaussian_noise`` -> ``Gaussian noise``); a name the catalogue
    does not know (a predictions file's own) as it is."""
    return CORRUPTIONS[corruption].label if corruption in CORRUPTIONS else corruption


def corruption_help() -> str:
    """The corruption select box's help: every corruption's label and description."""
    return " ".join(f"{c.label}: {c.description}" for c in CORRUPTIONS.values())


def score_help() -> str:
    """The score select box's help: every uncertainty score's label and meaning."""
    return " ".join(f"{s.label}: {s.meaning}" for s in UNCERTAINTY_SCORES.values())


def corruption_caption(corruption: str) -> str | None:
    """What the corruption does and its five severities; None for a name the catalogue does
    not know."""
    if corruption not in CORRUPTIONS:
        return None
    info = CORRUPTIONS[corruption]
    return f"**{info.label}** — {info.description} Severities 1–5: {', '.join(info.levels)}."


def test_image_count(dataset: str) -> int | None:
    """How many test images the source has; None for a predictions file (no images)."""
    try:
        return len(test_images(dataset))
    except NoImages:
        return None


def severity_curve_figure(table: pd.DataFrame, column: str, methods: list[str]):
    """The ``go.Figure`` of one ``SEVERITY_CURVES`` metric against severity, one line per
    method (``metric_vs_severity_figure``): a rate's axis stays inside [0, 1]; accuracy is
    taller and carries the legend.

    Args:
        table: ``severity_table(studies, corruption, score)``.
        column: a key of ``SEVERITY_CURVES``.
        methods: the methods, in the page's order.
    """
    curve = SEVERITY_CURVES[column]
    x, values = severity_series(table, column, methods)
    return metric_vs_severity_figure(
        x, values, metric_label=curve.label, tickformat=curve.tickformat, rate=curve.rate,
        title=curve.label, y_title=False, height=380 if column == "accuracy" else 300,
        x_title="Severity (0 = clean)", showlegend=column == "accuracy", compact=True)


def label_free_figure(dataset: str, methods: list[str], corruption: str):
    """The ``go.Figure`` of the accuracy estimated without labels (ATC-MC, DoC) beside the true
    accuracy at every severity of ``corruption`` (``estimated_accuracy_figure``)."""
    x, truth, estimates = label_free_severity_series(dataset, tuple(methods), corruption)
    return estimated_accuracy_figure(x, truth, estimates, estimator_labels=ESTIMATOR_LABELS)


def severity_boxes_figure(everything: pd.DataFrame, column: str, methods: list[str]):
    """The ``go.Figure`` of one ``SEVERITY_CURVES`` metric's spread over every corruption at
    each severity, per method (``box_by_severity_figure``; a rate's axis inside [0, 1]).

    Args:
        everything: ``all_corruptions_table(studies, score)``.
    """
    curve = SEVERITY_CURVES[column]
    return box_by_severity_figure(severity_spread(everything, column, methods),
                                  metric_label=curve.label, tickformat=curve.tickformat,
                                  rate=curve.rate)


def severity_boxes_caption(everything: pd.DataFrame, column: str) -> str:
    """How to read ``severity_boxes_figure``: over how many corruptions each box spreads."""
    return (f"Each box spreads {SEVERITY_CURVES[column].label.lower()} over the "
            f"{everything.corruption.nunique()} corruptions at one severity, one colour per "
            "method: higher and narrower boxes are more robust.")


def rotation_chart_figure(dataset: str, methods: list[str], index: int, score: str):
    """The ``go.Figure`` of test digit ``index`` turned through ``ROTATION_ANGLES``: per method
    its ``score`` and predicted class at each angle (``rotation_figure``)."""
    frames = {m: rotated_predictions(dataset, m, index, score) for m in methods}
    return rotation_figure(frames, class_names=dataset_spec(dataset).class_names,
                           angles=ROTATION_ANGLES, score_label=UNCERTAINTY_SCORES[score].label)


def rotation_caption(true_class: str) -> str:
    """How to read ``rotation_chart_figure``, with the digit's true class."""
    return ("Each line is a method; the label on each marker is the class it predicts. "
            f"True class: {true_class}.")


def rotated_images_figure(dataset: str, index: int):
    """The ``go.Figure`` of test digit ``index`` at each of ``ROTATION_ANGLES``, in the order
    of the rotation chart's x axis (``image_grid_figure``)."""
    return image_grid_figure(rotated_images(dataset, index), [f"{a}°" for a in ROTATION_ANGLES],
                             columns=len(ROTATION_ANGLES))
