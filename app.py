"""uqviz: the frame. Page config, navigation with sections, the global sidebar.

``st.navigation`` comes before the heavy imports: on the first run of a fresh server
Streamlit 1.67 still shows the old ``pages/`` folder navigation until it is called.
"""

import streamlit as st

from uqviz.ui.frame import framed
from uqviz.ui.navigation import SECTIONS

st.set_page_config(page_title="uqviz: when does the model not know?",
                   page_icon=":material/visibility:", layout="wide")
page = st.navigation({section: [st.Page(e.path, title=e.title, icon=e.icon, default=e.default)
                                for e in entries]
                      for section, entries in SECTIONS.items()},
                     expanded=True)  # every page in view, the Learn pages included

from uqviz.device import configure_threads  # noqa: E402  (torch: after the navigation)
from uqviz.ui.state import render_sidebar  # noqa: E402

configure_threads()
render_sidebar()
with framed():
    page.run()
