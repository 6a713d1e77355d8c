"""A user's models as sources: registered in this session or offered by ``UQVIZ_MODELS``.

A ``uqviz.user_model.ModelSource`` (model file(s) + an image folder) gets the key
``model:<name>#<hash>``; the sidebar lists it beside the datasets and every analysis page works
on its methods. Uploaded model files and extracted zips live in one temporary folder per
session (``session_folder``), removed when the session's state is garbage collected, when it is
replaced, and at process exit (``weakref.finalize`` runs its pending callbacks at exit; Streamlit
has no public session-end hook).

The operator may offer models to every session: ``UQVIZ_MODELS`` holds entries separated by
``os.pathsep``, each ``MODEL=FOLDER`` (the model file with its ``model.json`` sidecar, and an
image folder resolved under ``UQVIZ_DATA_ROOTS``). Entries that cannot be read are skipped.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from pathlib import Path

import streamlit as st

from uqviz.user_model import MODEL_PREFIX, ModelSource, UserModelError

MODELS_KEY = "model_sources"
FOLDER_KEY = "model_session_folder"
ENV_MODELS = "UQVIZ_MODELS"


def is_model_key(key: str) -> bool:
    """Whether a sidebar key names a user's model source."""
    return key.startswith(MODEL_PREFIX)


class SessionFolder:
    """A temporary folder removed when this object is collected or the process exits."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="uqviz-session-"))
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.path), True)

    def remove(self) -> None:
        self._finalizer()

    def new_folder(self, prefix: str) -> Path:
        """An empty sub-folder (one per upload, so nothing registered is overwritten)."""
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self.path))


def session_folder() -> SessionFolder:
    """This session's temporary folder (created on first use)."""
    folder = st.session_state.get(FOLDER_KEY)
    if not isinstance(folder, SessionFolder) or not folder.path.is_dir():
        if isinstance(folder, SessionFolder):
            folder.remove()
        folder = SessionFolder()
        st.session_state[FOLDER_KEY] = folder
    return folder


def session_models() -> dict[str, ModelSource]:
    return st.session_state.setdefault(MODELS_KEY, {})


def register_model(source: ModelSource) -> str:
    """Offer a model source to this session's sidebar; returns its key."""
    session_models()[source.key] = source
    return source.key


@st.cache_resource(show_spinner=False)
def _env_source(entry: str, mtime_ns: int) -> ModelSource:
    from uqviz.data.roots import resolve_data_path

    model, _, folder = entry.partition("=")
    return ModelSource.create([model.strip()], resolve_data_path(folder.strip()))


def env_models() -> dict[str, ModelSource]:
    """The models of ``UQVIZ_MODELS`` that can be read, by key (bad entries are skipped)."""
    found = {}
    for entry in os.environ.get(ENV_MODELS, "").split(os.pathsep):
        if "=" not in entry:
            continue
        path = Path(entry.partition("=")[0].strip())
        try:
            src = _env_source(entry, path.stat().st_mtime_ns)
            found[src.key] = src
        except (OSError, ValueError):  # UserModelError, OutsideDataRoots are ValueErrors
            continue
    return found


def model_datasets() -> list[str]:
    """Keys of every model source this session can choose."""
    return [*env_models(), *session_models()]


def model_source(key: str) -> ModelSource:
    """The model source behind a key; ValueError when this session has not registered it."""
    if key in session_models():
        return session_models()[key]
    env = env_models()
    if key in env:
        return env[key]
    raise UserModelError(f"{key.removeprefix(MODEL_PREFIX).rsplit('#', 1)[0]} is not loaded "
                         "in this session: add it again on the 'Your model' page")


def predict_model_pictures(key: str, methods: list[str], tensors: list, corruption: str,
                           severity: int):
    """The Your images page on a user's model: pictures prepared by ``prepare_picture`` (each
    (C, H, W) in [0, 1] at the model's input size), ``corruption`` at ``severity`` applied
    (seeded, as the Dataset shift page corrupts the folder's images), and every method's
    probabilities (S, N, C). Raises ``UserModelError`` (one line)."""
    import torch

    from uqviz.shifts import corrupt

    batch = corrupt(torch.stack(list(tensors)), corruption, severity, seed=0)
    return batch.numpy(), model_source(key).predict_images(batch, list(methods))


# -- the 'Your model' page's logic (kept here so tests call it without uploads) ---------------
MODEL_SUFFIXES = (".pt", ".pt2", ".onnx")


