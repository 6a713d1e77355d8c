"""Referral threshold: choose which cases go to a human, see the consequences live, export."""

from uqviz.ui.frame import require_frame

require_frame()  # before the heavy imports: see uqviz/ui/frame.py

import json
from datetime import date

import numpy as np
import streamlit as st

from uqviz.metrics.classification import confusion_matrix
from uqviz.metrics.scores import UNCERTAINTY_SCORES
from uqviz.metrics.selective import one_vs_rest_rates
from uqviz.plots import (
    confusion_matrix_figure,
    referral_curve_figure,
    sensitivity_specificity_figure,
)
from uqviz.ui.backend import (
    POLICY_KEY,
    NoImages,
    dataset_splits,
    ensure_predictions,
    evaluation_rows,
    referral_curve_of,
    referral_index,
    score_order,
    uncertainty_scores,
)
from uqviz.ui.images import tile_images, upscale_for_display
from uqviz.ui.referral import MODES, operating_point, policy_document
from uqviz.ui.state import current_dataset, current_methods, method_label

st.title("Referral threshold")
st.caption("Cases whose uncertainty is above the threshold go to a human expert; the model "
           "decides the rest. Set the threshold directly, by budget, by target accuracy or by "
           "cost.")
dataset, methods = current_dataset(), current_methods()
preds = ensure_predictions(dataset, methods)
if preds is None:
    st.stop()

c1, c2, c3 = st.columns([1, 1, 2])
method = c1.selectbox("Method", methods, key="ref_method", format_func=method_label,
                      bind="query-params")
score = c2.selectbox("Uncertainty score", list(UNCERTAINTY_SCORES), key="ref_score",
                     format_func=lambda k: UNCERTAINTY_SCORES[k].label, bind="query-params",
                     help=" ".join(f"{s.label}: {s.meaning}" for s in UNCERTAINTY_SCORES.values()))
mode = c3.radio("Set the operating point by", list(MODES), key="ref_mode", horizontal=True,
                format_func=MODES.get, bind="query-params")

rows = evaluation_rows(dataset, method)
index = referral_index(dataset, method, score)
u = uncertainty_scores(dataset, method, score)
curve = referral_curve_of(dataset, method, score)


