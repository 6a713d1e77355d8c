"""Ensembles in 1-D (being built)."""

import streamlit as st

from uqviz.ui.frame import require_frame

require_frame()

st.title("Ensembles in 1-D")
st.info("This page is being built.")
