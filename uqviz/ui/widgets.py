"""Small views several pages share: rows of images with captions."""

from __future__ import annotations

import numpy as np
import streamlit as st

from uqviz.study import Study
from uqviz.ui.images import framed_pictures

CASE_WIDTH = 110


def case_captions(study: Study, score: str, rows: np.ndarray) -> list[str]:
    """``pred 3 ✓ · true 3 · u=0.123`` for each scored row (``Study.rows`` indices)."""
    names, labels = study.rows.names, study.rows.labels
    u = study.uncertainty(score)
    return [f"pred {names[study.predicted[i]]} {'✓' if study.correct[i] else '✗'} · true "
            f"{names[labels[i]]} · u={u[i]:.3f}" for i in rows]


def show_cases(images: np.ndarray, rows: np.ndarray, captions: list[str],
               width: int = CASE_WIDTH) -> None:
    """One st.image element with the pictures of ``rows``; "none" when there are none."""
    if len(rows) == 0:
        st.caption("none")
        return
    st.image(framed_pictures(images, rows, width), caption=captions, width=width)