def _numbers(text: str, key: str) -> list[float] | None:
    text = text.strip()
    if not text:
        return None
    try:
        return [float(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise UserModelError(f"{key}: expected numbers separated by commas, got {text!r}") from None


def form_overrides(*, input_size: str = "", channels: int | None = None, mean: str = "",
                   std: str = "", classes: str = "", outputs: str = "",
                   features_output: str = "", flips: str = "") -> dict:
    """The page's form fields as ``model_config`` overrides (empty fields are left out, so the
    uploaded ``model.json`` gives them). ``input_size``: ``32`` or ``32x32`` / ``32, 32``;
    ``classes``: comma-separated; ``features_output``: an index or an output name;
    ``flips``: ``yes``/``no``/empty. Raises ``UserModelError`` (one line) on a bad field."""
    out: dict = {}
    size = input_size.strip().lower().replace("×", "x").replace("x", " ")
    if size:
        numbers = _numbers(size, "input size")
        if len(numbers) not in (1, 2) or any(n != int(n) for n in numbers):
            raise UserModelError(f"input size: expected H x W in pixels, got {input_size!r}")
        out["input_size"] = [int(numbers[0]), int(numbers[-1])]
    if channels:
        out["channels"] = int(channels)
    for key, text in (("mean", mean), ("std", std)):
        values = _numbers(text, key)
        if values is not None:
            out[key] = values
    names = [c.strip() for c in classes.split(",") if c.strip()]
    if names:
        out["classes"] = names
    if outputs:
        out["outputs"] = outputs
    feature = features_output.strip()
    if feature:
        out["features_output"] = int(feature) if feature.lstrip("-").isdigit() else feature
    if flips:
        out["flips_preserve_label"] = flips == "yes"
    return out


def _safe_name(name: str) -> str:
    base = Path(name).name.strip() or "model"
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in base)


def images_folder(zip_file: tuple[str, bytes] | None, folder: str | None, what: str) -> Path:
    """An image folder: a zip (name, bytes) extracted into this session's folder, or a folder
    under ``UQVIZ_DATA_ROOTS`` (anything outside is refused, one line)."""
    from uqviz.data.roots import resolve_data_path
    from uqviz.data.zip_upload import extract_zip

    if zip_file is not None:
        name, data = zip_file
        target = session_folder().new_folder("images-")
        return extract_zip(data, target, name=name).root
    if folder:
        return resolve_data_path(folder)
    raise UserModelError(f"give the {what}: a .zip of class folders or a folder on the server")


def add_model(model_files: list[tuple[str, bytes]], *, config: bytes | None = None,
              overrides: dict | None = None, images: Path, ood: Path | None = None
              ) -> ModelSource:
    """Write uploaded model files (name, bytes) into this session's folder, build and check a
    ``ModelSource`` (models loaded, folders read) and register it; returns it.

    Raises:
        UserModelError (or another ValueError): one line; nothing already registered changes.
    """
    if not model_files:
        raise UserModelError("upload at least one model file (.pt TorchScript, .pt2 or .onnx)")
    folder = session_folder().new_folder("model-")
    try:
        source = _create(folder, model_files, config, overrides or {}, images, ood)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # a refused upload leaves nothing behind
        raise
    for old in [o for o in session_models().values() if o.label == source.label]:
        _forget(old)  # the same model on the same folder, uploaded again: replace it
    register_model(source)
    return source


def _create(folder: Path, model_files: list[tuple[str, bytes]], config: bytes | None,
            overrides: dict, images: Path, ood: Path | None) -> ModelSource:
    paths = []
    for name, data in model_files:
        safe = _safe_name(name)
        if not safe.lower().endswith(MODEL_SUFFIXES):
            raise UserModelError(f"{name}: not a model file; give .pt (TorchScript), .pt2 "
                                 "(torch.export) or .onnx")
        path = folder / safe
        if path.exists():
            raise UserModelError(f"{name}: given twice")
        path.write_bytes(data)
        paths.append(path)
    config_path = None
    if config is not None:
        config_path = folder / "model.json"
        config_path.write_bytes(config)
    source = ModelSource.create(paths, images, ood=ood, config=config_path, **overrides)
    _ = source.methods  # loads and probes the models, reads the folders
    return source


def _forget(old: ModelSource) -> None:
    """Drop a registered source and delete its files when they are in this session's folder."""
    session_models().pop(old.key, None)
    root = session_folder().path
    parts = {Path(m).parent for m in old.models} | {Path(old.data)}
    if old.ood:
        parts.add(Path(old.ood))
    for part in parts:
        part = part.resolve()
        if part != root and part.is_relative_to(root):
            top = root / part.relative_to(root).parts[0]  # the upload's own sub-folder
            shutil.rmtree(top, ignore_errors=True)
