"""Dataset shift: how accuracy, calibration and uncertainty change as test images are corrupted."""

from uqviz.ui.frame import require_frame

require_frame()  # before the heavy imports: see uqviz/ui/frame.py

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from uqviz.metrics.scores import UNCERTAINTY_SCORES, uncertainty
from uqviz.plots import (
    TEMPLATE,
    box_by_severity_figure,
    image_grid_figure,
    method_color,
    metric_vs_severity_figure,
)
from uqviz.shifts import CORRUPTIONS, ROTATION_ANGLES
from uqviz.ui.backend import NoImages, dataset_spec, dataset_splits
from uqviz.ui.images import tile_images, upscale_for_display
from uqviz.ui.shift_backend import (
    SEVERITY_LEVELS,
    all_corruptions_table,
    corrupted_test_images,
    ensure_shift_predictions,
    group_rows,
    rotated_images,
    rotated_predictions,
    severity_table,
    shift_corruptions,
)
from uqviz.ui.state import current_dataset, current_methods, method_label

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
STRIP_SIZE = 8

st.title("Dataset shift")
st.caption("Real inputs drift from the training data: noise, blur, bad lighting, a tilted "
           "scan. A trustworthy model loses accuracy gracefully and says so by growing more "
           "uncertain (Ovadia et al. 2019).")
dataset, methods = current_dataset(), current_methods()
preds = ensure_shift_predictions(dataset, methods)
if preds is None:
    st.stop()

available = [c for c in CORRUPTIONS if c in shift_corruptions(preds[methods[0]])]
available += [c for c in shift_corruptions(preds[methods[0]]) if c not in available]
if not available:
    st.info("This predictions file has no corrupted copies of the test set (groups named "
            "`<corruption>:<severity>`, e.g. `gaussian_noise:3`). The page needs them, or a "
            "trained dataset (digits, mnist5k …) where the app corrupts the images itself.")
    st.stop()

c1, c2 = st.columns(2)
corruption = c1.selectbox(
    "Corruption", available, key="shift_corruption",
    format_func=lambda c: CORRUPTIONS[c].label if c in CORRUPTIONS else c,
    help=" ".join(f"{c.label}: {c.description}" for c in CORRUPTIONS.values()))
score = c2.selectbox("Uncertainty score", list(UNCERTAINTY_SCORES), key="shift_score",
                     index=list(UNCERTAINTY_SCORES).index("entropy"),
                     format_func=lambda k: UNCERTAINTY_SCORES[k].label,
                     help=" ".join(f"{s.label}: {s.meaning}" for s in UNCERTAINTY_SCORES.values()))
if corruption in CORRUPTIONS:
    info = CORRUPTIONS[corruption]
    st.caption(f"**{info.label}** — {info.description} Severities 1–5: {', '.join(info.levels)}.")

try:
    test_x = dataset_splits(dataset).test_x
except NoImages:
    test_x = None


def short_label(method: str) -> str:
    """A method's label short enough for a narrow column ("Deep ensemble" -> "Deep")."""
    label = method_label(method)
    return label if len(label) <= 10 else label.split()[0]


@st.fragment
def example_strip() -> None:
    severity = st.slider("Severity (0 = clean)", 0, 5, 3, key="shift_severity",
                         help="Drag to corrupt the images more; the predictions below follow.")
    if test_x is None:
        st.caption("A predictions file has no images to show.")
        return
    picks = np.linspace(0, len(test_x) - 1, STRIP_SIZE).round().astype(int)
    images = corrupted_test_images(dataset, corruption, severity)[picks]
    rows = {m: group_rows(preds[m], corruption, severity) for m in methods}
    first = rows[methods[0]]
    u = {m: uncertainty(r.probs[:, picks], score) for m, r in rows.items()}
    scale = upscale_for_display(images.shape[2])
    for k, (col, i) in enumerate(zip(st.columns(STRIP_SIZE), picks, strict=True)):
        col.image(tile_images(images[k:k + 1], 1, scale=scale), width="stretch")
        lines = [f"**true {first.names[first.labels[i]]}**"]
        lines += [f"{short_label(m)} {r.names[r.predicted[i]]}"
                  f"{'✓' if r.predicted[i] == r.labels[i] else '✗'} {u[m][k]:.2f}"
                  for m, r in rows.items()]
        col.caption("  \n".join(lines))
    st.caption(f"Eight test images at severity {severity}; under each, every method's "
               f"prediction (✓ right, ✗ wrong), then its {UNCERTAINTY_SCORES[score].label}.")


