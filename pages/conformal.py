"""Conformal prediction: sets of classes that contain the true class at a chosen rate."""

from uqviz.ui.frame import require_frame

require_frame()  # before the heavy imports: see uqviz/ui/frame.py

import math

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from uqviz.conformal import ConformalCurve, coverage_vs_alpha, split_conformal, wilson_interval
from uqviz.data import DatasetUnavailable
from uqviz.glossary import term_text
from uqviz.plots import (
    ACCENT,
    CORRECT_COLOR,
    TEMPLATE,
    WRONG_COLOR,
    conformal_curve_figure,
    register_template,
    set_size_histogram_figure,
)
from uqviz.plots.theme import MUTED_COLOR
from uqviz.sources import file_label
from uqviz.ui.backend import NoImages, dataset_splits, ensure_predictions, evaluation_rows
from uqviz.ui.images import tile_images, upscale_for_display
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
RAPS_LAM, RAPS_K_REG = 0.1, 1  # strong enough to change the sets of a 10-class problem
CURVE_ALPHAS = np.linspace(0.01, 0.5, 25)
SLIDER_ALPHAS = np.round(np.arange(0.01, 0.505, 0.01), 2)
DRAW_ALPHAS = np.unique(np.concatenate([CURVE_ALPHAS, SLIDER_ALPHAS]))
MAX_DRAWS, MIN_DRAWS, DRAW_BUDGET = 100, 10, 2e7  # splits averaged; rows × classes × splits


@st.cache_data(show_spinner=False, max_entries=64)
def alpha_curve(dataset: str, method: str, score: str, cal_fraction: float, seed: int,
                randomized: bool, lam: float, k_reg: int) -> ConformalCurve:
    rows = evaluation_rows(dataset, method)
    return coverage_vs_alpha(rows.mean_probs, rows.labels, alphas=CURVE_ALPHAS, score=score,
                             cal_fraction=cal_fraction, seed=seed, randomized=randomized,
                             lam=lam, k_reg=k_reg)


