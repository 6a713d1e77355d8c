"""Cached calls of the embedding map: the PCA map at once, the UMAP map from a background job.

UMAP's first call in a process compiles numba code for about a minute, so the page never runs
it: ``start_umap`` launches ``python -m uqviz embed`` as a detached, niced subprocess once per
(dataset, method, features) — ``st.cache_resource`` guards the server process and an exclusive
lock file next to the result guards every other process — and the page polls until the result
file appears in the disk cache. Everything is keyed by small ids.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from uqviz.cache import atomic_write, cache_root
from uqviz.data.ood import OOD_SETS
from uqviz.embedding import (
    Embedding,
    UmapParams,
    features_digest,
    load_embedding,
    numba_cache_dir,
    pca_embedding,
    umap_path,
)
from uqviz.metrics.scores import UNCERTAINTY_SCORES, uncertainty
from uqviz.plots.embedding import NO_LABEL
from uqviz.predictions import OOD_PREFIX, TEST_GROUP, Predictions, parse_shift_group
from uqviz.runs import evaluation_inputs
from uqviz.shifts import CORRUPTIONS
from uqviz.sources import APP_PLAN, NoImages, is_file_key
from uqviz.ui.backend import dataset_spec, dataset_splits, study
from uqviz.ui.images import to_uint8_hwc

UMAP_PARAMS = UmapParams()
LOCK_GRACE_SECONDS = 30.0  # a lock naming no process (being written, or abandoned) waits this
ROOT = Path(__file__).resolve().parents[2]


def table_scores(num_samples: int) -> list[str]:
    """Scores that mean something for this many samples (all of them when S > 1)."""
    return [k for k, info in UNCERTAINTY_SCORES.items() if num_samples > 1
            or not info.needs_samples]


def set_label(group: str) -> str:
    """``test`` -> ``Clean test``, ``gaussian_noise:3`` -> ``Gaussian noise 3``,
    ``ood:uniform_noise`` -> ``OOD: Uniform noise``."""
    if group == TEST_GROUP:
        return "Clean test"
    if group.startswith(OOD_PREFIX):
        name = group.removeprefix(OOD_PREFIX)
        return f"OOD: {OOD_SETS[name].label if name in OOD_SETS else name}"
    parsed = parse_shift_group(group)
    if parsed is not None:
        name, severity = parsed
        return f"{CORRUPTIONS[name].label if name in CORRUPTIONS else name} {severity}"
    return group


def point_table(p: Predictions) -> pd.DataFrame:
    """One row per prediction row: set, true and predicted class, confidence, every score,
    and the category of each categorical colouring."""
    names = p.names
    predicted = p.predicted
    mean = p.mean_probs
    labelled = p.labels >= 0
    shifted = p.is_shifted
    severity = np.array([str(parse_shift_group(str(g))[1]) if s else "Clean"
                         for g, s in zip(p.group, shifted, strict=True)], dtype=object)
    severity[p.is_ood] = "OOD"
    true = np.array([names[y] if y >= 0 else NO_LABEL for y in p.labels], dtype=object)
    correct = np.where(~labelled, NO_LABEL, np.where(predicted == p.labels, "Right", "Wrong"))
    table = pd.DataFrame({
        "row": np.arange(p.n), "set": [set_label(str(g)) for g in p.group],
        "true": true, "predicted_name": [names[c] for c in predicted],
        "confidence": mean.max(axis=1), "correctness": correct,
        "class": true, "predicted": [names[c] for c in predicted],
        "distribution": np.where(p.is_ood, "Out of distribution", "In distribution"),
        "severity": severity})
    for key in table_scores(p.num_samples):
        table[key] = uncertainty(p.probs, key)
    return table


def category_order(p: Predictions, coloring: str) -> list[str] | None:
    """Display order of a categorical colouring's categories (None: continuous)."""
    names = list(p.names)
    return {"correctness": ["Right", "Wrong", NO_LABEL],
            "class": [*names, NO_LABEL], "predicted": names,
            "distribution": ["In distribution", "Out of distribution"],
            "severity": ["Clean", "1", "2", "3", "4", "5", "OOD"]}.get(coloring)


