"""Confidence intervals (being built)."""

import streamlit as st

from uqviz.ui.frame import require_frame

require_frame()

st.title("Confidence intervals")
st.info("This page is being built.")
