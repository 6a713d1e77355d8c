"""The dashboard's Streamlit Custom Components v2 (``st.components.v2.component``): inline
HTML, CSS and JavaScript read from the files next to each module, no iframe, no build step.

Every component's JavaScript is ``shared.js`` (arrays decoded, numbers formatted as Python
formats them, SVG helpers, the slider's keys, the debounced commit, the state per mount)
followed by its own ``<name>.js``: ``component_js``. The JavaScript computes no statistic:
Python sends every number a component shows, for every slider position, and the browser looks
it up, formats and draws it.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).parent


def component_asset(name: str, suffix: str) -> str:
    """The text of ``<name><suffix>`` next to this module (``.html``, ``.css``, ``.js``)."""
    return (_HERE / f"{name}{suffix}").read_text(encoding="utf-8")


def component_js(name: str) -> str:
    """The JavaScript module of component ``name``: the shared helpers, then its own code."""
    return component_asset("shared", ".js") + "\n" + component_asset(name, ".js")
