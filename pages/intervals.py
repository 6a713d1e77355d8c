"""Confidence intervals of the accuracy: Wald, Wilson and bootstrap, and how they shrink."""

from uqviz.ui.frame import require_frame

require_frame()  # before the heavy imports: see uqviz/ui/frame.py

import streamlit as st

from uqviz.plots.intervals import interval_width_figure
from uqviz.ui.backend import ensure_comparison, interval_grid
from uqviz.ui.intervals import committed_rows, subsample_component, subsample_data
from uqviz.ui.state import current_dataset, current_methods, method_label

st.title("How sure is an accuracy? Confidence intervals")
dataset, methods = current_dataset(), current_methods()
comp = ensure_comparison(dataset, methods)
if comp is None:
    st.stop()
try:
    n_total = min(s.n for s in comp.studies.values())
except ValueError:  # no labelled in-distribution row
    n_total = 0
if n_total == 0:
    st.info("This dataset has no labelled clean test rows (every label is −1, or every row is "
            "out-of-distribution or corrupted): an accuracy, and so its interval, needs labels. "
            "Add a `label` column on the **Your predictions** page.")
    st.stop()
try:
    prepared = subsample_data(dataset, tuple(methods))
except ValueError as err:  # more rows than the exact bootstrap handles
    st.error(f"The intervals cannot be shown: {err}.")
    st.stop()
st.markdown(
    "An accuracy measured on n test images is an estimate: another test set would give another "
    "number. A **95% interval** should hold the true accuracy 19 times out of 20. Three ways to "
    "get one: the **normal approximation** (Wald, p̂ ± 1.96·√(p̂(1−p̂)/n)), the **Wilson** score "
    "interval, and the **percentile bootstrap** (resample the test rows; computed here exactly, "
    "as with infinitely many resamples). Use fewer test rows to see them widen like 1/√n, and "
    "where Wald breaks.")
if n_total <= 20:
    st.caption(f"Only {n_total} clean labelled test rows: all are used.")


@st.fragment
def subsample(start: int) -> None:
    # the slider, the chart, the table and the warnings answer in the browser; the widths
    # below update on the committed size (release, or a pause in key presses)
    size = subsample_component(prepared, dataset, methods, start)

    st.subheader("Widths shrink like 1/√n")
    shown = st.selectbox("Method", methods, format_func=method_label, key="ci_width_method")
    st.plotly_chart(interval_width_figure(interval_grid(dataset, shown), method=shown,
                                          size=size), theme=None, key="ci_widths")
    st.caption("Interval width against the number of test rows (log scale). Four times the "
               "rows halves the width (grey line); the dotted line marks the rows chosen above. "
               "A Wald width that drops to 0 at small n is a subsample the model got entirely "
               "right, not certainty.")


subsample(committed_rows(prepared, dataset))
