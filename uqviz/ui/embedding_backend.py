"""Cached calls of the embedding map: the PCA map at once, the UMAP map from a background job.

UMAP's first call in a process compiles numba code for about a minute, so the page never runs
it: ``start_umap`` launches ``python -m uqviz embed`` as a detached, niced subprocess once per
(dataset, method, features) — ``st.cache_resource`` guards the server process and an exclusive
lock file next to the result guards every other process (``uqviz.jobs``) — and the page polls
until the result file appears in the disk cache. Everything is keyed by small ids.

The page's words, its map figure and its listing's columns are built here too
(``no_features_message``, ``map_figure``, ``listing_column_config`` …), so that
``pages/embedding.py`` only lays out widgets.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
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
from uqviz.jobs import (
    claim_lock,
    lock_is_stale,
    read_lock,
    release_lock,
    remove_stale_lock,
    write_lock,
)
from uqviz.metrics.scores import UNCERTAINTY_SCORES, uncertainty
from uqviz.plots.embedding import COLORINGS, NO_LABEL, embedding_figure
from uqviz.predictions import OOD_PREFIX, TEST_GROUP, Predictions, parse_shift_group
from uqviz.runs import evaluation_inputs
from uqviz.shifts import CORRUPTIONS
from uqviz.sources import APP_PLAN, DATASET, YOUR_MODEL, NoImages
from uqviz.ui.backend import dataset_spec, dataset_splits, source, study
from uqviz.ui.images import to_uint8_hwc
from uqviz.ui.state import method_label

UMAP_PARAMS = UmapParams()
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
            remove_stale_lock(target.with_suffix(".lock"))
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
    predictions file, and for a user's model (its rows are not rebuilt here)."""
    if source(dataset).kind == YOUR_MODEL:
        raise NoImages("thumbnails of your model's rows are not rebuilt on this page")
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
        held = read_lock(self.path.with_suffix(".lock"))  # read again: its pid may be new
        if held is not None and held.pid is not None:
            self.pid = held.pid
        return -1 if held is None or lock_is_stale(held) else None

    def last_line(self) -> str:
        try:
            lines = [ln for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return ""
        return lines[-1][-300:] if lines else ""


def embed_arguments(dataset: str, method: str) -> list[str]:
    """The ``embed`` arguments that compute this UMAP: ``--dataset/--method`` for a built-in
    dataset; for a predictions file or a user's model, its features saved next to the result
    (``--features``)."""
    params = ["--seed", str(UMAP_PARAMS.seed), "--n-neighbors", str(UMAP_PARAMS.n_neighbors),
              "--min-dist", str(UMAP_PARAMS.min_dist), "--max-points",
              str(UMAP_PARAMS.max_points)]
    if source(dataset).kind == DATASET:
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


@st.cache_resource(show_spinner=False, max_entries=64)
def start_umap(dataset: str, method: str, path: str) -> UmapJob:
    """Start the background UMAP of one method's features, once per result file."""
    target = Path(path)
    lock, log = target.with_suffix(".lock"), target.with_suffix(".log")
    if target.exists() or not claim_lock(lock):
        held = read_lock(lock)
        return UmapJob(target, log, held.mtime if held else time.time(),
                       pid=held.pid if held else None)
    try:
        process = spawn_embed(embed_arguments(dataset, method), log)
    except BaseException:
        release_lock(lock)
        raise
    write_lock(lock, process.pid)
    return UmapJob(target, log, time.time(), process, pid=process.pid)


def forget_umap_job(dataset: str, method: str, path: str) -> None:
    """Drop a finished or failed job so that the next call starts a new one. The lock is
    removed only when its process is gone: a job claimed since by another session stays."""
    remove_stale_lock(Path(path).with_suffix(".lock"))
    start_umap.clear(dataset, method, path)


# -- the page's words and figures ------------------------------------------------------------
MAP_KINDS = {"umap": "UMAP (neighbourhoods)", "pca": "PCA (linear)"}  # the map radio's labels
POLL_SECONDS = 2.0  # how often umap_status looks for the UMAP file


def no_features_message(source_label: str, kind: str) -> str:
    """Why there is nothing to map when no method has penultimate-layer features, and what to
    do: for a user's model, how to ask it for them; else, which datasets have them."""
    if kind == YOUR_MODEL:
        return (f"{source_label}: your model gives no penultimate-layer features, so there "
                "is nothing to map. Set \"features_output\" in its model.json (or the form on "
                "the 'Your model' page) and add it again.")
    return (f"{source_label} holds no penultimate-layer features, so there is "
            "nothing to map. The map needs a model's features: choose a built-in dataset "
            "(digits or mnist5k) in the sidebar.")


def umap_running_message(seconds: float) -> str:
    """The note while the background UMAP job runs, ``seconds`` after it started."""
    return (f"Computing the UMAP map in the background: {seconds:.0f} s so "
            "far (about a minute the first time, while numba compiles; seconds after that). "
            "The PCA map is shown meanwhile; the page switches by itself.")


def umap_stopped_message(code: int | None, last_line: str) -> str:
    """The warning when the background UMAP job stopped without a map: its exit code and the
    last line of its log."""
    return f"The UMAP computation stopped (exit code {code}): {last_line}"


@st.fragment(run_every=POLL_SECONDS)
def umap_status(dataset: str, method: str, path: str) -> None:
    """Shows how long the background UMAP of ``method``'s features has run, polling every
    ``POLL_SECONDS`` until its file ``path`` appears, then reruns the page to show it; when the
    job stopped without a map, says why and offers to try again (key ``embed_retry``)."""
    if umap_ready(path) is not None:
        st.rerun()
    job = start_umap(dataset, method, path)
    code = job.returncode()
    if code not in (None, 0) or (code == 0 and umap_ready(path) is None):
        st.warning(umap_stopped_message(code, job.last_line()))
        if st.button("Try again", key="embed_retry"):
            forget_umap_job(dataset, method, path)
            st.rerun()
        return
    st.info(umap_running_message(time.time() - job.started), icon=":material/hourglass_top:")


def methods_sharing_map(dataset: str, method: str, with_features: list[str]) -> list[str]:
    """The other methods of ``with_features`` whose UMAP file is ``method``'s: the same
    network's features (an ensemble's first member), hence the same map."""
    path = umap_file(dataset, method)
    return [m for m in with_features if m != method and str(umap_file(dataset, m)) == str(path)]


def shared_map_caption(method: str, same: list[str]) -> str | None:
    """That ``same`` (``methods_sharing_map``) show ``method``'s map, only coloured otherwise;
    None when no other method does."""
    if not same:
        return None
    names = [method_label(m) for m in same]
    joined = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    return (f"{joined} {'uses' if len(names) == 1 else 'use'} the same network's features "
            f"as {method_label(method)} (an ensemble shows its first member's), so the map "
            "is the same; only the colours by uncertainty and prediction differ.")


def map_axis_titles(emb: Embedding) -> tuple[str, str]:
    """``UMAP 1``/``UMAP 2``, or each principal component with its share of the variance."""
    if emb.explained is None:
        return "UMAP 1", "UMAP 2"
    first, second = (f"PC {i + 1} ({v:.0%} of variance)" for i, v in enumerate(emb.explained))
    return first, second


def map_figure(dataset: str, method: str, emb: Embedding, coloring: str, score: str):
    """The ``go.Figure`` of the map ``emb`` of ``method``'s features (``embedding_figure``):
    the dots coloured by ``coloring`` (by ``score`` when colouring by uncertainty), each with
    its hover text, titled with the map's kind and size.

    Args:
        coloring: a key of ``COLORINGS``.
        score: a key of ``UNCERTAINTY_SCORES`` among ``table_scores``.
    """
    table = points(dataset, method).iloc[emb.rows]
    by_score = coloring == "uncertainty"
    return embedding_figure(
        emb.coords, emb.rows, values=table[score if by_score else coloring].to_numpy(),
        coloring=coloring,
        color_title=UNCERTAINTY_SCORES[score].label if by_score else COLORINGS[coloring].label,
        hover_text=hover_texts(dataset, method)[emb.rows],
        categories=category_order(study(dataset, method).predictions, coloring),
        axis_titles=map_axis_titles(emb),
        title=f"{emb.kind.upper()} of {method_label(method)}'s features · {emb.n:,} images")


def map_caption(coloring: str) -> str:
    """How to read the map coloured by ``coloring``, and how to list images."""
    return (f"Colour: {COLORINGS[coloring].meaning}. Hover a dot for its set, label, "
            "prediction and scores; drag a box or lasso to list the images.")


def selection_caption(n_selected: int, score: str, limit: int) -> str:
    """The listing's order (most uncertain first by ``score``) and, past ``limit``, how many
    it shows."""
    return (f"Most uncertain first by {UNCERTAINTY_SCORES[score].label.lower()}"
            + (f"; the first {limit} shown." if n_selected > limit else "."))


def listing_column_config(score: str) -> dict:
    """The columns of ``selection_listing``: a thumbnail, the confidence as a bar, the score
    named and to three decimals."""
    return {"Image": st.column_config.ImageColumn("Image", width="small"),
            "Confidence": st.column_config.ProgressColumn(format="percent", min_value=0,
                                                          max_value=1),
            "Score": st.column_config.NumberColumn(UNCERTAINTY_SCORES[score].label,
                                                   format="%.3f")}
