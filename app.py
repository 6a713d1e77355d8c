"""uqviz: the frame. Page config, navigation with sections, the global sidebar."""

import streamlit as st

from uqviz.device import configure_threads
from uqviz.ui.frame import framed
from uqviz.ui.navigation import SECTIONS
from uqviz.ui.state import render_sidebar

configure_threads()
st.set_page_config(page_title="uqviz: when does the model not know?",
                   page_icon=":material/visibility:", layout="wide")

PAGES = {section: [st.Page(e.path, title=e.title, icon=e.icon, default=e.default)
                  for e in entries]
         for section, entries in SECTIONS.items()}

page = st.navigation(PAGES)
render_sidebar()
with framed():
    page.run()
