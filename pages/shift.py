"""Dataset shift: how accuracy, calibration and uncertainty change as test images are corrupted."""

from uqviz.ui.frame import require_frame

require_frame()  # before the heavy imports: see uqviz/ui/frame.py

import streamlit as st

from uqviz.plots import box_by_severity_figure, image_grid_figure, metric_vs_severity_figure
from uqviz.plots.shift import estimated_accuracy_figure, rotation_figure
from uqviz.ui.backend import (
    YOUR_MODEL,
    NoImages,
    dataset_spec,
    ensure_comparison,
    source,
    test_images,
)
from uqviz.ui.catalog import CORRUPTIONS, ROTATION_ANGLES, UNCERTAINTY_SCORES
from uqviz.ui.shift_backend import (
    ESTIMATOR_LABELS,
    all_corruptions_table,
    label_free_severity_series,
    rotated_images,
    rotated_predictions,
    severity_series,
    severity_spread,
    severity_table,
    shift_corruptions,
)
from uqviz.ui.shift_strip import severity_strip
from uqviz.ui.state import current_dataset, current_methods

CURVES = {  # column -> (label, tickformat, how to read it)
    "accuracy": ("Accuracy", ".0%", "Share of correct predictions: falls as the shift grows."),
    "ece": ("ECE", ".2f", "Calibration error: how far confidence drifts from accuracy."),
    "nll": ("NLL", ".2f", "Negative log-likelihood: punishes confident mistakes hardest."),
    "mean_uncertainty": ("Mean uncertainty", ".2f",
                         "A good method grows more uncertain as the images get worse."),
    "auroc_wrong_vs_right": ("AUROC wrong vs right", ".2f",
                             "Does the score rank wrong predictions above right ones? "
                             "0.5 = no better than chance."),
}
RATES = {"accuracy", "ece", "auroc_wrong_vs_right"}  # in [0, 1]: the axis stays inside it


def corruption_label(c: str) -> str:
    return CORRUPTIONS[c].label if c in CORRUPTIONS else c


st.title("Dataset shift")
st.caption("Real inputs drift from the training data: noise, blur, bad lighting, a tilted "
           "scan. A trustworthy model loses accuracy gracefully and says so by growing more "
           "uncertain (Ovadia et al. 2019).")
dataset, methods = current_dataset(), current_methods()
comp = ensure_comparison(dataset, methods, plan="shift")
if comp is None:
    st.stop()
studies = comp.studies
available = shift_corruptions(studies[methods[0]].predictions, order=CORRUPTIONS)
if not available:
    st.info("This predictions file has no corrupted copies of the test set (groups named "
            "`<corruption>:<severity>`, e.g. `gaussian_noise:3`). The page needs them, or a "
            "trained dataset (digits, mnist5k …) where the app corrupts the images itself.")
    st.stop()

c1, c2 = st.columns(2)
corruption = c1.selectbox(
    "Corruption", available, key="shift_corruption", format_func=corruption_label,
    help=" ".join(f"{c.label}: {c.description}" for c in CORRUPTIONS.values()))
score = c2.selectbox("Uncertainty score", list(UNCERTAINTY_SCORES), key="shift_score",
                     index=list(UNCERTAINTY_SCORES).index("entropy"),
                     format_func=lambda k: UNCERTAINTY_SCORES[k].label,
                     help=" ".join(f"{s.label}: {s.meaning}" for s in UNCERTAINTY_SCORES.values()))
if corruption in CORRUPTIONS:
    info = CORRUPTIONS[corruption]
    st.caption(f"**{info.label}** — {info.description} Severities 1–5: {', '.join(info.levels)}.")

try:
    n_images = len(test_images(dataset))
except NoImages:
    n_images = None
table = severity_table(studies.values(), corruption, score)


@st.fragment
def example_strip() -> None:
    # the slider, the eight images, their captions and the numbers answer in the browser;
    # Python hears the committed severity (session state and URL: shift_severity)
    severity_strip(studies, table, dataset=dataset, corruption=corruption, score=score,
                   n_images=n_images)
    if n_images is None:
        st.caption("A predictions file has no images to show.")


example_strip()

st.subheader(f"Metrics against severity: {corruption_label(corruption)}")
cols = [*st.columns(3), *st.columns(3)[:2]]
for col, (column, (label, fmt, how)) in zip(cols, CURVES.items(), strict=True):
    x, values = severity_series(table, column, methods)
    col.plotly_chart(metric_vs_severity_figure(
        x, values, metric_label=label, tickformat=fmt, rate=column in RATES, title=label,
        y_title=False,
        height=380 if column == "accuracy" else 300, x_title="Severity (0 = clean)",
        showlegend=column == "accuracy", compact=True), theme=None, key=f"shift_curve_{column}")
    col.caption(how)

st.subheader(f"Accuracy without labels, and how far to trust it: {corruption_label(corruption)}")
x, truth, estimates = label_free_severity_series(dataset, tuple(methods), corruption)
st.plotly_chart(estimated_accuracy_figure(x, truth, estimates, estimator_labels=ESTIMATOR_LABELS),
                theme=None, key="shift_label_free")
st.caption("Half of the clean test images are a labelled reference; the other half, clean and "
           "corrupted, is estimated without its labels (dashed, 95% interval) beside its true "
           "accuracy (solid). Where they part, the Monitor page's estimate is off as far.")

st.subheader("Summary over every corruption")
summary_metric = st.selectbox("Metric", list(CURVES), key="shift_summary_metric",
                              format_func=lambda c: CURVES[c][0])
everything = all_corruptions_table(studies.values(), score)
label, fmt, _ = CURVES[summary_metric]
st.plotly_chart(box_by_severity_figure(severity_spread(everything, summary_metric, methods),
                                       metric_label=label, tickformat=fmt,
                                       rate=summary_metric in RATES),
                theme=None, key="shift_boxes")
st.caption(f"Each box spreads {label.lower()} over the {everything.corruption.nunique()} "
           "corruptions at one severity, one colour per method: higher and narrower boxes "
           "are more robust.")

spec = None if n_images is None else dataset_spec(dataset)
if source(dataset).kind == YOUR_MODEL:
    st.info("The rotated digit needs a built-in digits dataset (it refits the app's networks); "
            "the charts above are your model on your images.")
elif spec is not None and spec.is_digits:
    st.subheader("The rotated digit")
    st.caption("Turn one test digit through 180°: past some angle it stops looking like its "
               "class. A good method's uncertainty rises there (Gal & Ghahramani 2016).")
    index = int(st.number_input("Test digit (index)", 0, n_images - 1, 0, key="shift_digit"))
    names = spec.class_names
    frames = {m: rotated_predictions(dataset, m, index, score) for m in methods}
    st.plotly_chart(rotation_figure(frames, class_names=names, angles=ROTATION_ANGLES,
                                    score_label=UNCERTAINTY_SCORES[score].label),
                    theme=None, key="shift_rotation")
    st.caption("Each line is a method; the label on each marker is the class it predicts. "
               f"True class: {names[studies[methods[0]].rows.labels[index]]}.")
    st.plotly_chart(image_grid_figure(rotated_images(dataset, index),
                                      [f"{a}°" for a in ROTATION_ANGLES],
                                      columns=len(ROTATION_ANGLES)),
                    theme=None, key="shift_rotated_images")
    st.caption("The same digit at each angle, in the order of the chart's x axis.")
