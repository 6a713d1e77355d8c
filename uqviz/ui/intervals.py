"""The Confidence intervals page's subsample size: set in the browser
(``uqviz.ui.components.interval_subsample``), the committed size kept in session state under
``ci_rows`` and in the URL (``?ci_rows=``).

The size comes from session state, else from the URL (a shared link, a reload), else all rows;
it is snapped to a size the slider offers, and goes back to all rows when the source changes.
"""

from __future__ import annotations

import streamlit as st

from uqviz.labels import method_label
from uqviz.numerics import finite_number
from uqviz.plots.intervals import INTERVAL_KINDS
from uqviz.plots.theme import method_color
from uqviz.ui.backend import source_label, study
from uqviz.ui.components.interval_subsample import (
    MethodRows,
    SubsampleData,
    interval_subsample,
    prepare,
)

ROWS_KEY = "ci_rows"
COMPONENT_KEY = "ci_subsample"
SOURCE_KEY = "_ci_rows_source"  # the source ci_rows was set on


@st.cache_resource(show_spinner="Computing the intervals at every subsample size…",
                   max_entries=16)
def subsample_data(dataset: str, methods: tuple[str, ...]) -> SubsampleData:
    """The component's data for ``methods`` on ``dataset`` (``prepare``)."""
    return prepare([MethodRows(m, method_label(m), method_color(m), study(dataset, m).correct)
                    for m in methods],
                   source=source_label(dataset),
                   kinds={kind: label for kind, (label, _, _) in INTERVAL_KINDS.items()})


def committed_rows(prepared: SubsampleData, dataset: str) -> int:
    """The committed size: session state, seeded from the URL once; all rows on a new source."""
    if st.session_state.setdefault(SOURCE_KEY, dataset) != dataset:
        st.session_state[SOURCE_KEY] = dataset
        st.session_state[ROWS_KEY] = None
    if ROWS_KEY not in st.session_state:
        st.session_state[ROWS_KEY] = finite_number(st.query_params.get(ROWS_KEY))
    return prepared.snap(st.session_state[ROWS_KEY])


def _store_commit() -> None:
    """The component committed a size: keep it under ``ci_rows``."""
    state = st.session_state.get(COMPONENT_KEY)
    value = finite_number(state.get("commit") if state is not None else None)
    if value is not None:
        st.session_state[ROWS_KEY] = int(value) if value.is_integer() else value


def subsample_component(prepared: SubsampleData, dataset: str, methods: list[str],
                        start: int) -> int:
    """Mount the component and return the committed size (what the server-side panels show).

    Args:
        start: ``committed_rows`` as the last full run of the page found it: the component
            starts there (a fragment rerun passes the same, so the component's data, a few
            megabytes at most, does not change while only the committed size does).
    """
    interval_subsample(prepared, data_id=f"{dataset}|{','.join(methods)}", size=start,
                       key=COMPONENT_KEY, on_commit=_store_commit)
    size = committed_rows(prepared, dataset)
    if st.query_params.get(ROWS_KEY) != str(size):
        st.query_params[ROWS_KEY] = str(size)
    return size
