"""The Dataset shift page's severity slider in the browser: the eight strip images, their
captions, the caption sentence and each method's accuracy and mean uncertainty on the whole
corrupted test set answer every key press and drag in the same frame, without a Python rerun.

A Custom Component v2 (``st.components.v2.component``, files ``shift_severity.{html,css,js}``
next to this module). Python sends once per (source, corruption, score, methods) what the
strip shows at every severity (``uqviz.ui.shift_strip.strip_payload``); the JavaScript shows
one severity and reports the committed one as the state ``commit`` (an integer 0–5, on
release, or after a pause in key presses).
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from uqviz.ui.components import component_asset, component_js

_NAME = "shift_severity"

_mount = st.components.v2.component(
    "uqviz_shift_severity",
    html=component_asset(_NAME, ".html"),
    css=component_asset(_NAME, ".css"),
    js=component_js(_NAME),
)


def shift_severity(payload: dict, *, data_id: str, severity: int, key: str,
                   on_commit: Callable[[], None]) -> None:
    """Mount the severity strip.

    Args:
        payload: from ``uqviz.ui.shift_strip.strip_payload``.
        data_id: names the data (source, corruption, score, methods, digest): the component
            keeps its own severity while this stays the same, and takes ``severity`` when it
            changes (or when it is mounted afresh).
        severity: the committed severity, 0–5.
        key: the component's key in session state (its state: ``commit``).
        on_commit: called (before the rerun) when the component commits a severity.
    """
    data = {**payload, "id": data_id, "severity": int(severity)}
    _mount(key=key, data=data, default={"commit": None}, on_commit_change=on_commit)
