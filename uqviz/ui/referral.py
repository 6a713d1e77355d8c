"""The referral workbench's controls: one slider or pair of costs per mode, and its numbers."""

from __future__ import annotations

import math

import numpy as np
import streamlit as st

from uqviz.metrics.selective import OperatingPoint
from uqviz.study import Study


def operating_point_controls(study: Study, score: str, mode: str) -> OperatingPoint:
    """The widget of ``mode`` (threshold, budget, target accuracy or costs, each bound to the
    URL) and the operating point it sets."""
    index = study.referral_index(score)
    if mode == "threshold":
        lo, hi = float(index.sorted_uncertainty[0]), float(index.sorted_uncertainty[-1])
        default = float(np.quantile(index.sorted_uncertainty, 0.9))
        t = st.slider("Threshold on the score (refer above)", lo, max(hi, lo + 1e-6),
                      value=default, step=max((hi - lo) / 1000, 1e-6), format="%.4f",
                      key="ref_threshold", bind="query-params")
        return study.operating_point(score, "threshold", t)
    if mode == "budget":
        b = st.slider("Share of cases sent to a human (%)", 0.0, 100.0, 10.0, 0.5,
                      key="ref_budget", bind="query-params")
        return study.operating_point(score, "budget", b / 100)
    if mode == "target":
        a = st.slider("Target accuracy on automated cases (%)", 50.0, 100.0, 99.0, 0.1,
                      key="ref_target", bind="query-params")
        point = study.operating_point(score, "target", a / 100)
        if not point.reached:
            st.warning(f"{a:.1f}% accuracy is not reachable with this score; showing the "
                       "best that is.")
        return point
    k1, k2 = st.columns(2)
    ce = k1.number_input("Cost of an automated error", 0.0, 1e6, 10.0, key="ref_cost_error",
                         bind="query-params")
    cr = k2.number_input("Cost of a human review", 0.0, 1e6, 1.0, key="ref_cost_review",
                         bind="query-params")
    point = study.operating_point(score, "cost", (ce, cr))
    st.caption(f"Expected cost per case: **{point.expected_cost:.3f}** (reviews assumed "
               "correct).")
    return point


def operating_point_metrics(point: OperatingPoint) -> None:
    """Share referred, accuracy and error on the automated cases, accuracy on the referred,
    with 95% Wilson intervals."""
    m = st.columns(4)
    m[0].metric("Referred to a human", f"{100 * point.referred_fraction:.1f}%",
                help=f"{point.n_referred:,} of {point.n:,} cases; threshold {point.threshold:.4f}")
    acc_lo, acc_hi = point.automated_accuracy_ci
    m[1].metric("Accuracy, automated", f"{100 * point.automated_accuracy:.2f}%",
                help=f"95% CI {100 * acc_lo:.2f}–{100 * acc_hi:.2f}% on "
                     f"{point.n_automated:,} cases")
    m[2].metric("Error rate, automated", f"{100 * point.automated_error_rate:.2f}%")
    r_lo, r_hi = point.referred_accuracy_ci
    m[3].metric("Model accuracy on referred", "–" if math.isnan(point.referred_accuracy)
                else f"{100 * point.referred_accuracy:.1f}%",
                help=f"95% CI {100 * r_lo:.1f}–{100 * r_hi:.1f}%: how often the model would "
                     "have been right on the cases it hands over")
    st.caption(f"95% Wilson intervals — automated accuracy {100 * acc_lo:.2f}–{100 * acc_hi:.2f}%"
               f"; referred {point.n_referred:,} case{'s' * (point.n_referred != 1)} at "
               f"threshold {point.threshold:.4f}.")
