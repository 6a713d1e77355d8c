"""Compare methods: metric table with CIs, reliability, risk–coverage, scores, confusion."""

from uqviz.ui.frame import require_frame

require_frame()  # before the heavy imports: see uqviz/ui/frame.py

from datetime import date

import streamlit as st

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
    ensure_stream_comparison,
    report_html,
    source_label,
)
from uqviz.ui.catalog import UNCERTAINTY_SCORES
from uqviz.ui.state import current_dataset, current_methods, method_label
from uqviz.ui.tables import TABLE_PARTS, metric_column_config, metric_frame

st.title("Compare methods")
dataset, methods = current_dataset(), current_methods()
comp = ensure_stream_comparison(dataset, methods)
if comp is None:
    st.stop()
studies = comp.studies
stream_rows = next(iter(studies.values())).stream.n
st.caption(f"{source_label(dataset)}: {comp.n:,} labelled rows of a stream of {stream_rows:,} "
           f"({comp.mix.describe()}). 95% intervals from {bootstrap_resamples(comp.n):,} "
           "bootstrap resamples; ★ marks the best value per column.")

with st.spinner("Computing bootstrap intervals…"):
    table = comp.metric_table()
for heading, keys in TABLE_PARTS:
    shown = [k for k in keys if k in table.metrics]
    st.markdown(f"**{heading}** — hover a column name for its meaning")
    st.dataframe(metric_frame(table, shown), hide_index=True, width="stretch",
                 column_config=metric_column_config(shown))


@st.fragment
def reliability_panel() -> None:
    st.subheader("Reliability: does 80% confident mean 80% right?")
    st.caption("Bars show the accuracy in each confidence bin; the diagonal is perfect "
               "calibration. Bars below it mean overconfidence. The strip underneath counts "
               "images per bin.")
    bins = {m: s.reliability for m, s in studies.items()}
    if st.toggle("Overlay all methods on one diagram", key="compare_overlay"):
        st.plotly_chart(reliability_overlay_figure(bins), theme=None, key="reliability_overlay")
        return
    for start in range(0, len(methods), 3):
        cols = st.columns(3)
        for col, m in zip(cols, methods[start:start + 3], strict=False):
            col.plotly_chart(reliability_figure(bins[m], method=m), theme=None,
                             key=f"reliability_{m}")


@st.fragment
def ranking_panel() -> None:
    st.subheader("Risk–coverage: how good is the uncertainty ranking?")
    st.caption("Keep the most confident share of images (coverage) and measure the error rate "
               "on them (risk). Lower curves are better; AURC is the area under each curve.")
    score = st.selectbox("Uncertainty score", list(UNCERTAINTY_SCORES), key="compare_score",
                         format_func=lambda k: UNCERTAINTY_SCORES[k].label,
                         help=" ".join(f"{s.label}: {s.meaning}"
                                       for s in UNCERTAINTY_SCORES.values()))
    st.plotly_chart(risk_coverage_figure({m: s.risk_coverage(score) for m, s in studies.items()}),
                    theme=None, key="risk_coverage")
    st.subheader("Uncertainty of right and wrong predictions")
    st.caption(f"{UNCERTAINTY_SCORES[score].label} for correctly and wrongly classified test "
               "images. A useful score puts the wrong ones to the right.")
    for start in range(0, len(methods), 3):
        cols = st.columns(3)
        for col, m in zip(cols, methods[start:start + 3], strict=False):
            right, wrong = studies[m].right_and_wrong(score)
            col.plotly_chart(score_histogram_figure(
                right, wrong, score_label=UNCERTAINTY_SCORES[score].label, method=m,
                title=method_label(m)), theme=None, key=f"hist_{m}")


@st.fragment
def confusion_panel() -> None:
    st.subheader("Confusion matrices")
    normalize = st.radio("Show", ["counts", "row-normalised"], horizontal=True,
                         key="compare_confusion_mode") == "row-normalised"
    st.caption("Rows are the true class, columns the predicted one.")
    tabs = st.tabs([method_label(m) for m in methods])
    for tab, (m, s) in zip(tabs, studies.items(), strict=True):
        tab.plotly_chart(confusion_matrix_figure(s.confusion, s.rows.names, normalize=normalize,
                                                 title=method_label(m)), theme=None,
                         key=f"confusion_{m}")


reliability_panel()
ranking_panel()
confusion_panel()

st.subheader("Share it")
today = date.today().isoformat()
st.download_button(
    "Download the report (HTML)", key="compare_report", type="primary",
    data=lambda: report_html(dataset, tuple(methods), st.session_state.get(POLICY_KEY), today,
                             comp.mix),
    file_name=f"uqviz-report-{today}.html", mime="text/html",
    help="One self-contained file that opens offline: the metric table with intervals, the "
         "reliability and risk–coverage charts, the referral policy last set on the Referral "
         "page, and a conformal summary.")