example_strip()

corruption_label = CORRUPTIONS[corruption].label if corruption in CORRUPTIONS else corruption
st.subheader(f"Metrics against severity: {corruption_label}")
table = severity_table(dataset, tuple(methods), corruption, score)
cols = [*st.columns(3), *st.columns(3)[:2]]
for col, (column, (label, fmt, how)) in zip(cols, CURVES.items(), strict=True):
    values = {m: table.loc[table.method == m, column].to_numpy() for m in methods}
    x = table.loc[table.method == methods[0], "severity"].to_numpy()
    fig = metric_vs_severity_figure(x, values, metric_label=label, tickformat=fmt, title=label,
                                    height=300 if column != "accuracy" else 380)
    fig.update_layout(showlegend=column == "accuracy", margin=dict(l=50, r=10, t=40, b=40),
                      legend=dict(orientation="h", x=0.0, y=-0.3, xanchor="left",
                                  yanchor="top"))
    fig.update_xaxes(title_text="Severity (0 = clean)")
    fig.update_yaxes(title_text=None)
    col.plotly_chart(fig, theme=None, key=f"shift_curve_{column}")
    col.caption(how)

st.subheader("Summary over every corruption")
summary_metric = st.selectbox("Metric", list(CURVES), key="shift_summary_metric",
                              format_func=lambda c: CURVES[c][0])
everything = all_corruptions_table(dataset, tuple(methods), score)
boxes = {m: {s: everything.loc[(everything.method == m) & (everything.severity == s),
                               summary_metric].dropna().to_numpy()
             for s in SEVERITY_LEVELS} for m in methods}
label, fmt, _ = CURVES[summary_metric]
st.plotly_chart(box_by_severity_figure(boxes, metric_label=label, tickformat=fmt),
                theme=None, key="shift_boxes")
st.caption(f"Each box spreads {label.lower()} over the {everything.corruption.nunique()} "
           "corruptions at one severity, one colour per method: higher and narrower boxes "
           "are more robust.")

spec = None if test_x is None else dataset_spec(dataset)
if spec is not None and spec.is_digits:
    st.subheader("The rotated digit")
    st.caption("Turn one test digit through 180°: past some angle it stops looking like its "
               "class. A good method's uncertainty rises there (Gal & Ghahramani 2016).")
    index = int(st.number_input("Test digit (index)", 0, len(test_x) - 1, 0,
                                key="shift_digit"))
    frames = {m: rotated_predictions(dataset, m, index, score) for m in methods}
    names = spec.class_names
    fig = go.Figure()
    for m, frame in frames.items():
        fig.add_trace(go.Scatter(
            x=frame.angle, y=frame.uncertainty, mode="lines+markers+text", name=method_label(m),
            text=[names[c] for c in frame.predicted], textposition="top center",
            line=dict(color=method_color(m), width=2.5), marker=dict(size=8),
            textfont=dict(color=method_color(m)),
            customdata=np.column_stack([[names[c] for c in frame.predicted], frame.confidence]),
            hovertemplate=("%{x}°: predicts %{customdata[0]} (p=%{customdata[1]:.2f})<br>"
                           f"{UNCERTAINTY_SCORES[score].label} %{{y:.3f}}"
                           f"<extra>{method_label(m)}</extra>")))
    fig.update_xaxes(title_text="Rotation (degrees)", tickvals=list(ROTATION_ANGLES))
    fig.update_yaxes(title_text=UNCERTAINTY_SCORES[score].label)
    fig.update_layout(template=TEMPLATE, height=420, title="Uncertainty and predicted class "
                      "as the digit turns", legend=dict(orientation="h", y=-0.2))
    st.plotly_chart(fig, theme=None, key="shift_rotation")
    st.caption("Each line is a method; the label on each marker is the class it predicts. "
               f"True class: {names[int(dataset_splits(dataset).test_y[index])]}.")
    st.plotly_chart(image_grid_figure(rotated_images(dataset, index),
                                      [f"{a}°" for a in ROTATION_ANGLES],
                                      columns=len(ROTATION_ANGLES)),
                    theme=None, key="shift_rotated_images")
    st.caption("The same digit at each angle, in the order of the chart's x axis.")
