"""Conformal prediction: sets of classes that contain the true class at a chosen rate."""

import math

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from uqviz.conformal import ConformalCurve, coverage_vs_alpha, split_conformal, wilson_interval
from uqviz.glossary import term_text
from uqviz.plots import (
    ACCENT,
    CORRECT_COLOR,
    TEMPLATE,
    WRONG_COLOR,
    conformal_curve_figure,
    image_grid_figure,
    register_template,
    set_size_histogram_figure,
)
from uqviz.plots.theme import MUTED_COLOR
from uqviz.ui.backend import dataset_splits, ensure_predictions, evaluation_rows
from uqviz.ui.state import current_dataset, current_methods, method_label

METHOD_KEY, SCORE_KEY, ALPHA_KEY = "conf_method", "conf_score", "conf_alpha"
CAL_SHARE_KEY, SEED_KEY, NONRANDOM_KEY = "conf_cal_share", "conf_seed", "conf_nonrandomized"
LAM_KEY, K_REG_KEY, EXAMPLES_KEY = "conf_lam", "conf_k_reg", "conf_examples"
SCORES = {"lac": "LAC (THR)", "aps": "APS", "raps": "RAPS"}
SCORE_HELP = ("LAC: a class joins the set when its probability is high enough (smallest sets). "
              "APS: classes join from the most likely down until enough probability mass is "
              "collected (sets adapt to hard images). RAPS: APS with a penalty λ per class "
              "beyond the first k_reg, which keeps sets small.")
EXAMPLES = {"random": "random test images", "largest": "the largest sets",
            "missed": "sets that miss the true class"}
CURVE_ALPHAS = np.linspace(0.01, 0.5, 25)


@st.cache_data(show_spinner=False, max_entries=64)
def alpha_curve(dataset: str, method: str, score: str, cal_fraction: float, seed: int,
                randomized: bool, lam: float, k_reg: int) -> ConformalCurve:
    rows = evaluation_rows(dataset, method)
    return coverage_vs_alpha(rows.mean_probs, rows.labels, alphas=CURVE_ALPHAS, score=score,
                             cal_fraction=cal_fraction, seed=seed, randomized=randomized,
                             lam=lam, k_reg=k_reg)


def test_images(dataset: str, n_rows: int) -> np.ndarray | None:
    """The clean test images aligned with ``evaluation_rows``; None for a predictions file."""
    if dataset.startswith("predictions:"):
        return None
    try:
        images = dataset_splits(dataset).test_x.numpy()
    except Exception:  # a predictions file or a set that cannot load: no pictures to show
        return None
    return images if len(images) == n_rows else None


st.title("Conformal prediction")
st.caption(f"{term_text('Conformal set')} A share of the test images calibrates the sets; the "
           "rest checks them. The guarantee holds on average over calibration draws: change "
           "the seed to see one draw land above or below the target.")
dataset, methods = current_dataset(), current_methods()
if ensure_predictions(dataset, methods) is None:
    st.stop()

c1, c2, c3 = st.columns([1, 1, 1])
method = c1.selectbox("Method", methods, key=METHOD_KEY, format_func=method_label,
                      help="Whose probabilities the sets are built from.")
score = c2.radio("Score", list(SCORES), key=SCORE_KEY, format_func=SCORES.get,
                 horizontal=True, help=SCORE_HELP)
lam, k_reg = 0.01, 5
if score == "raps":
    r1, r2 = c3.columns(2)
    lam = r1.number_input("Penalty λ", 0.0, 1.0, 0.01, 0.01, format="%.3f", key=LAM_KEY,
                          help="Added to the score for every class beyond rank k_reg.")
    k_reg = int(r2.number_input("k_reg", 0, 100, 5, 1, key=K_REG_KEY,
                                help="Classes allowed into a set without penalty."))
d1, d2, d3 = st.columns([2, 1, 1])
cal_share = d1.slider("Share of test images used to calibrate (%)", 10, 90, 50, 5,
                      key=CAL_SHARE_KEY, help="The rest are the images on which coverage is "
                                              "measured.")
seed = int(d2.number_input("Seed of the split", 0, 2**31 - 1, 0, 1, key=SEED_KEY,
                           help="Which images calibrate (and the tie-breaking draws)."))
randomized = True
if score != "lac":
    randomized = not d3.checkbox("Non-randomized", key=NONRANDOM_KEY,
                                 help="Randomized sets hit 1 − α almost exactly; "
                                      "non-randomized ones are larger and over-cover.")

rows = evaluation_rows(dataset, method)
probs, labels = rows.mean_probs, rows.labels