def hover_text(table: pd.DataFrame, score_keys: list[str]) -> list[str]:
    """One hover text per point: set, true class, prediction with its confidence, scores."""
    lines = []
    for rec in table.itertuples(index=False):
        scores = " · ".join(f"{UNCERTAINTY_SCORES[k].label}: {getattr(rec, k):.3f}"
                            for k in score_keys)
        mark = {"Right": " ✓", "Wrong": " ✗"}.get(rec.correctness, "")
        lines.append(f"<b>{rec.set}</b> · row {rec.row}<br>true: {rec.true} · predicted: "
                     f"{rec.predicted_name}{mark} ({rec.confidence:.0%})<br>{scores}")
    return lines


@st.cache_resource(show_spinner=False, max_entries=16)
def points(dataset: str, method: str) -> pd.DataFrame:
    """``point_table`` of one method's predictions (read-only)."""
    return point_table(study(dataset, method).predictions)


@st.cache_resource(show_spinner=False, max_entries=16)
def hover_texts(dataset: str, method: str) -> np.ndarray:
    p = study(dataset, method).predictions
    keys = [k for k in ("entropy", "max_prob", "mutual_information")
            if k in table_scores(p.num_samples)]
    return np.array(hover_text(points(dataset, method), keys), dtype=object)


@st.cache_resource(show_spinner="Projecting the features on two principal components…",
                   max_entries=16)
def pca_map(dataset: str, method: str) -> Embedding:
    p = study(dataset, method).predictions
    return pca_embedding(p.features, UMAP_PARAMS.seed, method=method,
                         max_points=UMAP_PARAMS.max_points)


@st.cache_resource(show_spinner=False, max_entries=16)
def umap_file(dataset: str, method: str) -> Path:
    """Where the UMAP of this method's features will be cached (hashes the features once)."""
    features = study(dataset, method).predictions.features
    return umap_path(features, UMAP_PARAMS, digest=features_digest(features))


@st.cache_resource(show_spinner=False, max_entries=16)
def load_umap(path: str) -> Embedding | None:
    """The cached UMAP (a file never changes once written: its name hashes its inputs)."""
    return load_embedding(Path(path))


def umap_ready(path: str) -> Embedding | None:
    """The UMAP once its file is readable; a miss is not remembered (the file will appear).

    A file that exists but cannot be read is removed, with a lock whose process is gone, so
    that a new job computes it again (``start_umap`` takes an existing file for done)."""
    found = load_umap(path)
    if found is None:
        load_umap.clear(path)
        target = Path(path)
        if target.exists() and _remove_unreadable(target):
            _remove_stale_lock(target.with_suffix(".lock"))
    return found


def _remove_unreadable(target: Path) -> bool:
    """Remove ``target`` if it cannot be read as an embedding: it is first renamed aside, so a
    good file written over it in the meantime is put back, never deleted."""
    aside = target.with_name(f".{uuid.uuid4().hex}.{target.name}")
    try:
        os.rename(target, aside)
    except FileNotFoundError:
        return False
    if load_embedding(aside) is None:
        aside.unlink(missing_ok=True)
        return True
    os.replace(aside, target)
    return False


@st.cache_resource(show_spinner=False, max_entries=4)
def row_images(dataset: str) -> np.ndarray:
    """Images of every prediction row, rebuilt exactly as the run made them (clean test, each
    corruption × severity, each OOD set): float32 (N, C, H, W). Raises ``NoImages`` for a
    predictions file."""
    blocks = evaluation_inputs(dataset_spec(dataset), dataset_splits(dataset), APP_PLAN)
    return np.concatenate([b.images.numpy() for b in blocks])


