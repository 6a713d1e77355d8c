"""Two moons: a softmax network is confident far from the data, ensembles are not in wedges,
SNGP is not all around."""

from uqviz.ui.frame import require_frame

require_frame()  # before the heavy imports: see uqviz/ui/frame.py

import streamlit as st

from uqviz.plots.teaching import moons_figure
from uqviz.ui.catalog import UNCERTAINTY_SCORES, term_text
from uqviz.ui.teaching_backend import MOONS_SCORES, moons, moons_rows

st.title("Two moons")
st.markdown(
    "Five small classifiers learn the same two moons; each heatmap covers the plane far beyond "
    "the points. **The softmax network is sure of itself almost everywhere, even where it has "
    "never seen a point. MC dropout and the ensembles light up away from the data**: their "
    "samples disagree there (mutual information), a network that knows when it does not know.")
st.markdown(
    "**SNGP** is one network made aware of distance: spectral normalisation keeps points that "
    "are far apart in the plane far apart inside the network, and a Gaussian-process output "
    "layer falls back to 50/50 away from its training points. **SNGP's uncertainty grows with "
    "distance from the data in every direction; the ensembles grow it only where their members "
    "happen to disagree.** It makes one prediction, so read its entropy: its mutual "
    "information is zero, as the softmax network's is.", help=term_text("SNGP"))

c1, c2, c3, c4 = st.columns(4)
n_points = c1.slider("Training points", 20, 1000, 200, 20, key="moons_points")
noise = c2.slider("Noise of the moons", 0.0, 0.4, 0.15, 0.05, key="moons_noise")
members = c3.slider("Ensemble members", 2, 15, 8, key="moons_members",
                    help=term_text("Deep ensemble"))
beta = c4.slider("Prior scale β", 0.5, 10.0, 3.0, 0.5, key="moons_beta",
                 help=term_text("Prior ensemble"))
scores = st.pills("Uncertainty rows", list(MOONS_SCORES), selection_mode="multi",
                  default=["entropy", "mutual_information"], key="moons_scores",
                  format_func=lambda k: UNCERTAINTY_SCORES[k].label,
                  help=term_text("Mutual information"))

result = moons(n_points, noise, members, beta)
rows, tops = moons_rows(result, list(scores or []))
st.plotly_chart(moons_figure(rows, result.grid_x, result.grid_y, result.x, result.y, zmax=tops),
                theme=None, key="moons_grid")
st.caption("Top row: predicted probability of the orange class (white = 50/50). Lower rows: "
           "each uncertainty score, white = certain, dark = uncertain (entropies up to log 2). "
           f"Dots: training points. Five models trained in {result.seconds:.1f} s on one CPU "
           "thread.")
if not scores:
    st.info("Pick an uncertainty score above to add its row of heatmaps.")
