"""Make sure every page runs inside app.py's frame (navigation and sidebar).

Streamlit 1.67 still honours the old ``pages/`` folder convention for the first script run of
a process (and for every run under AppTest): it then runs the page file named in the URL
directly, with a file-name navigation and without ``app.py``'s sidebar. app.py marks the
script runs it frames; a page that finds itself unframed switches the old convention off
(``st.navigation`` does the same once it runs) and reruns, so app.py takes over.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import streamlit as st

_state = threading.local()


@contextmanager
def framed():
    """Wrap ``page.run()`` in app.py: pages run inside it know they are framed."""
    _state.framed = True
    try:
        yield
    finally:
        _state.framed = False


def require_frame() -> None:
    """Rerun through app.py when this page was started without it."""
    if getattr(_state, "framed", False):
        return
    from streamlit.runtime.pages_manager import PagesManager

    PagesManager.uses_pages_directory = False
    st.rerun()
