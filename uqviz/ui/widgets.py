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


def drawn_digit(key: str):
    """The digit drawn on the canvas ``key`` (a Pillow image), or None when it is empty or the
    canvas is missing."""
    try:
        from streamlit_drawable_canvas import st_canvas

        st.markdown("**…or draw a digit** (white on black, as in the training data)")
        result = st_canvas(stroke_width=18, stroke_color="#FFFFFF", background_color="#000000",
                           height=280, width=280, drawing_mode="freedraw",
                           return_image_data=True, key=key)
        pixels = result.image_data
    except Exception:  # noqa: BLE001 — an optional widget: any failure only hides it
        st.caption("The drawing canvas is not available here; upload a picture instead.")
        return None
    from uqviz.data.user_images import canvas_image

    return canvas_image(pixels)
