"""Predictions files as sources: uploaded in this session or named by ``UQVIZ_PREDICTIONS``.

A file becomes a ``FileSource`` whose key, ``predictions:<file name>#<fingerprint>``, the sidebar
lists beside the datasets; every analysis page then works on its methods as on a trained
dataset's. Files given by the environment variable (paths separated by ``os.pathsep``, e.g. a
bundle written by ``python -m uqviz evaluate``) are offered to every session.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from uqviz.exchange import PredictionsFileError as PredictionsFileError  # the Upload page's
from uqviz.exchange import read_predictions
from uqviz.exchange import read_predictions_bytes as read_predictions_bytes  # preview
from uqviz.sources import FILE_PREFIX, file_key, path_fingerprint
from uqviz.sources import FileSource as FileSource  # the Upload page builds one

FILES_KEY = "prediction_files"
ENV_PREDICTIONS = "UQVIZ_PREDICTIONS"


def _env_paths() -> list[Path]:
    raw = os.environ.get(ENV_PREDICTIONS, "")
    return [Path(p) for p in raw.split(os.pathsep) if p.strip()]


@st.cache_resource(show_spinner="Reading the predictions file…")
def _read_env_file(path: str, mtime_ns: int) -> FileSource:
    return FileSource.from_path(path, read_predictions(path))


def env_dataset_name(path: str | Path) -> str:
    """The sidebar key of a file named by UQVIZ_PREDICTIONS (its fingerprint changes when the
    file does, so nothing cached for an older version is shown); the file is not read."""
    return file_key(Path(path).name, path_fingerprint(path))


def env_sources() -> dict[str, Path]:
    """Sidebar keys of the files named by UQVIZ_PREDICTIONS that exist."""
    return {env_dataset_name(p): p for p in _env_paths() if p.exists()}


def session_files() -> dict[str, FileSource]:
    return st.session_state.setdefault(FILES_KEY, {})


def register_upload(source: FileSource) -> str:
    """Offer an uploaded file to this session's sidebar; returns its key."""
    session_files()[source.key] = source
    return source.key


def prediction_datasets() -> list[str]:
    """Keys of every predictions file this session can choose."""
    return [*env_sources(), *session_files()]


def file_source(key: str) -> FileSource:
    """The loaded file behind a key; ValueError when unknown (e.g. an upload from another
    session, or a link to a file this session has not uploaded)."""
    if key in session_files():
        return session_files()[key]
    path = env_sources().get(key)
    if path is not None:
        return _read_env_file(str(path), path.stat().st_mtime_ns)
    raise ValueError(f"{key.removeprefix(FILE_PREFIX)} is not loaded in this session: "
                     "upload it again on the 'Your predictions' page")
