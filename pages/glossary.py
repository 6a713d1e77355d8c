"""Glossary: each term in two sentences, with the page that shows it."""

import streamlit as st

from uqviz.glossary import GLOSSARY
from uqviz.ui.frame import require_frame

require_frame()

st.title("Glossary")
st.caption("Every term the dashboard uses. The same texts appear as tooltips (the ⓘ icons).")
for term in GLOSSARY:
    with st.container(border=True):
        st.markdown(f"**{term.term}** — {term.text}")
        if term.page:
            st.page_link(term.page, label="See it", icon=":material/arrow_forward:")
