"""Aleatoric vs epistemic (being built)."""

import streamlit as st

from uqviz.ui.frame import require_frame

require_frame()

st.title("Aleatoric vs epistemic")
st.info("This page is being built.")
