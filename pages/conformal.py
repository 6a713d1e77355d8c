"""Conformal prediction: sets of classes that contain the true class at a chosen rate."""

from uqviz.ui.frame import require_frame

require_frame()  # before the heavy imports: see uqviz/ui/frame.py

import math

import streamlit as st

from uqviz.conformal import (
    AVERAGE_ALPHAS,
    CURVE_ALPHAS,
    EXAMPLE_KINDS,
    class_coverage,
    number_of_draws,
    quantile_rank,
    set_examples,
    split_sizes,
)
from uqviz.glossary import term_text
from uqviz.plots import conformal_curve_figure, set_size_histogram_figure
from uqviz.plots.conformal import class_coverage_figure
from uqviz.sources import file_label
from uqviz.ui.backend import NoImages, ensure_stream_comparison, row_images
from uqviz.ui.state import current_dataset, current_methods, method_label
from uqviz.ui.widgets import show_cases

SCORES = {"lac": "LAC (THR)", "aps": "APS", "raps": "RAPS"}
SCORE_HELP = ("LAC: a class joins the set when its probability is high enough (smallest sets). "
              "APS: classes join from the most likely down until enough probability mass is "
              "collected (sets adapt to hard images). RAPS: APS with a penalty λ per class "
              "beyond the first k_reg, which keeps sets small.")
EXAMPLES = dict(zip(EXAMPLE_KINDS, ("random test images", "the largest sets",
                                    "sets that miss the true class"), strict=True))
RAPS_LAM, RAPS_K_REG = 0.1, 1  # strong enough to change the sets of a 10-class problem

st.title("Conformal prediction")
st.caption(f"{term_text('Conformal set')} A share of the test images calibrates the sets; the "
           "rest checks them. The guarantee holds on average over random splits: one split "
           "(change the seed) can land a little above or below the target.")
dataset, methods = current_dataset(), current_methods()
comp = ensure_stream_comparison(dataset, methods)
if comp is None:
    st.stop()

c1, c2, c3 = st.columns([1, 1, 1])
method = c1.selectbox("Method", methods, key="conf_method", format_func=method_label,
                      help="Whose probabilities the sets are built from.")
score = c2.radio("Score", list(SCORES), key="conf_score", format_func=SCORES.get,
                 horizontal=True, help=SCORE_HELP)
lam, k_reg = RAPS_LAM, RAPS_K_REG
if score == "raps":
    r1, r2 = c3.columns(2)
    lam = r1.number_input("Penalty λ", 0.0, 1.0, RAPS_LAM, 0.01, format="%.3f", key="conf_lam",
                          help="Added to the score for every class beyond rank k_reg: larger "
                               "values cap the set size harder.")
    k_reg = int(r2.number_input("k_reg", 0, 100, RAPS_K_REG, 1, key="conf_k_reg",
                                help="How many of the most likely classes join a set without "
                                     "penalty."))
d1, d2, d3 = st.columns([2, 1, 1])
cal_share = d1.slider("Share of test images used to calibrate (%)", 10, 90, 50, 5,
                      key="conf_cal_share", help="The rest are the images on which coverage "
                                                 "is measured.")
seed = int(d2.number_input("Seed of the split", 0, 2**31 - 1, 0, 1, key="conf_seed",
                           help="Which images calibrate (and the tie-breaking draws)."))
randomized = True
if score != "lac":
    randomized = not d3.checkbox("Non-randomized", key="conf_nonrandomized",
                                 help="Randomized sets hit 1 − α almost exactly; "
                                      "non-randomized ones are larger and over-cover.")

study = comp.studies[method]
names, n_classes = study.rows.names, study.rows.num_classes
if min(split_sizes(study.n, cal_share / 100)) < 1:
    st.error(f"{study.n} labelled test rows are too few to split {cal_share}% / "
             f"{100 - cal_share}% into calibration and test: choose another share or a file "
             "with more labelled rows.")
    st.stop()
settings = dict(score=score, cal_fraction=cal_share / 100, randomized=randomized, lam=lam,
                k_reg=k_reg)
n_draws = number_of_draws(study.n, n_classes)


