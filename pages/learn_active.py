"""Active learning (being built)."""

import streamlit as st

from uqviz.ui.frame import require_frame

require_frame()

st.title("Active learning")
st.info("This page is being built.")
