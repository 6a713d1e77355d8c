"""Dataset shift: how accuracy, calibration and uncertainty change as test images are corrupted."""

from uqviz.ui.frame import require_frame

require_frame()  # before the heavy imports: see uqviz/ui/frame.py

import streamlit as st

from uqviz.ui.backend import YOUR_MODEL, dataset_spec, ensure_comparison, source
from uqviz.ui.catalog import CORRUPTIONS, UNCERTAINTY_SCORES
from uqviz.ui.shift_backend import (
    LABEL_FREE_CAPTION,
    NO_CORRUPTIONS,
    NO_ROTATION,
    SEVERITY_CURVES,
    all_corruptions_table,
    corruption_caption,
    corruption_help,
    corruption_label,
    label_free_figure,
    rotated_images_figure,
    rotation_caption,
    rotation_chart_figure,
    score_help,
    severity_boxes_caption,
    severity_boxes_figure,
    severity_curve_figure,
    severity_table,
    shift_corruptions,
    test_image_count,
)
from uqviz.ui.shift_strip import severity_strip
from uqviz.ui.state import current_dataset, current_methods

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
    st.info(NO_CORRUPTIONS)
    st.stop()

c1, c2 = st.columns(2)
corruption = c1.selectbox("Corruption", available, key="shift_corruption",
                          format_func=corruption_label, help=corruption_help())
score = c2.selectbox("Uncertainty score", list(UNCERTAINTY_SCORES), key="shift_score",
                     index=list(UNCERTAINTY_SCORES).index("entropy"),
                     format_func=lambda k: UNCERTAINTY_SCORES[k].label, help=score_help())
if (about := corruption_caption(corruption)) is not None:
    st.caption(about)

n_images = test_image_count(dataset)
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
for col, (column, curve) in zip(cols, SEVERITY_CURVES.items(), strict=True):
    col.plotly_chart(severity_curve_figure(table, column, methods), theme=None,
                     key=f"shift_curve_{column}")
    col.caption(curve.how)

st.subheader(f"Accuracy without labels, and how far to trust it: {corruption_label(corruption)}")
st.plotly_chart(label_free_figure(dataset, methods, corruption), theme=None,
                key="shift_label_free")
st.caption(LABEL_FREE_CAPTION)

st.subheader("Summary over every corruption")
summary_metric = st.selectbox("Metric", list(SEVERITY_CURVES), key="shift_summary_metric",
                              format_func=lambda c: SEVERITY_CURVES[c].label)
everything = all_corruptions_table(studies.values(), score)
st.plotly_chart(severity_boxes_figure(everything, summary_metric, methods), theme=None,
                key="shift_boxes")
st.caption(severity_boxes_caption(everything, summary_metric))

spec = None if n_images is None else dataset_spec(dataset)
if source(dataset).kind == YOUR_MODEL:
    st.info(NO_ROTATION)
elif spec is not None and spec.is_digits:
    st.subheader("The rotated digit")
    st.caption("Turn one test digit through 180°: past some angle it stops looking like its "
               "class. A good method's uncertainty rises there (Gal & Ghahramani 2016).")
    index = int(st.number_input("Test digit (index)", 0, n_images - 1, 0, key="shift_digit"))
    st.plotly_chart(rotation_chart_figure(dataset, methods, index, score), theme=None,
                    key="shift_rotation")
    st.caption(rotation_caption(spec.class_names[studies[methods[0]].rows.labels[index]]))
    st.plotly_chart(rotated_images_figure(dataset, index), theme=None,
                    key="shift_rotated_images")
    st.caption("The same digit at each angle, in the order of the chart's x axis.")