@st.fragment
def workbench() -> None:
    alpha = st.slider("α: allowed miss rate (target coverage 1 − α)", 0.01, 0.5, 0.1, 0.01,
                      key=ALPHA_KEY)
    result = split_conformal(probs, labels, alpha=alpha, score=score, seed=seed,
                             cal_fraction=cal_share / 100, randomized=randomized, lam=lam,
                             k_reg=k_reg)
    lo, hi = result.coverage_ci
    m = st.columns(4)
    m[0].metric("Coverage on the test part", f"{100 * result.coverage:.1f}%",
                delta=f"{100 * (result.coverage - (1 - alpha)):+.1f} pts vs target",
                delta_color="off", help=f"95% CI {100 * lo:.1f}–{100 * hi:.1f}% "
                                        f"on {result.n_test:,} images")
    m[1].metric("Target 1 − α", f"{100 * (1 - alpha):.0f}%")
    m[2].metric("Mean set size", f"{result.mean_set_size:.2f}",
                help=f"classes per set, out of {rows.num_classes}")
    m[3].metric("Calibration / test images", f"{result.n_cal:,} / {result.n_test:,}")
    k = math.ceil((result.n_cal + 1) * (1 - alpha) - 1e-9)
    st.caption(f"Coverage = share of test images whose set contains the true class; 95% "
               f"interval {100 * lo:.1f}–{100 * hi:.1f}%. Threshold q̂ = "
               f"{result.qhat:.4f}: the {k}-th smallest of {result.n_cal:,} calibration scores.")
    if math.isinf(result.qhat):
        st.warning(f"{result.n_cal} calibration images are too few for α = {alpha:.2f}: every "
                   "set holds all classes. Raise α or the calibration share.")

    left, right = st.columns(2)
    left.plotly_chart(set_size_histogram_figure(result.set_sizes, num_classes=rows.num_classes),
                      theme=None, key="conf_set_sizes")
    left.caption("How many classes each set holds. Size 1 is a confident single answer; "
                 "larger sets flag images the model finds hard.")
    test_labels = labels[result.test_indices]
    covered = result.sets[np.arange(result.n_test), test_labels]
    n_class = np.bincount(test_labels, minlength=rows.num_classes)
    cis = [wilson_interval(int(covered[test_labels == c].sum()), int(n_class[c]))
           for c in range(rows.num_classes)]
    fig = go.Figure(go.Bar(
        x=list(rows.names), y=result.per_class_coverage, marker_color=ACCENT,
        error_y=dict(type="data", symmetric=False,
                     array=[h - v for (_, h), v in zip(cis, result.per_class_coverage,
                                                       strict=True)],
                     arrayminus=[v - lo_ for (lo_, _), v in zip(cis, result.per_class_coverage,
                                                                strict=True)]),
        customdata=n_class, hovertemplate="Class %{x}: %{y:.1%} of %{customdata} images"
                                          "<extra></extra>"))
    fig.add_hline(y=1 - alpha, line=dict(color=WRONG_COLOR, dash="dash"),
                  annotation_text=f"target {100 * (1 - alpha):.0f}%")
    register_template()
    fig.update_layout(template=TEMPLATE, height=340, title="Coverage per true class",
                      showlegend=False, xaxis=dict(title="True class", type="category"),
                      yaxis=dict(title="Share of its images covered", tickformat=".0%",
                                 range=[0, 1.05]))
    right.plotly_chart(fig, theme=None, key="conf_per_class")
    right.caption("For each true class, the share of its test images whose set contains it. "
                  "The promise is for all classes together, so single classes may dip below "
                  "the dashed line; whiskers are 95% intervals.")

    st.subheader("Examples with their prediction sets")
    images = test_images(dataset, rows.n)
    if images is None:
        st.info("This dataset has no images to show (a predictions file): the numbers and "
                "charts above still apply.")
    else:
        show = st.radio("Show", list(EXAMPLES), key=EXAMPLES_KEY, format_func=EXAMPLES.get,
                        horizontal=True)
        if show == "random":
            pick = np.random.default_rng(seed).permutation(result.n_test)[:8]
        elif show == "largest":
            pick = np.argsort(-result.set_sizes, kind="stable")[:8]
        else:
            pick = np.flatnonzero(~covered)[:8]
        if len(pick) == 0:
            st.caption("No test image is missed at this α.")
        else:
            captions = ["{" + ", ".join(rows.names[c] for c in np.flatnonzero(result.sets[i]))
                        + "} · true " + rows.names[test_labels[i]] for i in pick]
            colors = [CORRECT_COLOR if covered[i] else WRONG_COLOR for i in pick]
            st.plotly_chart(image_grid_figure(images[result.test_indices[pick]], captions,
                                              columns=4, caption_colors=colors),
                            theme=None, key="conf_examples_grid")
            st.caption("Under each image: its prediction set, then the true class; green when "
                       "the set contains it, red when it misses.")

    st.subheader("Coverage and set size against the target")
    curve = alpha_curve(dataset, method, score, cal_share / 100, seed, randomized, lam, k_reg)
    fig = conformal_curve_figure(curve)
    fig.add_vline(x=1 - alpha, line=dict(color=MUTED_COLOR, dash="dot"), row="all", col="all")
    st.plotly_chart(fig, theme=None, key="conf_curve")
    st.caption("Left: measured coverage against the target 1 − α; points on the dashed diagonal "
               "keep the promise. Right: the price, in classes per set. The dotted line marks "
               "the α chosen above.")


workbench()
