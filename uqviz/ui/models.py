"""A user's models as sources: registered in this session or offered by ``UQVIZ_MODELS``.

A ``uqviz.user_model.ModelSource`` (model file(s) + an image folder) gets the key
``model:<name>#<hash>``; the sidebar lists it beside the datasets and every analysis page works
on its methods. Uploaded model files and extracted zips live in one temporary folder per
session (``session_folder``), removed when the session's state is garbage collected, when it is
replaced, and at process exit (``weakref.finalize`` runs its pending callbacks at exit; Streamlit
has no public session-end hook).

An uploaded zip is extracted once per upload (``uqviz.data.zip_upload.extract_upload``: a folder
named by the SHA-256 of the archive's bytes, so pressing Add again reuses it), and one that no
registered model uses is removed after every Add, so a refused model or a replaced upload leaves
nothing behind. Messages never show the session folder: an extraction is named by its archive's
name, an ``OSError`` by the file's name (``public_message``).

The operator may offer models to every session: ``UQVIZ_MODELS`` holds entries separated by
``os.pathsep``, each ``MODEL=FOLDER`` (the model file with its ``model.json`` sidecar, and an
image folder resolved under ``UQVIZ_DATA_ROOTS``). Each entry is loaded and probed once per
process; one that is refused (a pickle, a missing file, a folder outside the roots…) is not
offered, and the sidebar says why in one line (``model_datasets``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from uqviz.data.roots import data_folders as data_folders  # the page's folder picker
from uqviz.user_model import MODEL_PREFIX, ModelSource, UserModelError
from uqviz.user_model import USER_METHODS as USER_METHODS  # the page's method table
from uqviz.user_model.loading import check_upload, first_line, torch_uploads_allowed

MODELS_KEY = "model_sources"
FOLDER_KEY = "model_session_folder"
EXTRACTIONS_KEY = "model_extractions"
ENV_MODELS = "UQVIZ_MODELS"
MAX_NAME = 120  # characters of an uploaded file's name kept on disk


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


def os_error_line(err: OSError) -> str:
    """An ``OSError`` in words without its path: ``name: file name too long``."""
    reason = ("no such file" if isinstance(err, FileNotFoundError)
              else err.strerror or first_line(err))
    reason = reason[:1].lower() + reason[1:]
    return f"{Path(str(err.filename)).name}: {reason}" if err.filename else reason


def _env_problem(model: str, err: BaseException) -> str:
    text = os_error_line(err) if isinstance(err, OSError) else first_line(err)
    folder = str(Path(model).expanduser().resolve().parent)
    text = text.replace(folder + os.sep, "").replace(str(Path(model).parent) + os.sep, "")
    return f"{ENV_MODELS}: a model is not offered: {text}"


@st.cache_resource(show_spinner=False)
def _env_source(entry: str, mtime_ns: int) -> ModelSource | str:
    """An entry's source, loaded and probed with its folder read, or one line saying why it is
    refused (both kept for the process, per entry and model file modification time)."""
    from uqviz.data.roots import resolve_data_path

    model, _, folder = entry.partition("=")
    try:
        source = ModelSource.create([model.strip()], resolve_data_path(folder.strip()))
        _ = source.methods  # loads and probes the model (a pickle is refused), reads the folder
        return source
    except (OSError, ValueError) as err:  # UserModelError, OutsideDataRoots are ValueErrors
        return _env_problem(model.strip(), err)


def _env_entries() -> list[ModelSource | str]:
    found: list[ModelSource | str] = []
    for entry in os.environ.get(ENV_MODELS, "").split(os.pathsep):
        if not entry.strip():
            continue
        if "=" not in entry:
            found.append(f"{ENV_MODELS}: an entry is not MODEL=FOLDER: {entry.strip()!r}")
            continue
        model = entry.partition("=")[0].strip()
        try:
            mtime = Path(model).expanduser().stat().st_mtime_ns
        except OSError as err:
            found.append(_env_problem(model, err))
            continue
        found.append(_env_source(entry, mtime))
    return found


def env_models() -> dict[str, ModelSource]:
    """The models of ``UQVIZ_MODELS`` that load, by key (refused entries: ``env_problems``)."""
    return {e.key: e for e in _env_entries() if isinstance(e, ModelSource)}


def env_problems() -> list[str]:
    """One line per entry of ``UQVIZ_MODELS`` that is refused, saying why."""
    return [e for e in _env_entries() if isinstance(e, str)]


def model_datasets() -> list[str]:
    """Keys of every model source this session can choose. Called where the sidebar's dataset
    selector is built: each refused ``UQVIZ_MODELS`` entry gets one line in the sidebar."""
    for problem in env_problems():
        st.sidebar.warning(problem)
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
    from uqviz.shifts import corrupt_pictures

    batch = corrupt_pictures(tensors, corruption, severity, seed=0)
    return batch.numpy(), model_source(key).predict_images(batch, list(methods))


# -- the 'Your model' page's logic (kept here so tests call it without uploads) ---------------
MODEL_SUFFIXES = (".pt", ".pt2", ".onnx")
ONNX_TYPE, TORCH_TYPES = ("onnx", "ONNX"), (("pt", "TorchScript"), ("pt2", "torch.export"))


@dataclass(frozen=True)
class ModelUploader:
    """The page's model file uploader as the operator set the upload policy
    (``torch_uploads_allowed``): ``types`` is its ``type=`` (suffixes without the dot; the
    browser offers and Streamlit takes these only), ``formats`` the same in words, ``label`` and
    ``help`` say exactly these."""

    types: tuple[str, ...]
    formats: str
    label: str
    help: str


def model_uploader() -> ModelUploader:
    """What this server takes as a model file: ONNX (``.onnx``), plus TorchScript (``.pt``) and
    ``torch.export`` (``.pt2``) where the operator set ``UQVIZ_ALLOW_TORCH_UPLOADS=1``."""
    accepted = [ONNX_TYPE, *(TORCH_TYPES if torch_uploads_allowed() else ())]
    named = [f"{name} (.{suffix})" for suffix, name in accepted]
    formats = named[0] if len(named) == 1 else f"{', '.join(named[:-1])} or {named[-1]}"
    if torch_uploads_allowed():
        why = ("a torch file is checked (no pickle, no file or process operators) and run in a "
               "process of its own; pickled checkpoints (torch.save) are refused")
    else:
        why = ("TorchScript (.pt) and torch.export (.pt2) files are refused (programs torch "
               "runs): export with torch.onnx.export(model, (example,), path, "
               "external_data=False)")
    return ModelUploader(
        types=tuple(suffix for suffix, _ in accepted), formats=formats,
        label=f"Model file(s): {formats}",
        help=f"This server takes {formats} model files; {why}. Several files with the same "
             "classes form an ensemble.")


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


def upload_policy() -> str:
    """What the page accepts as a model file, as the operator set it."""
    if torch_uploads_allowed():
        return ("This server also accepts TorchScript (`.pt`) and `torch.export` (`.pt2`) "
                "files; they are checked (no pickle, no file or process operators, no code run "
                "at load) and run in a process of their own with memory and time limits. "
                "Pickled checkpoints are refused.")
    return ("TorchScript (`.pt`) and `torch.export` (`.pt2`) files are refused here: they are "
            "programs torch runs, so this server takes ONNX uploads only. Export with "
            "`torch.onnx.export(model, (example,), path, external_data=False)` (weights inside "
            "the `.onnx` file); the operator can allow the torch formats with "
            "UQVIZ_ALLOW_TORCH_UPLOADS=1.")


def _safe_name(name: str) -> str:
    base = Path(name).name.strip() or "model"
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in base)
    if len(safe) > MAX_NAME:  # a name the file system refuses ([Errno 36])
        suffix = Path(safe).suffix[:10]
        safe = safe[:MAX_NAME - len(suffix)] + suffix
    return safe


def _is_extraction(folder: Path) -> bool:
    """Whether a sub-folder of the session folder is an extracted upload (``extract_upload``
    names it by the SHA-256 of the archive's bytes)."""
    return len(folder.name) == 64 and all(c in "0123456789abcdef" for c in folder.name)


def extractions() -> dict[str, str]:
    """This session's extracted uploads: folder -> the archive's name (for messages)."""
    return st.session_state.setdefault(EXTRACTIONS_KEY, {})


def extract_once(name: str, data: bytes) -> Path:
    """The upload ``(name, data)`` extracted into this session's folder once
    (``uqviz.data.zip_upload.extract_upload``: the same bytes again reuse the folder named by
    their SHA-256); returns the folder holding the class folders.

    Raises:
        ZipRejected, UserModelError: one line naming the archive (never the session folder).
    """
    from uqviz.data.zip_upload import extract_upload

    label = Path(str(name)).name or "upload.zip"
    session = session_folder().path
    try:
        root = extract_upload(data, label, session)
    except OSError as err:
        raise UserModelError(f"{label}: cannot be extracted ({os_error_line(err)})") from None
    base = session.resolve()
    extractions()[str(base / root.resolve().relative_to(base).parts[0])] = label
    return root


def _remove_upload(top: Path, session: Path) -> None:
    from uqviz.data.zip_upload import remove_extraction

    if _is_extraction(top):
        remove_extraction(top, session)
        extractions().pop(str(top), None)
    else:
        shutil.rmtree(top, ignore_errors=True)


def release_extractions() -> None:
    """Remove the extracted uploads that no registered model of this session uses (after a
    refused model, or when another upload replaced them)."""
    session = session_folder().path
    in_use = set().union(*(_uploads(s, session) for s in session_models().values()))
    for top in session.resolve().iterdir():
        if top.is_dir() and _is_extraction(top) and top not in in_use:
            _remove_upload(top, session)


def public_message(err: BaseException) -> str:
    """One line for the page: ``first_line`` of the error (an ``OSError`` by the file's name,
    without its path), every extraction named by its archive's name and no session folder."""
    text = os_error_line(err) if isinstance(err, OSError) else first_line(err)
    for folder, name in extractions().items():
        text = text.replace(folder, name)
    folder = st.session_state.get(FOLDER_KEY)
    if isinstance(folder, SessionFolder):
        for path in {str(folder.path), str(folder.path.resolve())}:
            text = text.replace(path + os.sep, "").replace(path, "upload")
    return text


def images_folder(zip_file: tuple[str, bytes] | None, folder: str | None, what: str) -> Path:
    """An image folder: a zip (name, bytes) extracted into this session's folder (once per
    upload: ``extract_once``), or a folder under ``UQVIZ_DATA_ROOTS`` (anything outside is
    refused, one line)."""
    from uqviz.data.roots import resolve_data_path

    if zip_file is not None:
        name, data = zip_file
        return extract_once(name, data)
    if folder:
        return resolve_data_path(folder)
    raise UserModelError(f"give the {what}: a .zip of class folders or a folder on the server")


def add_model(model_files: list[tuple[str, bytes]], *, config: bytes | None = None,
              overrides: dict | None = None, images: Path, ood: Path | None = None
              ) -> ModelSource:
    """Write uploaded model files (name, bytes) into this session's folder, build and check a
    ``ModelSource`` (models loaded, folders read) and register it; returns it.

    Raises:
        UserModelError (or another ValueError): one line; nothing already registered changes,
            and the model's files and the extractions no registered model uses are removed.
    """
    if not model_files:
        raise UserModelError(f"upload at least one model file ({model_uploader().formats})")
    folder = session_folder().new_folder("model-")
    try:
        source = _create(folder, model_files, config, overrides or {}, images, ood)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # a refused upload leaves nothing behind
        release_extractions()
        raise
    for old in [o for o in session_models().values() if o.label == source.label]:
        _forget(old, keep=source)  # the same model on the same folder again: replace it
    register_model(source)
    return source


def _upload(file) -> tuple[str, bytes] | None:
    return None if file is None else (file.name, file.getvalue())


def add_from_page(models: list | None, sidecar, images_zip, images_dir: str | None, ood_zip,
                  ood_dir: str | None, overrides: dict) -> str:
    """The page's Add: its uploaded files (Streamlit ``UploadedFile`` s or None) and folder
    choices turned into a registered model (``add_model``); returns its key. Every upload is
    extracted once, and extractions no registered model uses are removed, added or refused.

    Raises:
        ValueError (``UserModelError``, ``OutsideDataRoots`` …) or OSError: one line, shown by
            ``public_message``.
    """
    try:
        data = images_folder(_upload(images_zip), images_dir, "images")
        ood = (images_folder(_upload(ood_zip), ood_dir, "OOD images")
               if ood_zip is not None or ood_dir else None)
        added = add_model([(m.name, m.getvalue()) for m in models or []],
                          config=None if sidecar is None else sidecar.getvalue(),
                          overrides=overrides, images=data, ood=ood)
        return added.key
    finally:  # one extraction per upload: a refused model or a replaced zip leaves none
        release_extractions()


def unreadable_images(source: ModelSource) -> list[tuple[str, str, pd.DataFrame]]:
    """Per folder with images that cannot be read: the command line's warning line, a title
    and a table of (file, why it cannot be read). Raises ``UserModelError`` when none of a
    folder's images can be read."""
    return [(part.warning,
             f"The {len(part.files):,} unreadable image{'s' if len(part.files) > 1 else ''} "
             f"of {part.part}",
             pd.DataFrame(part.files, columns=["file", "why it cannot be read"]))
            for part in source.unreadable]


def _shown(*folders: Path | None) -> dict[str, str]:
    """The extractions holding ``folders``, each named by its archive."""
    return {extraction: name for extraction, name in extractions().items()
            for folder in folders
            if folder is not None and Path(folder).resolve().is_relative_to(extraction)}


def _create(folder: Path, model_files: list[tuple[str, bytes]], config: bytes | None,
            overrides: dict, images: Path, ood: Path | None) -> ModelSource:
    paths = []
    for name, data in model_files:
        safe = _safe_name(name)
        if not safe.lower().endswith(MODEL_SUFFIXES):
            raise UserModelError(f"{name}: not a model file; this server takes "
                                 f"{model_uploader().formats}")
        path = folder / safe
        if path.exists():
            raise UserModelError(f"{name}: given twice")
        path.write_bytes(data)
        check_upload(path)  # ONNX, or torch formats where the operator allowed them
        paths.append(path)
    config_path = None
    if config is not None:
        config_path = folder / "model.json"
        config_path.write_bytes(config)
    source = ModelSource.create(paths, images, ood=ood, config=config_path,
                                shown=_shown(images, ood), **overrides)
    _ = source.methods  # loads and probes the models, reads the folders
    _ = source.unreadable  # decodes every image once: the page lists those that cannot be read
    return source


def _uploads(source: ModelSource, root: Path) -> set[Path]:
    """The sub-folders of the session folder ``root`` (resolved) that ``source`` uses."""
    root = root.resolve()
    parts = {Path(m).parent for m in source.models} | {Path(source.data)}
    if source.ood:
        parts.add(Path(source.ood))
    tops = set()
    for part in parts:
        part = part.resolve()
        if part != root and part.is_relative_to(root):
            tops.add(root / part.relative_to(root).parts[0])  # the upload's own sub-folder
    return tops


def _forget(old: ModelSource, keep: ModelSource | None = None) -> None:
    """Drop a registered source and delete its files when they are in this session's folder
    and no other registered source (nor ``keep``) uses them."""
    session_models().pop(old.key, None)
    root = session_folder().path
    others = [*session_models().values(), *([keep] if keep is not None else [])]
    in_use = set().union(*(_uploads(s, root) for s in others))
    for top in _uploads(old, root) - in_use:
        _remove_upload(top, root)
