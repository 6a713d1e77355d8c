"""Small views several pages share: rows of images with captions."""

from __future__ import annotations

import numpy as np
import streamlit as st

from uqviz.study import Study
from uqviz.ui.images import framed_pictures

CASE_WIDTH = 110


def case_captions(study: Study, score: str, rows: np.ndarray) -> list[str]:
    """``pred 3 ✓ · true 3 · u=0.123`` for each stream row (``Study.stream`` indices; an
    out-of-distribution row reads ``true: none (OOD)``)."""
    names, labels = study.stream.names, study.stream.labels
    u, predicted = study.stream_uncertainty(score), study.stream_predicted
    return [f"pred {names[predicted[i]]} {'✓' if study.stream_correct[i] else '✗'} · true "
            f"{names[labels[i]] if labels[i] >= 0 else 'none (OOD)'} · u={u[i]:.3f}"
            for i in rows]


def show_cases(images: np.ndarray, rows: np.ndarray, captions: list[str],
               width: int = CASE_WIDTH) -> None:
    """One st.image element with the pictures of ``rows``; "none" when there are none."""
    if len(rows) == 0:
        st.caption("none")
        return
    st.image(framed_pictures(images, rows, width), caption=captions, width=width)
