"""The Conformal page's α: set in the browser (``uqviz.ui.components.conformal_alpha``), the
committed value kept in session state under ``conf_alpha``; and the panels that need the
server at the committed α (the examples with their sets, the curve against the target).

``conf_alpha`` holds a level of the slider (``uqviz.conformal.SLIDER_ALPHAS``, 0.01 … 0.50):
a value set elsewhere is snapped to the nearest level, anything that is not a number is the
default 0.1.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from uqviz.conformal import CURVE_ALPHAS, EXAMPLE_KINDS, SLIDER_ALPHAS, set_examples
from uqviz.conformal import number_of_draws as number_of_draws  # the page's split text
from uqviz.conformal import split_sizes as split_sizes
from uqviz.numerics import finite_number
from uqviz.plots import conformal_curve_figure
from uqviz.study import Study
from uqviz.ui.backend import NoImages, row_images, source_label
from uqviz.ui.components.conformal_alpha import AlphaWorkbench, conformal_alpha, prepare
from uqviz.ui.widgets import show_cases

ALPHA_KEY = "conf_alpha"
WORKBENCH_KEY = "conf_alpha_workbench"
DEFAULT_ALPHA = 0.1
EXAMPLES = dict(zip(EXAMPLE_KINDS, ("random test images", "the largest sets",
                                    "sets that miss the true class"), strict=True))


def snap_alpha(value) -> float:
    """The level of ``SLIDER_ALPHAS`` nearest to ``value``; ``DEFAULT_ALPHA`` when ``value``
    is not a finite number."""
    number = finite_number(value)
    if number is None:
        return DEFAULT_ALPHA
    return float(SLIDER_ALPHAS[np.argmin(np.abs(SLIDER_ALPHAS - number))])


def alpha_value() -> float:
    """This session's committed α (``conf_alpha``), snapped to the slider."""
    return snap_alpha(st.session_state.get(ALPHA_KEY, DEFAULT_ALPHA))


def _store_commit() -> None:
    """The component committed an α: keep it under ``conf_alpha``."""
    state = st.session_state.get(WORKBENCH_KEY)
    value = state.get("alpha") if state is not None else None
    if value is not None:
        st.session_state[ALPHA_KEY] = snap_alpha(value)


def alpha_workbench(study: Study, settings: dict, *, seed: int, n_draws: int, start: float,
                    source: str, method: str) -> tuple[AlphaWorkbench, float]:
    """Mount the slider with its numbers and charts; return the component's data and the
    committed α.

    Args:
        settings: ``score``, ``cal_fraction``, ``randomized``, ``lam``, ``k_reg``.
        start: ``alpha_value()`` as the last full run of the page found it; the component
            starts from it (a fragment rerun passes the same, so the component's data does not
            change while only its committed value does).
        source, method: name the data for the component (with the settings and a digest).
    """
    with st.spinner("Averaging over calibration splits…"):
        prepared = prepare(study, settings, seed, n_draws)
    data_id = "|".join([source, method, str(seed),
                        *(f"{k}={v}" for k, v in sorted(settings.items()))])
    conformal_alpha(prepared, data_id=data_id, alpha=start, key=WORKBENCH_KEY,
                    on_commit=_store_commit)
    return prepared, alpha_value()


def examples_panel(study: Study, dataset: str, alpha: float, seed: int, settings: dict) -> None:
    """Test images with their prediction sets at ``alpha`` (none for a predictions file)."""
    st.subheader("Examples with their prediction sets")
    try:
        images = row_images(dataset, study)
    except NoImages:
        images = None
    if images is None or len(images) != study.n:
        st.info(f"{source_label(dataset)} holds predictions only, so there are no images to "
                "show; the numbers and charts above still apply.")
        return
    kind = st.radio("Show", list(EXAMPLES), key="conf_examples", format_func=EXAMPLES.get,
                    horizontal=True)
    result = study.conformal(alpha=alpha, seed=seed, **settings)
    ex = set_examples(result, study.rows.labels, kind, seed=seed)
    if len(ex.rows) == 0:
        st.caption("No test image is missed at this α.")
        return
    show_cases(images, ex.rows, ex.captions(study.rows.names))
    st.caption("Under each image: its prediction set, then the true class; ✓ when the set "
               "contains it, ✗ when it misses. {} is an empty set: no class was likely enough.")


def curve_panel(study: Study, prepared: AlphaWorkbench, alpha: float, seed: int,
                settings: dict, title: str) -> None:
    """Coverage and set size against the target on this split and averaged over splits, with
    a dotted line at the committed ``alpha``."""
    st.subheader("Coverage and set size against the target")
    curve = study.conformal_curve(CURVE_ALPHAS, seed=seed, **settings)
    n_draws = prepared.average.n_draws
    st.plotly_chart(conformal_curve_figure(curve, title=title, height=460,
                                           average=prepared.average, marked_alpha=alpha,
                                           legend_below=True), theme=None, key="conf_curve")
    st.caption("Left: measured coverage against the target 1 − α for this split (blue, with its "
               f"95% band) and averaged over {n_draws} splits (green); on the dashed diagonal the "
               "promise is kept exactly. Right: the price, in classes per set. The dotted line "
               "marks the α chosen above.")