@st.fragment
def workbench() -> None:
    lo, hi = float(index.sorted_uncertainty[0]), float(index.sorted_uncertainty[-1])
    if mode == "threshold":
        t = st.slider("Threshold on the score (refer above)", lo, max(hi, lo + 1e-6),
                      value=float(np.quantile(u, 0.9)), step=max((hi - lo) / 1000, 1e-6),
                      format="%.4f", key="ref_threshold", bind="query-params")
        point = operating_point(index, "threshold", t)
    elif mode == "budget":
        b = st.slider("Share of cases sent to a human (%)", 0.0, 100.0, 10.0, 0.5,
                      key="ref_budget", bind="query-params")
        point = operating_point(index, "budget", b / 100)
    elif mode == "target":
        a = st.slider("Target accuracy on automated cases (%)", 50.0, 100.0, 99.0, 0.1,
                      key="ref_target", bind="query-params")
        point = operating_point(index, "target", a / 100)
        if not point.reached:
            st.warning(f"{a:.1f}% accuracy is not reachable with this score; showing the "
                       "best that is.")
    else:
        k1, k2 = st.columns(2)
        ce = k1.number_input("Cost of an automated error", 0.0, 1e6, 10.0, key="ref_cost_error",
                             bind="query-params")
        cr = k2.number_input("Cost of a human review", 0.0, 1e6, 1.0, key="ref_cost_review",
                             bind="query-params")
        point = operating_point(index, "cost", (ce, cr))
        st.caption(f"Expected cost per case: **{point.expected_cost:.3f}** (reviews assumed "
                   "correct).")

    m = st.columns(4)
    m[0].metric("Referred to a human", f"{100 * point.referred_fraction:.1f}%",
                help=f"{point.n_referred:,} of {point.n:,} cases; threshold {point.threshold:.4f}")
    acc_lo, acc_hi = point.automated_accuracy_ci
    m[1].metric("Accuracy, automated", f"{100 * point.automated_accuracy:.2f}%",
                help=f"95% CI {100 * acc_lo:.2f}–{100 * acc_hi:.2f}% on "
                     f"{point.n_automated:,} cases")
    m[2].metric("Error rate, automated", f"{100 * point.automated_error_rate:.2f}%")
    r_lo, r_hi = point.referred_accuracy_ci
    m[3].metric("Model accuracy on referred", "–" if np.isnan(point.referred_accuracy)
                else f"{100 * point.referred_accuracy:.1f}%",
                help=f"95% CI {100 * r_lo:.1f}–{100 * r_hi:.1f}%: how often the model would "
                     "have been right on the cases it hands over")
    st.caption(f"95% Wilson intervals — automated accuracy {100 * acc_lo:.2f}–{100 * acc_hi:.2f}%"
               f"; referred {point.n_referred:,} case{'s' * (point.n_referred != 1)} at "
               f"threshold {point.threshold:.4f}.")

    left, right = st.columns(2)
    left.plotly_chart(referral_curve_figure({method: curve}, operating_point=point),
                      theme=None, key="ref_curve")
    left.caption("Accuracy on the cases the model keeps, as more uncertain cases are referred. "
                 "The dashed line is referring at random.")
    keep = u <= point.threshold
    matrix = confusion_matrix(rows.predicted[keep], rows.labels[keep], rows.num_classes)
    right.plotly_chart(confusion_matrix_figure(matrix, rows.names, normalize=False,
                                               title="Automated cases"), theme=None,
                      key="ref_confusion")

    st.subheader("Cases at the border")
    order = score_order(dataset, method, score)
    cut = int(np.searchsorted(u[order], point.threshold, side="right"))
    below, above = order[max(0, cut - 8):cut][::-1], order[cut:cut + 8]
    try:
        test_x = dataset_splits(dataset).test_x.numpy()
    except NoImages as err:
        st.info(f"{err}: the cases at the border cannot be shown as images.")
        test_x = None
    scale = 1 if test_x is None else upscale_for_display(test_x.shape[2])
    for title, idx in [] if test_x is None else [("Just below the threshold (automated)", below),
                       ("Just above the threshold (referred)", above)]:
        st.markdown(f"**{title}**")
        if len(idx) == 0:
            st.caption("none")
            continue
        st.image([tile_images(test_x[i:i + 1], 1, scale=scale) for i in idx],
                 caption=[f"pred {rows.names[rows.predicted[i]]} "
                          f"{'✓' if rows.predicted[i] == rows.labels[i] else '✗'} · true "
                          f"{rows.names[rows.labels[i]]} · u={u[i]:.3f}" for i in idx],
                 width=120)

    st.subheader("One class as positive")
    p1, p2, p3 = st.columns(3)
    positive = p1.selectbox("Positive class", list(range(rows.num_classes)),
                            format_func=lambda c: rows.names[c], key="ref_positive")
    sens_target = p2.number_input("Target sensitivity (%)", 0.0, 100.0, 85.0, key="ref_sens")
    spec_target = p3.number_input("Target specificity (%)", 0.0, 100.0, 80.0, key="ref_spec")
    rates = one_vs_rest_rates(rows.predicted, rows.labels, positive, keep)
    st.plotly_chart(sensitivity_specificity_figure(rates, sens_target / 100, spec_target / 100),
                    theme=None, key="ref_sens_spec")
    st.caption("Sensitivity and specificity on the automated cases, class "
               f"{rows.names[positive]} against the rest, with 95% intervals and your targets.")

    doc = policy_document(dataset=dataset, method=method, score=score, mode=mode, point=point,
                          when=date.today().isoformat())
    st.session_state[POLICY_KEY] = json.dumps(doc)  # the report on Compare includes it
    st.download_button("Export policy (JSON)", json.dumps(doc, indent=2),
                       file_name=f"referral-policy-{dataset}-{method}.json",
                       mime="application/json", key="ref_export")


workbench()