def thumbnails(images: np.ndarray) -> list[str]:
    """PNG data URIs of images (N, C, H, W), about 28 px high."""
    from uqviz.plots.embedding import image_data_uris

    scale = max(1, 28 // max(1, images.shape[2]))
    return image_data_uris([to_uint8_hwc(im, scale) for im in images])


def selection_listing(dataset: str, method: str, rows: np.ndarray, score: str,
                      limit: int) -> tuple[pd.DataFrame, str | None]:
    """The selected rows, most uncertain first by ``score``, at most ``limit``: columns Image
    (PNG data URI, when the dataset has images), Set, True, Predicted, Confidence, Score; and
    why there are no thumbnails (None when there are)."""
    picked = points(dataset, method).iloc[rows].sort_values(score, ascending=False).head(limit)
    listing = pd.DataFrame({"Set": picked["set"], "True": picked["true"],
                            "Predicted": picked["predicted_name"],
                            "Confidence": picked["confidence"], "Score": picked[score]})
    try:
        images = row_images(dataset)
    except NoImages as err:
        return listing, f"{err}: the list shows labels and scores without thumbnails."
    if len(images) != len(points(dataset, method)):
        return listing, (f"{len(images):,} images for {len(points(dataset, method)):,} rows: "
                         "cannot match them, so no thumbnails.")
    listing.insert(0, "Image", thumbnails(images[picked["row"].to_numpy()]))
    return listing, None


# -- the background UMAP job -----------------------------------------------------------------
@dataclass
class UmapJob:
    """A background ``python -m uqviz embed`` run (``process`` None: started by another
    session or process, whose ``pid`` the lock file names)."""

    path: Path
    log: Path
    started: float
    process: subprocess.Popen | None = None
    pid: int | None = None

    def returncode(self) -> int | None:
        """None while running; its exit code (-1 when unknown: another process's job whose
        lock is gone or names no live process) once it has stopped."""
        if self.process is not None:
            return self.process.poll()
        if self.path.exists():
            return None
        held = _read_lock(self.path.with_suffix(".lock"))  # read again: its pid may be new
        if held is not None and held.pid is not None:
            self.pid = held.pid
        return -1 if held is None or _lock_stale(held) else None

    def last_line(self) -> str:
        try:
            lines = [ln for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return ""
        return lines[-1][-300:] if lines else ""


def embed_arguments(dataset: str, method: str) -> list[str]:
    """The ``embed`` arguments that compute this UMAP: ``--dataset/--method`` for a built-in
    dataset; for a predictions file, its features saved next to the result (``--features``)."""
    params = ["--seed", str(UMAP_PARAMS.seed), "--n-neighbors", str(UMAP_PARAMS.n_neighbors),
              "--min-dist", str(UMAP_PARAMS.min_dist), "--max-points",
              str(UMAP_PARAMS.max_points)]
    if not is_file_key(dataset):
        corruptions = ",".join(APP_PLAN.corruptions)
        return ["--dataset", dataset, "--method", method, "--corruptions", corruptions, *params]
    features = study(dataset, method).predictions.features
    target = umap_file(dataset, method).with_suffix(".features.npy")
    if not target.exists():
        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.save(fh, features)

        atomic_write(target, write)
    return ["--features", str(target), "--method", method, *params]


def spawn_embed(arguments: list[str], log: Path) -> subprocess.Popen:
    """Start ``python -m uqviz embed …`` detached and niced, output to ``log``; numba's
    compiled code cached under the uqviz cache."""
    env = dict(os.environ, UQVIZ_CACHE=str(cache_root()), UQVIZ_TORCH_THREADS="1")
    env.setdefault("NUMBA_CACHE_DIR", str(numba_cache_dir()))
    command = [sys.executable, "-m", "uqviz", "embed", *arguments]
    if shutil.which("nice"):
        command = ["nice", "-n", "10", *command]
    with open(log, "w") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:  # os.kill(0 or -1, 0) would ask about a process group, or every process
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a child that exited but was never waited for (a zombie) answers the signal
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


@dataclass(frozen=True)
class HeldLock:
    """What a lock file held when read: its bytes, its process id (None when unreadable) and
    its modification time."""

    content: bytes
    pid: int | None
    mtime: float


def _lock_bytes(pid: int) -> bytes:
    return json.dumps({"pid": pid, "started": time.time()}).encode()


def _read_lock(lock: Path) -> HeldLock | None:
    """The lock's content, process id and time (one open file: all from the same lock), or
    None when there is no lock."""
    try:
        with open(lock, "rb") as fh:
            content, mtime = fh.read(), os.fstat(fh.fileno()).st_mtime
    except FileNotFoundError:
        return None
    except OSError:
        return HeldLock(b"", None, time.time())
    try:
        pid = int(json.loads(content)["pid"])
    except (ValueError, KeyError, TypeError):
        pid = None
    return HeldLock(content, pid, mtime)


def _lock_stale(held: HeldLock) -> bool:
    """A lock is stale once its process is gone (however long a live job runs); a lock naming
    no process, once it is older than ``LOCK_GRACE_SECONDS``."""
    if held.pid is None:
        return time.time() - held.mtime > LOCK_GRACE_SECONDS
    return not _pid_alive(held.pid)


def _remove_lock_if(lock: Path, content: bytes) -> bool:
    """Remove the lock only if it still holds ``content`` (the stale lock that was judged):
    it is renamed aside first and put back when another process has claimed it since."""
    aside = lock.with_name(f".{uuid.uuid4().hex}.{lock.name}")
    try:
        os.rename(lock, aside)
    except FileNotFoundError:
        return True
    try:
        if aside.read_bytes() == content:
            return True
        try:
            os.link(aside, lock)  # put it back, unless yet another claim came meanwhile
        except FileExistsError:
            pass
        return False
    finally:
        aside.unlink(missing_ok=True)


@contextmanager
def _removal_guard(lock: Path):
    """Serialises the removal of stale locks among processes and threads: an exclusive
    ``flock`` on ``<lock>.guard`` (released by the system when its holder dies)."""
    try:
        import fcntl
    except ImportError:  # no flock here: the content check of ``_remove_lock_if`` remains
        yield
        return
    with open(lock.with_name(f"{lock.name}.guard"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _remove_stale_lock(lock: Path) -> bool:
    """Remove the lock if it is stale; True when no lock is left."""
    with _removal_guard(lock):
        held = _read_lock(lock)
        if held is None:
            return True
        return _lock_stale(held) and _remove_lock_if(lock, held.content)


def _claim(lock: Path) -> bool:
    """Create the lock file exclusively, naming this process; a stale lock is replaced."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if not _remove_stale_lock(lock):
                return False
            continue
        with os.fdopen(fd, "wb") as fh:  # one write: a reader sees it whole or empty
            fh.write(_lock_bytes(os.getpid()))
        return True
    return False


def _write_lock(lock: Path, pid: int) -> None:
    """Name the job's process in the lock, replacing it whole (never an empty file)."""
    atomic_write(lock, lambda tmp: tmp.write_bytes(_lock_bytes(pid)))


@st.cache_resource(show_spinner=False, max_entries=64)
def start_umap(dataset: str, method: str, path: str) -> UmapJob:
    """Start the background UMAP of one method's features, once per result file."""
    target = Path(path)
    lock, log = target.with_suffix(".lock"), target.with_suffix(".log")
    if target.exists() or not _claim(lock):
        held = _read_lock(lock)
        return UmapJob(target, log, held.mtime if held else time.time(),
                       pid=held.pid if held else None)
    try:
        process = spawn_embed(embed_arguments(dataset, method), log)
    except BaseException:
        held = _read_lock(lock)
        if held is not None and held.pid == os.getpid():
            _remove_lock_if(lock, held.content)
        raise
    _write_lock(lock, process.pid)
    return UmapJob(target, log, time.time(), process, pid=process.pid)


def forget_umap_job(dataset: str, method: str, path: str) -> None:
    """Drop a finished or failed job so that the next call starts a new one. The lock is
    removed only when its process is gone: a job claimed since by another session stays."""
    _remove_stale_lock(Path(path).with_suffix(".lock"))
    start_umap.clear(dataset, method, path)
