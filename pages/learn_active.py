"""Learn: active learning on digits — random, entropy, margin and BALD acquisition."""

from uqviz.ui.frame import require_frame

require_frame()  # before the heavy imports: see uqviz/ui/frame.py

import streamlit as st

from uqviz.plots.active_learning import active_learning_figure
from uqviz.ui.backend import active_learning, active_pool_and_test_sizes
from uqviz.ui.teaching_backend import STRATEGIES, ActiveConfig

CFG = ActiveConfig()
POOL, TEST = active_pool_and_test_sizes()
st.title("Active learning: which image should a human label next?")
st.markdown(
    f"Labels are expensive. Start from **{CFG.initial} labelled digits** (two per class), train "
    "a small network, then let it choose the next "
    f"**{CFG.batch}** images to label from a pool of {POOL}, retrain from scratch, and "
    "repeat. A good strategy reaches high accuracy with fewer labels than picking at random.")

left, middle, right = st.columns([2, 1, 1])
strategies = left.multiselect("Strategies", list(STRATEGIES), default=list(STRATEGIES),
                              format_func=STRATEGIES.get, key="al_strategies")
seeds = middle.slider("Seeds", 1, 5, 3, key="al_seeds",
                      help="Repeat each run with different initial labels and network "
                           "initialisations; the band shows the spread.")
budget = right.slider("Budget (labels)", CFG.initial + CFG.batch, CFG.budget, CFG.budget,
                      step=CFG.batch, key="al_budget")
if not strategies:
    st.warning("Choose at least one strategy.")
    st.stop()

result = active_learning(tuple(strategies), seeds)
curves = {s: c.up_to(budget) for s, c in result.curves.items()}
mark = 100 if budget >= 100 else None
chart, text = st.columns([3, 1])
chart.plotly_chart(active_learning_figure(curves, mark_labels=mark), theme=None,
                   key="al_curve")
chart.caption(f"Accuracy on the {TEST} test digits after each round, mean over {seeds} "
              "seed(s); the shaded band is ± one standard deviation across seeds. Higher and "
              "further left is better.")
text.markdown(
    "**Why BALD works.** MC dropout gives many plausible networks. BALD picks images where "
    "each of them is confident but they **disagree** with each other (high mutual "
    "information): the model's own ignorance, which one label resolves. Entropy also picks "
    "images that are ambiguous to *every* network (a 1 that looks like a 7), where a label "
    "teaches less.")

if mark is not None:
    st.subheader("Mean accuracy at 100 labels")
    cols = st.columns(len(curves))
    base = curves["random"].at(100) if "random" in curves else None
    for col, (s, c) in zip(cols, curves.items(), strict=True):
        delta = None if base is None or s == "random" else \
            f"{100 * (c.at(100) - base):+.1f} pts vs random"
        col.metric(STRATEGIES[s], f"{c.at(100):.1%}", delta)
    if seeds > 1:
        spread = max(100 * c.spread_at(100) for c in curves.values())
        st.caption(f"Seed-to-seed spread at 100 labels is up to ±{spread:.1f} points: with "
                   f"{seeds} seeds, smaller gaps between strategies are not conclusive.")

st.caption(f"Model: an MLP on the 8×8 pixels (64 → {CFG.hidden} → 10, dropout "
           f"{CFG.dropout}), retrained from scratch each round with {CFG.steps} full-batch Adam "
           f"steps; acquisition scores from T = {CFG.mc_samples} dropout samples. Each run is "
           "cached on disk, so this page computes it only once. After Gal, Islam & "
           "Ghahramani, ICML 2017.")