def number_of_draws(n_rows: int, n_classes: int) -> int:
    """100 calibration splits for small sets, fewer (at least 10) for large files."""
    return int(np.clip(DRAW_BUDGET // (n_rows * n_classes), MIN_DRAWS, MAX_DRAWS))


@st.cache_data(show_spinner="Averaging over calibration splits…", max_entries=64)
def coverage_over_draws(dataset: str, method: str, score: str, cal_fraction: float,
                        randomized: bool, lam: float, k_reg: int, n_draws: int) -> np.ndarray:
    """(len(DRAW_ALPHAS),) mean test coverage over the splits of seeds 0..n_draws-1."""
    rows = evaluation_rows(dataset, method)
    return np.mean([coverage_vs_alpha(rows.mean_probs, rows.labels, alphas=DRAW_ALPHAS,
                                      score=score, cal_fraction=cal_fraction, seed=s,
                                      randomized=randomized, lam=lam, k_reg=k_reg).coverage
                    for s in range(n_draws)], axis=0)


def example_images(dataset: str, n_rows: int) -> np.ndarray | None:
    """The clean test images, rows aligned with ``evaluation_rows``; None for a predictions
    file (or a dataset whose images cannot be loaded or do not line up)."""
    try:
        images = dataset_splits(dataset).test_x.numpy()
    except (NoImages, DatasetUnavailable):
        return None
    return images if len(images) == n_rows else None


st.title("Conformal prediction")
st.caption(f"{term_text('Conformal set')} A share of the test images calibrates the sets; the "
           "rest checks them. The guarantee holds on average over random splits: one split "
           "(change the seed) can land a little above or below the target.")
dataset, methods = current_dataset(), current_methods()
if ensure_predictions(dataset, methods) is None:
    st.stop()

c1, c2, c3 = st.columns([1, 1, 1])
method = c1.selectbox("Method", methods, key=METHOD_KEY, format_func=method_label,
                      help="Whose probabilities the sets are built from.")
score = c2.radio("Score", list(SCORES), key=SCORE_KEY, format_func=SCORES.get,
                 horizontal=True, help=SCORE_HELP)
lam, k_reg = RAPS_LAM, RAPS_K_REG
if score == "raps":
    r1, r2 = c3.columns(2)
    lam = r1.number_input("Penalty λ", 0.0, 1.0, RAPS_LAM, 0.01, format="%.3f", key=LAM_KEY,
                          help="Added to the score for every class beyond rank k_reg: larger "
                               "values cap the set size harder.")
    k_reg = int(r2.number_input("k_reg", 0, 100, RAPS_K_REG, 1, key=K_REG_KEY,
                                help="How many of the most likely classes join a set without "
                                     "penalty."))
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
if not 1 <= int(round(cal_share / 100 * rows.n)) <= rows.n - 1:
    st.error(f"{rows.n} labelled test rows are too few to split {cal_share}% / "
             f"{100 - cal_share}% into calibration and test: choose another share or a file "
             "with more labelled rows.")
    st.stop()


def per_class_figure(result, labels: np.ndarray, names: tuple[str, ...]) -> go.Figure:
    """Coverage per true class with 95% Wilson whiskers and the target as a dashed line."""
    test_labels = labels[result.test_indices]
    covered = result.sets[np.arange(result.n_test), test_labels]
    counts = np.bincount(test_labels, minlength=len(names))
    cis = np.array([wilson_interval(int(covered[test_labels == c].sum()), int(counts[c]))
                    for c in range(len(names))]).reshape(-1, 2)
    value = result.per_class_coverage
    fig = go.Figure(go.Bar(
        x=list(names), y=value, marker_color=ACCENT, customdata=counts,
        error_y=dict(type="data", symmetric=False, array=cis[:, 1] - value,
                     arrayminus=value - cis[:, 0], color=MUTED_COLOR),
        hovertemplate="Class %{x}: %{y:.1%} of %{customdata} images<extra></extra>"))
    fig.add_hline(y=1 - result.alpha, line=dict(color=WRONG_COLOR, dash="dash", width=2))
    register_template()
    return fig.update_layout(template=TEMPLATE, height=340, title="Coverage per true class",
                             showlegend=False, xaxis=dict(title="True class", type="category"),
                             yaxis=dict(title="Share of its images covered", tickformat=".0%",
                                        range=[0, 1.05]))


def show_examples(result, labels: np.ndarray, names: tuple[str, ...], images) -> None:
    """Eight test images with their set and true class: random, largest sets or misses."""
    show = st.radio("Show", list(EXAMPLES), key=EXAMPLES_KEY, format_func=EXAMPLES.get,
                    horizontal=True)
    test_labels = labels[result.test_indices]
    covered = result.sets[np.arange(result.n_test), test_labels]
    if show == "random":
        pick = np.random.default_rng(seed).permutation(result.n_test)[:8]
    elif show == "largest":
        pick = np.argsort(-result.set_sizes, kind="stable")[:8]
    else:
        pick = np.flatnonzero(~covered)[:8]
    if len(pick) == 0:
        st.caption("No test image is missed at this α.")
        return
    scale = upscale_for_display(images.shape[2])
    for col, i in zip(st.columns(8), pick, strict=False):
        members = ", ".join(names[c] for c in np.flatnonzero(result.sets[i]))
        mark = "✓" if covered[i] else "✗"
        col.image(tile_images(images[result.test_indices[i]][None], 1, scale=scale),
                  caption=f"{{{members}}} · true {names[test_labels[i]]} {mark}")
    st.caption("Under each image: its prediction set, then the true class; ✓ when the set "
               "contains it, ✗ when it misses. {} is an empty set: no class was likely enough.")


@st.fragment
def workbench() -> None:
    alpha = st.slider("α: allowed miss rate (target coverage 1 − α)", 0.01, 0.5, 0.1, 0.01,
                      key=ALPHA_KEY)
    result = split_conformal(probs, labels, alpha=alpha, score=score, seed=seed,
                             cal_fraction=cal_share / 100, randomized=randomized, lam=lam,
                             k_reg=k_reg)
    n_draws = number_of_draws(rows.n, rows.num_classes)
    draws = coverage_over_draws(dataset, method, score, cal_share / 100, randomized, lam, k_reg,
                                n_draws)
    lo, hi = result.coverage_ci
    m = st.columns(4)
    m[0].metric("Coverage", f"{100 * result.coverage:.1f}%", delta_color="off",
                delta=f"{100 * (result.coverage - (1 - alpha)):+.1f} pts vs target",
                delta_arrow="off", help=f"Share of the {result.n_test:,} test images whose set "
                                        f"contains the true class; 95% CI {100 * lo:.1f}–"
                                        f"{100 * hi:.1f}%.")
    m[1].metric("Target 1 − α", f"{100 * (1 - alpha):.0f}%")
    m[2].metric(f"Average of {n_draws} splits",
                f"{100 * draws[np.argmin(np.abs(DRAW_ALPHAS - alpha))]:.1f}%",
                help=f"Mean coverage over {n_draws} random calibration/test splits (seeds 0–"
                     f"{n_draws - 1}): the guarantee is about this average.")
    m[3].metric("Mean set size", f"{result.mean_set_size:.2f}",
                help=f"Classes per set, out of {rows.num_classes}.")
    k = math.ceil((result.n_cal + 1) * (1 - alpha) - 1e-9)
    st.caption(f"This split: coverage {100 * result.coverage:.1f}% (95% interval "
               f"{100 * lo:.1f}–{100 * hi:.1f}%) on {result.n_test:,} test images, against the "
               f"target {100 * (1 - alpha):.0f}%. Sets keep every class whose score is at most "
               f"q̂ = {result.qhat:.4f}, the {k}-th smallest of {result.n_cal:,} calibration "
               "scores.")
    if math.isinf(result.qhat):
        st.warning(f"{result.n_cal} calibration images are too few for α = {alpha:.2f}: every "
                   "set holds all classes. Raise α or the calibration share.")

    left, right = st.columns(2)
    left.plotly_chart(set_size_histogram_figure(result.set_sizes, num_classes=rows.num_classes,
                                                title="Classes per prediction set"),
                      theme=None, key="conf_set_sizes")
    left.caption("Share of test images by set size. Size 1 is a confident single answer; larger "
                 "sets flag hard images; size 0 (no class likely enough) counts as a miss.")
    right.plotly_chart(per_class_figure(result, labels, rows.names), theme=None,
                       key="conf_per_class")
    right.caption("For each true class, the share of its test images whose set contains it; the "
                  "red dashed line is the target. The promise is for all classes together, so "
                  "one class may dip below it. Whiskers: 95% intervals.")

    st.subheader("Examples with their prediction sets")
    images = example_images(dataset, rows.n)
    if images is None:
        st.info(f"{file_label(dataset)} holds predictions only, so there are no images to "
                "show; the numbers and charts above still apply.")
    else:
        show_examples(result, labels, rows.names, images)

    st.subheader("Coverage and set size against the target")
    curve = alpha_curve(dataset, method, score, cal_share / 100, seed, randomized, lam, k_reg)
    fig = conformal_curve_figure(curve, title=f"{SCORES[score]} sets, seed {seed}")
    on_curve = np.isin(DRAW_ALPHAS, CURVE_ALPHAS)
    fig.add_trace(go.Scatter(x=1 - DRAW_ALPHAS[on_curve], y=draws[on_curve], mode="lines",
                             name=f"Average of {n_draws} splits",
                             line=dict(color=CORRECT_COLOR, width=2)), row=1, col=1)
    fig.add_vline(x=1 - alpha, line=dict(color=MUTED_COLOR, dash="dot"), row="all", col="all")
    fig.update_layout(height=460, legend=dict(orientation="h", x=0.0, y=-0.2, xanchor="left",
                                              yanchor="top"))
    st.plotly_chart(fig, theme=None, key="conf_curve")
    st.caption("Left: measured coverage against the target 1 − α for this split (blue, with its "
               f"95% band) and averaged over {n_draws} splits (green); on the dashed diagonal the "
               "promise is kept exactly. Right: the price, in classes per set. The dotted line "
               "marks the α chosen above.")


workbench()
