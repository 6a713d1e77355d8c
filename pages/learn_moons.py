"""Two moons (being built)."""

import streamlit as st

from uqviz.ui.frame import require_frame

require_frame()

st.title("Two moons")
st.info("This page is being built.")
