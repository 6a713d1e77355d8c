"""The Dataset shift page's severity strip: eight test images at each severity 0–5, every
method's prediction and uncertainty under them, and each method's accuracy and mean
uncertainty on the whole corrupted test set; the severity is set in the browser
(``uqviz.ui.components.shift_severity``) and answered there without a Python rerun.

Python sends once per (source, corruption, score, methods) everything the strip shows at
every severity: the pictures (PNG data URLs, upscaled as ``upscale_for_display`` and
``tile_images`` upscale them), per severity and method the ``Study.shift_cases`` of the
eight images and the ``severity_table`` row (accuracy, mean uncertainty, n). The committed
severity is kept in session state under ``shift_severity`` and in the URL
(``?shift_severity=``); a value comes from session state, else from the URL, else the
default 3.

A predictions file has no images: the strip then holds only the numbers.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from uqviz.metrics.scores import UNCERTAINTY_SCORES
from uqviz.numerics import finite_number
from uqviz.plots.theme import method_color
from uqviz.shift_analysis import SEVERITY_LEVELS, evenly_spaced
from uqviz.study import Study
from uqviz.ui.components.shift_severity import shift_severity
from uqviz.ui.images import tile_images, upscale_for_display
from uqviz.ui.shift_backend import corrupted_test_images, corruption_label
from uqviz.ui.state import method_label

SEVERITY_KEY = "shift_severity"  # session state and URL: the committed severity
COMPONENT_KEY = "shift_severity_strip"
DEFAULT_SEVERITY = 3
STRIP_SIZE = 8
PAGE_STEP = 2  # the slider's PageUp / PageDown: two severities


@dataclass(frozen=True)
class MethodAtSeverity:
    """One method at one severity.

    Attributes:
        predicted: the strip images' predicted classes (``Study.shift_cases``); None without
            images.
        correct: whether each of those predictions is right.
        uncertainty: each image's uncertainty score (None for NaN).
        accuracy: accuracy on the whole corrupted test set (``severity_table``); None when
            the predictions have no rows at this severity, or none is labelled.
        mean_uncertainty: the mean uncertainty score on the whole corrupted test set.
    """

    predicted: tuple[int, ...] | None
    correct: tuple[bool, ...] | None
    uncertainty: tuple[float | None, ...] | None
    accuracy: float | None
    mean_uncertainty: float | None


@dataclass(frozen=True)
class SeverityLevel:
    """What the strip shows at one severity.

    Attributes:
        severity: 0 (the clean test rows) to 5.
        n: labelled rows of the corrupted test set at this severity (the first method's);
            None when the predictions have none.
        truth: the strip images' true classes; None without images.
        methods: method id -> its ``MethodAtSeverity``, in the page's order.
    """

    severity: int
    n: int | None
    truth: tuple[int, ...] | None
    methods: dict[str, MethodAtSeverity]


def short_label(method: str) -> str:
    """A method's label short enough for a narrow column ("Deep ensemble" -> "Deep")."""
    label = method_label(method)
    return label if len(label) <= 10 else label.split()[0]


def parse_severity(text) -> int:
    """A severity from the URL (or session state): an integer 0–5, else the default."""
    value = finite_number(text)
    ok = value is not None and value.is_integer() and value in SEVERITY_LEVELS
    return int(value) if ok else DEFAULT_SEVERITY


def _finite(x) -> float | None:
    """A float for JSON: None for NaN (JSON has no NaN)."""
    x = float(x)
    return x if math.isfinite(x) else None


def strip_picks(n_images: int) -> np.ndarray:
    """The rows of the eight strip images: spread evenly over the test set."""
    return evenly_spaced(n_images, STRIP_SIZE)


def severity_levels(studies: Mapping[str, Study], table: pd.DataFrame, corruption: str,
                    score: str, picks: np.ndarray | None) -> list[SeverityLevel]:
    """The strip's ``SeverityLevel`` at each severity 0–5.

    Args:
        studies: method id -> study, in the page's order.
        table: ``severity_table(studies.values(), corruption, score)``.
        picks: the strip images' rows (``strip_picks``); None without images.
    """
    rows = {(r.method, int(r.severity)): r for r in table.itertuples(index=False)}
    first = next(iter(studies))
    levels = []
    for severity in SEVERITY_LEVELS:
        methods, truth = {}, None
        for method, study in studies.items():
            row = rows.get((method, severity))
            cases = None
            if row is not None and picks is not None and len(picks) and \
                    int(picks.max()) < study.shift_rows(corruption, severity).n:
                cases = study.shift_cases(corruption, severity, score, picks)
                truth = truth or tuple(int(c) for c in cases.labels)
            methods[method] = MethodAtSeverity(
                predicted=None if cases is None else tuple(int(c) for c in cases.predicted),
                correct=None if cases is None else tuple(bool(c) for c in cases.correct),
                uncertainty=None if cases is None else tuple(_finite(u) for u in cases.uncertainty),
                accuracy=None if row is None else _finite(row.accuracy),
                mean_uncertainty=None if row is None else _finite(row.mean_uncertainty))
        first_row = rows.get((first, severity))
        levels.append(SeverityLevel(severity, None if first_row is None else int(first_row.n),
                                    truth, methods))
    return levels


def png_data_url(rgb: np.ndarray) -> str:
    """An (H, W, 3) uint8 picture as a ``data:image/png;base64,`` URL."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


@st.cache_data(show_spinner=False, max_entries=32)
def strip_pictures(dataset: str, corruption: str, n_images: int,
                   severities: tuple[int, ...]) -> dict[int, tuple[str, ...]]:
    """The strip's eight pictures at each of ``severities``: the corrupted test images
    (``corrupted_test_images``) upscaled for display as the page always did, as PNG data
    URLs."""
    picks = strip_picks(n_images)
    pictures = {}
    for severity in severities:
        images = corrupted_test_images(dataset, corruption, severity)[picks]
        scale = upscale_for_display(images.shape[2])
        pictures[severity] = tuple(png_data_url(tile_images(images[k:k + 1], 1, scale=scale))
                                   for k in range(len(images)))
    return pictures


def strip_payload(levels: Sequence[SeverityLevel], pictures: Mapping[int, Sequence[str]] | None,
                  *, class_names: Sequence[str], corruption: str, score: str) -> dict:
    """The component's data (JSON): the methods' labels and colours, the class names, the
    score's label and per severity the pictures, the cases and the whole-set numbers; with a
    digest of it all."""
    methods = list(levels[0].methods) if levels else []
    payload = {
        "names": [str(c) for c in class_names],
        "methods": [{"label": method_label(m), "short": short_label(m), "color": method_color(m)}
                    for m in methods],
        "score_label": UNCERTAINTY_SCORES[score].label,
        "corruption_label": corruption_label(corruption),
        "images": pictures is not None,
        "page_step": PAGE_STEP,
        "levels": [{
            "severity": level.severity, "n": level.n, "truth": level.truth,
            "pictures": None if pictures is None else pictures.get(level.severity),
            "methods": [{"predicted": a.predicted, "correct": a.correct,
                         "uncertainty": a.uncertainty, "accuracy": a.accuracy,
                         "mean_uncertainty": a.mean_uncertainty}
                        for a in level.methods.values()],
        } for level in levels],
    }
    text = json.dumps(payload, sort_keys=True)
    payload["digest"] = hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]
    return payload


def severity_value() -> int:
    """This session's committed severity, seeded from the URL once."""
    if SEVERITY_KEY not in st.session_state:
        st.session_state[SEVERITY_KEY] = parse_severity(st.query_params.get(SEVERITY_KEY))
    value = parse_severity(st.session_state[SEVERITY_KEY])
    st.session_state[SEVERITY_KEY] = value
    return value


def _store_commit() -> None:
    """The component committed a severity: keep it under the page's key."""
    state = st.session_state.get(COMPONENT_KEY)
    commit = state.get("commit") if state is not None else None
    if isinstance(commit, (int, float)) and not isinstance(commit, bool):
        st.session_state[SEVERITY_KEY] = parse_severity(commit)


def severity_strip(studies: Mapping[str, Study], table: pd.DataFrame, *, dataset: str,
                   corruption: str, score: str, n_images: int | None) -> int:
    """Mount the strip for ``corruption`` and ``score`` and return the committed severity.

    Args:
        studies: method id -> study, in the page's order.
        table: ``severity_table(studies.values(), corruption, score)``.
        dataset: the source's key (for the pictures and the component's data id).
        n_images: the test images (``len(test_images(dataset))``); None for a predictions
            file (no pictures).
    """
    severity = severity_value()
    picks = None if n_images is None else strip_picks(n_images)
    levels = severity_levels(studies, table, corruption, score, picks)
    pictures = None
    if n_images is not None:
        present = tuple(level.severity for level in levels if level.n is not None)
        pictures = strip_pictures(dataset, corruption, n_images, present)
    first = next(iter(studies.values()))
    payload = strip_payload(levels, pictures, class_names=first.rows.names,
                            corruption=corruption, score=score)
    data_id = f"{dataset}|{corruption}|{score}|{','.join(studies)}|{payload['digest']}"
    shift_severity(payload, data_id=data_id, severity=severity, key=COMPONENT_KEY,
                   on_commit=_store_commit)
    if st.query_params.get(SEVERITY_KEY) != str(severity):
        st.query_params[SEVERITY_KEY] = str(severity)
    return severity