@st.fragment
def workbench() -> None:
    alpha = st.slider("α: allowed miss rate (target coverage 1 − α)", 0.01, 0.5, 0.1, 0.01,
                      key="conf_alpha")
    result = study.conformal(alpha=alpha, seed=seed, **settings)
    with st.spinner("Averaging over calibration splits…"):
        average = study.average_coverage(AVERAGE_ALPHAS, n_draws, **settings)
    lo, hi = result.coverage_ci
    m = st.columns(4)
    m[0].metric("Coverage", f"{result.coverage:.1%}", delta_color="off", delta_arrow="off",
                delta=f"{100 * (result.coverage - (1 - alpha)):+.1f} pts vs target",
                help=f"Share of the {result.n_test:,} test images whose set contains the true "
                     f"class; 95% CI {100 * lo:.1f}–{100 * hi:.1f}%.")
    m[1].metric("Target 1 − α", f"{1 - alpha:.0%}")
    m[2].metric(f"Average of {n_draws} splits", f"{average.at(alpha):.1%}",
                help=f"Mean coverage over {n_draws} random calibration/test splits (seeds 0–"
                     f"{n_draws - 1}): the guarantee is about this average.")
    m[3].metric("Mean set size", f"{result.mean_set_size:.2f}",
                help=f"Classes per set, out of {n_classes}.")
    st.caption(f"This split: coverage {result.coverage:.1%} (95% interval {100 * lo:.1f}–"
               f"{100 * hi:.1f}%) on {result.n_test:,} test images, against the target "
               f"{1 - alpha:.0%}. Sets keep every class whose score is at most q̂ = "
               f"{result.qhat:.4f}, the {quantile_rank(result.n_cal, alpha)}-th smallest of "
               f"{result.n_cal:,} calibration scores.")
    if math.isinf(result.qhat):
        st.warning(f"{result.n_cal} calibration images are too few for α = {alpha:.2f}: every "
                   "set holds all classes. Raise α or the calibration share.")

    left, right = st.columns(2)
    left.plotly_chart(set_size_histogram_figure(result.set_sizes, num_classes=n_classes,
                                                title="Classes per prediction set"),
                      theme=None, key="conf_set_sizes")
    left.caption("Share of test images by set size. Size 1 is a confident single answer; larger "
                 "sets flag hard images; size 0 (no class likely enough) counts as a miss.")
    right.plotly_chart(class_coverage_figure(class_coverage(result, study.rows.labels), names),
                       theme=None, key="conf_per_class")
    right.caption("For each true class, the share of its test images whose set contains it; the "
                  "red dashed line is the target. The promise is for all classes together, so "
                  "one class may dip below it. Whiskers: 95% intervals.")

    st.subheader("Examples with their prediction sets")
    try:
        images = row_images(dataset, study)
    except NoImages:
        images = None
    if images is None or len(images) != study.n:
        st.info(f"{file_label(dataset)} holds predictions only, so there are no images to "
                "show; the numbers and charts above still apply.")
    else:
        kind = st.radio("Show", list(EXAMPLES), key="conf_examples", format_func=EXAMPLES.get,
                        horizontal=True)
        ex = set_examples(result, study.rows.labels, kind, seed=seed)
        if len(ex.rows) == 0:
            st.caption("No test image is missed at this α.")
        else:
            show_cases(images, ex.rows, ex.captions(names))
            st.caption("Under each image: its prediction set, then the true class; ✓ when the "
                       "set contains it, ✗ when it misses. {} is an empty set: no class was "
                       "likely enough.")

    st.subheader("Coverage and set size against the target")
    curve = study.conformal_curve(CURVE_ALPHAS, seed=seed, **settings)
    st.plotly_chart(conformal_curve_figure(curve, title=f"{SCORES[score]} sets, seed {seed}",
                                           height=460, average=average, marked_alpha=alpha,
                                           legend_below=True), theme=None, key="conf_curve")
    st.caption("Left: measured coverage against the target 1 − α for this split (blue, with its "
               f"95% band) and averaged over {n_draws} splits (green); on the dashed diagonal the "
               "promise is kept exactly. Right: the price, in classes per set. The dotted line "
               "marks the α chosen above.")


workbench()
