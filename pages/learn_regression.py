"""Ensembles in 1-D: members agree where there is data and fan out where there is none."""

from uqviz.ui.frame import require_frame

require_frame()  # before the heavy imports: see uqviz/ui/frame.py

import streamlit as st

from uqviz.plots.teaching import ensemble_1d_figure, four_settings_figure
from uqviz.ui.catalog import term_text
from uqviz.ui.teaching_backend import ensemble_1d, four_settings, region_spread

PRIORS = {"A random network": "random", "A fixed sine": "sine", "None": "none"}

st.title("Ensembles in 1-D")
st.markdown(
    "Small networks (two hidden layers of 20 units each) learn the same points. **Where there "
    "is data they agree; in the gap and beyond the ends they fan out** — the spread of the "
    "members (the shaded ±2σ band) is the ensemble's way of saying *I do not know*. A "
    "randomized prior (β > 0) keeps them apart where data cannot pull them together.")

left, right = st.columns([1, 3], gap="large")
with left:
    members = st.slider("Members", 2, 30, 10, key="reg_members",
                        help=term_text("Deep ensemble"))
    prior_name = st.radio("Prior added to each member", list(PRIORS), key="reg_prior",
                          help=term_text("Prior ensemble"))
    beta = st.slider("Prior scale β", 0.0, 10.0, 3.0, 0.5, key="reg_beta",
                     disabled=PRIORS[prior_name] == "none",
                     help="How strongly the untrained prior is added: 0 is a plain ensemble.")
    bootstrap = st.toggle("Bootstrap resamples", False, key="reg_bootstrap",
                          help=term_text("Bootstrap (ensembles)"))
    show_members = st.toggle("Show each member", True, key="reg_show_members")

prior = PRIORS[prior_name] if beta > 0 else "none"
fit = ensemble_1d(members, prior, beta, bootstrap)
with right:
    st.plotly_chart(ensemble_1d_figure(fit, show_members=show_members), theme=None,
                    key="reg_main")
    st.caption("Black dots: training data; grey bands: no data. Thin lines are the members, "
               "the thick line their mean, the band the mean ± 2 standard deviations of the "
               f"members. Trained in {fit.seconds:.1f} s on one CPU thread.")

spread = region_spread(fit)
a, b, c = st.columns(3)
a.metric("σ inside the data", f"{spread['inside']:.2f}")
b.metric("σ in the gap", f"{spread['gap']:.2f}")
c.metric("σ outside the data", f"{spread['outside']:.2f}")

st.subheader("Four ensembles side by side")
st.markdown(
    "The settings of Osband et al. (2018), with the members and β chosen above: a plain "
    "ensemble; a random prior per member; a random prior and a bootstrap; one fixed sine "
    "shared by every member, with a bootstrap. A prior is a belief about where there is no "
    "data: the shared sine sends every member off in the same direction beyond the ends, "
    "where random priors let them spread both ways.")
fits = four_settings(members, beta if beta > 0 else 3.0)
st.plotly_chart(four_settings_figure(fits, show_members=show_members), theme=None,
                key="reg_four")
st.caption("Same data, same axes; compare how wide the band opens in the grey regions. "
           f"Trained in {sum(f.seconds for _, f in fits):.1f} s in all (cached afterwards).")
