"""Conformal prediction: sets of classes that contain the true class at a chosen rate."""

from uqviz.ui.frame import require_frame

require_frame()  # before the heavy imports: see uqviz/ui/frame.py

import streamlit as st

from uqviz.ui.backend import ensure_stream_comparison
from uqviz.ui.catalog import term_text
from uqviz.ui.conformal import (
    alpha_value,
    alpha_workbench,
    curve_panel,
    examples_panel,
    number_of_draws,
    split_sizes,
)
from uqviz.ui.conformal_classes import class_conditional_panel, mondrian_toggle
from uqviz.ui.state import current_dataset, current_methods, method_label

SCORES = {"lac": "LAC (THR)", "aps": "APS", "raps": "RAPS"}
SCORE_HELP = ("LAC: a class joins the set when its probability is high enough (smallest sets). "
              "APS: classes join from the most likely down until enough probability mass is "
              "collected (sets adapt to hard images). RAPS: APS with a penalty λ per class "
              "beyond the first k_reg, which keeps sets small.")
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
d1, d2, d3, d4 = st.columns([1.6, 1, 1, 1.4])
cal_share = int(d1.number_input(  # a number, so that α's is the page's one ARIA slider
    "Share of test images used to calibrate (%)", 10, 90, 50, 5, key="conf_cal_share",
    help="The rest are the images on which coverage is measured."))
seed = int(d2.number_input("Seed of the split", 0, 2**31 - 1, 0, 1, key="conf_seed",
                           help="Which images calibrate (and the tie-breaking draws)."))
randomized = True
if score != "lac":
    randomized = not d3.checkbox("Non-randomized", key="conf_nonrandomized",
                                 help="Randomized sets hit 1 − α almost exactly; "
                                      "non-randomized ones are larger and over-cover.")
mondrian = mondrian_toggle(d4)

study = comp.studies[method]
n_classes = study.rows.num_classes
if min(split_sizes(study.n, cal_share / 100)) < 1:
    st.error(f"{study.n} labelled test rows are too few to split {cal_share}% / "
             f"{100 - cal_share}% into calibration and test: choose another share or a file "
             "with more labelled rows.")
    st.stop()
settings = dict(score=score, cal_fraction=cal_share / 100, randomized=randomized, lam=lam,
                k_reg=k_reg)
n_draws = number_of_draws(study.n, n_classes)


@st.fragment
def workbench(start: float) -> None:
    # the slider, the four numbers, the caption and the two charts answer in the browser; the
    # examples and the curve update on the committed α (release, or a pause in key presses)
    prepared, alpha = alpha_workbench(study, settings, seed=seed, n_draws=n_draws, start=start,
                                      source=dataset, method=method)
    examples_panel(study, dataset, alpha, seed, settings)
    curve_panel(study, prepared, alpha, seed, settings, f"{SCORES[score]} sets, seed {seed}")
    if mondrian:
        class_conditional_panel(study, alpha, seed, settings)


workbench(alpha_value())
