"""Monitor the stream: batch by batch, the drift alarm, accuracy estimated without labels beside
the truth, referred and out-of-distribution shares (numbers from ``uqviz.monitor``)."""

from uqviz.ui.frame import require_frame

require_frame()  # before the heavy imports: see uqviz/ui/frame.py

import streamlit as st

from uqviz.labels import method_label
from uqviz.plots.monitor import monitor_figure
from uqviz.ui.backend import ensure_comparison, source_label
from uqviz.ui.monitor import (
    ALARM_HELP,
    DEMO,
    DEMO_ESTIMATOR,
    DEMO_REFERRED_SHARE,
    DEMO_SCORE,
    DEMO_TARGET_ACCURACY,
    ESTIMATE_HELP,
    ESTIMATORS,
    alarm_sentence,
    batch_size_range,
    default_method,
    estimate_sentence,
    score_choices,
    score_help,
    score_label,
    score_option_label,
    settings_text,
    stream_kind,
    unavailable_line,
    watch,
    watched_stream,
)
from uqviz.ui.state import current_dataset, current_methods

st.title("Monitor the stream")
st.caption("A deployed model meets images that drift (a new scanner, a darker room) and labels "
           "that arrive late or never. The **drift alarm** needs no labels: while the stream "
           "stays like the reference, the chance that it *ever* fires, however long you watch, "
           "is at most α (a conformal test martingale). The **accuracy estimated without "
           "labels** is only as good as the Dataset shift page shows for such a shift: under "
           "corruption it can stay high while the true accuracy falls.")
dataset, methods = current_dataset(), current_methods()
comp = ensure_comparison(dataset, methods)
if comp is None:
    st.stop()
kind = stream_kind(dataset)

c1, c2, c3 = st.columns(3)
method = c1.selectbox("Method", methods, index=methods.index(default_method(methods)),
                      key="monitor_method", format_func=method_label)
estimator = c3.selectbox(
    "Accuracy estimated without labels by", list(ESTIMATORS), key="monitor_estimator",
    index=list(ESTIMATORS).index(DEMO_ESTIMATOR), format_func=lambda e: ESTIMATORS[e].label,
    help=ESTIMATE_HELP + " " + " ".join(f"{e.label}: {e.description}."
                                        for e in ESTIMATORS.values()))
try:
    watched = watched_stream(dataset, method, kind)
except ValueError as err:
    st.error(f"{source_label(dataset)} gives no stream to watch: {err}. The monitor needs "
             "labelled rows for its reference; upload a file with a `label` column.")
    st.stop()
scores, unavailable = score_choices(dataset, method, kind)
score = c2.selectbox("Score (referral, OOD flags, drift test)", scores, key="monitor_score",
                     index=scores.index(DEMO_SCORE), format_func=score_option_label,
                     help=score_help(scores))
what = "A demo stream" if kind == DEMO else "Your stream"
st.caption(f"{what} of {source_label(dataset)}, {method_label(method)}: {watched.description}. "
           f"Referral refers the cases with a higher {score_label(score)} than "
           f"{1 - DEMO_REFERRED_SHARE:.0%} of the reference; the accuracy alarm tests "
           f"{DEMO_TARGET_ACCURACY:.0%} on the automated cases whose label is known. "
           + unavailable_line(unavailable))


@st.fragment
def monitor_panel() -> None:
    n = watched.stream.n
    low, high, default, step = batch_size_range(n)
    c1, c2, c3 = st.columns([2, 2, 1])
    batch_size = c1.slider("Batch size (cases per batch)", low, high, default, step,
                           key="monitor_batch_size" + ("" if kind == DEMO else f"_{n}"))
    alpha = c2.slider("α: chance of a false alarm over the whole stream", 0.01, 0.20, 0.05,
                      0.01, key="monitor_alpha", help=ALARM_HELP)
    by_group = (kind != DEMO and len(set(watched.origin)) > 1
                and c3.toggle("One batch per group", key="monitor_by_group",
                              help="Batches from the file's `group` column, sorted by name"))
    w = watch(dataset, method, kind, batch_size, bool(by_group), alpha, estimator, score)
    s = w.summary
    st.markdown(f"**{alarm_sentence(s)}** {estimate_sentence(s)}")
    settings = settings_text(w.result.score_settings, w.result.n_score_fit,
                             w.result.n_calibration)
    if settings:
        st.caption(f"{score_label(score)}: {settings}.")
    st.plotly_chart(monitor_figure(w.result, method=method,
                                   estimator_label=ESTIMATORS[estimator].label,
                                   drift_batch=s.drift_batch,
                                   score_label=score_label(score)),
                    theme=None, key="monitor_chart")
    st.caption("Top: accuracy per batch, estimated without labels (dashed, with its "
               f"{1 - alpha:.0%} interval) beside the truth. Middle: the share referred to a "
               "human, the share flagged out-of-distribution (above the reference's 95% "
               "quantile) and the mean confidence. Bottom: the drift test's evidence; the "
               "alarm fires when it crosses log10(1/α). The grey band is where the demo "
               "stream drifts.")


monitor_panel()
st.page_link("pages/shift.py", label="How far to trust the estimate: Dataset shift →")
st.page_link("pages/referral.py", label="Choose the referral threshold: Referral threshold →")
