"""Predictions files as datasets: uploaded in this session or named by ``UQVIZ_PREDICTIONS``.

A file becomes a dataset called ``predictions:<file name>#<content hash>``; every analysis
page then works on its methods as on a trained dataset's. Files given by the environment
variable (paths separated by ``os.pathsep``, e.g. a bundle written by ``python -m uqviz
evaluate``) are offered to every session.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import streamlit as st

from uqviz.exchange import LoadedPredictions, read_predictions

PREDICTIONS_PREFIX = "predictions:"
FILES_KEY = "prediction_files"
ENV_PREDICTIONS = "UQVIZ_PREDICTIONS"


def is_predictions_dataset(name: str) -> bool:
    return name.startswith(PREDICTIONS_PREFIX)


def dataset_name_for(filename: str, data: bytes) -> str:
    """``predictions:<filename>#<8 hex of the content's sha256>``."""
    return f"{PREDICTIONS_PREFIX}{filename}#{hashlib.sha256(data).hexdigest()[:8]}"


def _env_paths() -> list[Path]:
    raw = os.environ.get(ENV_PREDICTIONS, "")
    return [Path(p) for p in raw.split(os.pathsep) if p.strip()]


@st.cache_resource(show_spinner="Reading the predictions file…")
def _read_env_file(path: str, mtime: float) -> LoadedPredictions:
    return read_predictions(path)


def env_dataset_name(path: str | Path) -> str:
    """``predictions:<file name>#<fingerprint>`` for a file named by UQVIZ_PREDICTIONS; the
    fingerprint (path, size, modification time) changes when the file does, so nothing cached
    for an older version is shown."""
    path = Path(path)
    stat = path.stat()
    token = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()
    return f"{PREDICTIONS_PREFIX}{path.name}#{hashlib.sha256(token).hexdigest()[:8]}"


def env_datasets() -> dict[str, Path]:
    """Dataset names of the files named by UQVIZ_PREDICTIONS that exist."""
    return {env_dataset_name(p): p for p in _env_paths() if p.exists()}


def session_files() -> dict[str, LoadedPredictions]:
    return st.session_state.setdefault(FILES_KEY, {})


def register_upload(name: str, loaded: LoadedPredictions) -> None:
    session_files()[name] = loaded


def prediction_datasets() -> list[str]:
    """Every predictions-file dataset this session can choose."""
    return [*env_datasets(), *session_files()]


def loaded_file(name: str) -> LoadedPredictions:
    """The loaded predictions of a predictions-file dataset; ValueError when unknown (e.g. an
    upload from another session, or a link to a file this session has not uploaded)."""
    if name in session_files():
        return session_files()[name]
    path = env_datasets().get(name)
    if path is not None:
        return _read_env_file(str(path), path.stat().st_mtime)
    raise ValueError(f"{name.removeprefix(PREDICTIONS_PREFIX)} is not loaded in this session: "
                     "upload it again on the 'Your predictions' page")


def display_name(name: str) -> str:
    """``predictions:preds.csv#ab12cd34`` -> ``preds.csv (your predictions)``."""
    if not is_predictions_dataset(name):
        return name
    return f"{name.removeprefix(PREDICTIONS_PREFIX).rsplit('#', 1)[0]} (your predictions)"
