"""Compare methods: metric table with CIs, reliability, risk–coverage, scores, confusion."""

from uqviz.ui.frame import require_frame

require_frame()  # before the heavy imports: see uqviz/ui/frame.py

from datetime import date

import streamlit as st

from uqviz.metrics.calibration import reliability_bins
from uqviz.metrics.classification import confusion_matrix
from uqviz.metrics.scores import UNCERTAINTY_SCORES
from uqviz.metrics.selective import risk_coverage_curve
from uqviz.plots import (
    confusion_matrix_figure,
    reliability_figure,
    reliability_overlay_figure,
    risk_coverage_figure,
    score_histogram_figure,
)
from uqviz.ui.backend import (
    POLICY_KEY,
    bootstrap_resamples,
    comparison_table,
    display_sample,
    ensure_predictions,
    evaluation_rows,
    report_html,
    uncertainty_scores,
)
from uqviz.ui.files import display_name
from uqviz.ui.state import current_dataset, current_methods, method_label
from uqviz.ui.tables import TABLE_PARTS, metric_column_config, metric_frame

st.title("Compare methods")
dataset, methods = current_dataset(), current_methods()
preds = ensure_predictions(dataset, methods)
if preds is None:
    st.stop()
n_rows = evaluation_rows(dataset, methods[0]).n
st.caption(f"{display_name(dataset)}: {n_rows:,} clean labelled test rows. 95% intervals from "
           f"{bootstrap_resamples(n_rows):,} bootstrap resamples; ★ marks the best value per "
           "column.")

table = comparison_table(dataset, tuple(methods))
for heading, keys in TABLE_PARTS:
    shown = [k for k in keys if k in table.metrics]
    st.markdown(f"**{heading}** — hover a column name for its meaning")
    st.dataframe(metric_frame(table, shown), hide_index=True, width="stretch",
                 column_config=metric_column_config(shown))

st.subheader("Reliability: does 80% confident mean 80% right?")
st.caption("Bars show the accuracy in each confidence bin; the diagonal is perfect calibration. "
           "Bars below it mean overconfidence. The strip underneath counts images per bin.")
bins = {m: reliability_bins(evaluation_rows(dataset, m).mean_probs,
                            evaluation_rows(dataset, m).labels) for m in methods}
if st.toggle("Overlay all methods on one diagram", key="compare_overlay"):
    st.plotly_chart(reliability_overlay_figure(bins), theme=None, key="reliability_overlay")
else:
    for start in range(0, len(methods), 3):
        cols = st.columns(3)
        for col, m in zip(cols, methods[start:start + 3], strict=False):
            col.plotly_chart(reliability_figure(bins[m], method=m), theme=None,
                             key=f"reliability_{m}")

st.subheader("Risk–coverage: how good is the uncertainty ranking?")
st.caption("Keep the most confident share of images (coverage) and measure the error rate on "
           "them (risk). Lower curves are better; AURC is the area under each curve.")
score = st.selectbox("Uncertainty score", list(UNCERTAINTY_SCORES), key="compare_score",
                     format_func=lambda k: UNCERTAINTY_SCORES[k].label,
                     help=" ".join(f"{s.label}: {s.meaning}" for s in UNCERTAINTY_SCORES.values()))
curves = {}
for m in methods:
    rows_m = evaluation_rows(dataset, m)
    curves[m] = risk_coverage_curve(uncertainty_scores(dataset, m, score),
                                    rows_m.predicted == rows_m.labels)
st.plotly_chart(risk_coverage_figure(curves), theme=None, key="risk_coverage")

st.subheader("Uncertainty of right and wrong predictions")
st.caption(f"{UNCERTAINTY_SCORES[score].label} for correctly and wrongly classified test "
           "images. A useful score puts the wrong ones to the right.")
for start in range(0, len(methods), 3):
    cols = st.columns(3)
    for col, m in zip(cols, methods[start:start + 3], strict=False):
        rows_m = evaluation_rows(dataset, m)
        keep = display_sample(rows_m.n)
        correct = (rows_m.predicted == rows_m.labels)[keep]
        u = uncertainty_scores(dataset, m, score)[keep]
        col.plotly_chart(score_histogram_figure(u[correct], u[~correct],
                                                score_label=UNCERTAINTY_SCORES[score].label,
                                                method=m, title=method_label(m)),
                         theme=None, key=f"hist_{m}")

st.subheader("Confusion matrices")
normalize = st.radio("Show", ["counts", "row-normalised"], horizontal=True,
                     key="compare_confusion_mode") == "row-normalised"
st.caption("Rows are the true class, columns the predicted one.")
tabs = st.tabs([method_label(m) for m in methods])
for tab, m in zip(tabs, methods, strict=True):
    rows_m = evaluation_rows(dataset, m)
    matrix = confusion_matrix(rows_m.predicted, rows_m.labels, rows_m.num_classes)
    tab.plotly_chart(confusion_matrix_figure(matrix, rows_m.names, normalize=normalize,
                                             title=method_label(m)), theme=None,
                  key=f"confusion_{m}")

st.subheader("Share it")
today = date.today().isoformat()
st.download_button(
    "Download the report (HTML)", key="compare_report", type="primary",
    data=lambda: report_html(dataset, tuple(methods), st.session_state.get(POLICY_KEY), today),
    file_name=f"uqviz-report-{today}.html", mime="text/html",
    help="One self-contained file that opens offline: the metric table with intervals, the "
         "reliability and risk–coverage charts, the referral policy last set on the Referral "
         "page, and a conformal summary.")
