"""Glossary: each term in two sentences, with the page that shows it."""

from uqviz.ui.frame import require_frame

require_frame()  # before the heavy imports: see uqviz/ui/frame.py

import streamlit as st

from uqviz.ui.catalog import GLOSSARY
from uqviz.ui.navigation import page_title

st.title("Glossary")
st.caption("Every term the dashboard uses. The same texts appear as tooltips "
           "(the ? icons beside controls).")
query = st.text_input("Find a term", key="glossary_query", placeholder="e.g. entropy").strip()
terms = [t for t in GLOSSARY
         if not query or query.lower() in t.term.lower() or query.lower() in t.text.lower()]
if not terms:
    st.info(f"No term mentions {query!r}.")
columns = st.columns(2)
for i, term in enumerate(terms):
    with columns[i % 2].container(border=True):
        st.markdown(f"**{term.term}** — {term.text}")
        if term.page:
            st.page_link(term.page, label=f"See it: {page_title(term.page)}",
                         icon=":material/arrow_forward:")
