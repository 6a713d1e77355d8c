"""Two-dimensional maps of penultimate-layer features: PCA at once, UMAP cached on disk.

An embedding places each row of a ``Predictions`` (clean test, corrupted and out-of-distribution
images) on a plane so that rows with similar features lie close together. PCA is a linear
projection that takes milliseconds; UMAP keeps local neighbourhoods and separates classes much
better, but its first call in a process compiles numba code (about a minute on two cores). So
UMAP runs headless (``python -m uqviz embed``), on a k-nearest-neighbour graph computed by
scikit-learn and passed as ``precomputed_knn``, and its result is written to the disk cache under
a hash of the features and the parameters; the dashboard shows the PCA map until it appears.

Numba's compiled functions are cached under ``<uqviz cache>/numba`` (``NUMBA_CACHE_DIR``, set
before numba is first imported unless already set), so a second process skips most of the
compilation. This module imports numpy and scikit-learn; umap and torch only when used.

References:
    McInnes, Healy & Melville, "UMAP: Uniform Manifold Approximation and Projection for
    Dimension Reduction", arXiv:1802.03426 (2018); Pearson, "On lines and planes of closest fit
    to systems of points in space", Philosophical Magazine 2 (1901) (PCA).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from uqviz.cache import cache_root, load_npz, save_npz

__all__ = [
    "EMBEDDING_KINDS",
    "MAX_EMBED_POINTS",
    "Embedding",
    "UmapParams",
    "cached_umap",
    "embed_predictions",
    "features_digest",
    "knn_graph",
    "load_embedding",
    "numba_cache_dir",
    "pca_embedding",
    "sample_rows",
    "save_embedding",
    "umap_embedding",
    "umap_path",
]

EMBEDDING_KINDS = ("pca", "umap")
MAX_EMBED_POINTS = 20_000  # UMAP on more rows takes minutes on a CPU; a seeded sample looks alike
EMBED_VERSION = 1
NUMBA_CACHE_ENV = "NUMBA_CACHE_DIR"


@dataclass(frozen=True)
class UmapParams:
    """UMAP's settings; part of the cache key.

    Attributes:
        n_neighbors: size of the local neighbourhood (larger = more global structure).
        min_dist: how tightly points may be packed in the map (0 to 1).
        seed: random state of the layout (a seed makes UMAP single-threaded and repeatable).
        max_points: rows above this are sampled (seeded) before embedding.
        n_epochs: optimisation epochs; None = UMAP's default (500 below 10,000 rows, else 200).
    """

    n_neighbors: int = 15
    min_dist: float = 0.1
    seed: int = 0
    max_points: int = MAX_EMBED_POINTS
    n_epochs: int | None = None

    def __post_init__(self) -> None:
        if self.n_neighbors < 2:
            raise ValueError(f"n_neighbors must be at least 2, got {self.n_neighbors}")
        if not 0.0 <= self.min_dist <= 1.0:
            raise ValueError(f"min_dist must be between 0 and 1, got {self.min_dist}")
        if self.max_points < 3:
            raise ValueError(f"max_points must be at least 3, got {self.max_points}")
        if self.n_epochs is not None and self.n_epochs < 1:
            raise ValueError(f"n_epochs must be positive, got {self.n_epochs}")


@dataclass(frozen=True, eq=False)
class Embedding:
    """A 2-D map of some rows of a ``Predictions``.

    Attributes:
        coords: float32 (M, 2) positions on the map.
        rows: int64 (M,) indices of the embedded rows in the ``Predictions`` (sorted).
        kind: ``"pca"`` or ``"umap"``.
        method: id of the method whose features were embedded.
        explained: for PCA, the share of the features' variance along each axis; else None.
        seconds: wall-clock seconds the computation took.
        params: the settings used (JSON-able), e.g. UMAP's ``n_neighbors``.
    """

    coords: np.ndarray
    rows: np.ndarray
    kind: str
    method: str = "default"
    explained: tuple[float, float] | None = None
    seconds: float = 0.0
    params: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        coords = np.asarray(self.coords, dtype=np.float32)
        rows = np.asarray(self.rows, dtype=np.int64)
        if coords.ndim != 2 or coords.shape[1] != 2:
            raise ValueError(f"coords must be (M, 2), got shape {coords.shape}")
        if rows.shape != (coords.shape[0],):
            raise ValueError(f"rows must have shape ({coords.shape[0]},), got {rows.shape}")
        if self.kind not in EMBEDDING_KINDS:
            raise ValueError(f"kind must be one of {', '.join(EMBEDDING_KINDS)}, "
                             f"got {self.kind!r}")
        object.__setattr__(self, "coords", coords)
        object.__setattr__(self, "rows", rows)

    @property
    def n(self) -> int:
        return self.coords.shape[0]


def _check_features(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features, dtype=np.float32)
    if features.ndim != 2:
        raise ValueError(f"features must be (N, D), got shape {features.shape}")
    if features.shape[0] < 3:
        raise ValueError(f"an embedding needs at least 3 rows, got {features.shape[0]}")
    if not np.isfinite(features).all():
        raise ValueError("features contain NaN or inf")
    return features


def sample_rows(n: int, limit: int = MAX_EMBED_POINTS, seed: int = 0) -> np.ndarray:
    """Rows to embed: all ``n`` up to ``limit``, else a seeded sorted sample of ``limit``."""
    if n <= limit:
        return np.arange(n, dtype=np.int64)
    chosen = np.random.default_rng(seed).choice(n, size=limit, replace=False)
    return np.sort(chosen).astype(np.int64)


def pca_embedding(features: np.ndarray, seed: int = 0, *, method: str = "default",
                  max_points: int = MAX_EMBED_POINTS) -> Embedding:
    """The first two principal components of the features.

    Args:
        features: float (N, D) penultimate-layer features.
        seed: seeds the row sample when N > ``max_points`` (the SVD itself is exact).
        method: the method id, kept on the result.
        max_points: rows above this are sampled, as for UMAP, so both maps show the same rows.

    Returns:
        An ``Embedding`` of kind ``"pca"`` with the explained variance share of each axis.

    References:
        Pearson (1901); scikit-learn's ``PCA`` (full SVD, deterministic signs).
    """
    from sklearn.decomposition import PCA

    features = _check_features(features)
    start = time.perf_counter()
    rows = sample_rows(len(features), max_points, seed)
    x = features[rows].astype(np.float64)
    n_components = min(2, x.shape[1])
    pca = PCA(n_components=n_components, svd_solver="full", random_state=seed)
    coords = pca.fit_transform(x)
    ratio = [float(r) for r in pca.explained_variance_ratio_]
    if n_components < 2:  # one feature: the second axis is empty
        coords = np.c_[coords, np.zeros(len(coords))]
        ratio.append(0.0)
    return Embedding(coords, rows, "pca", method, explained=(ratio[0], ratio[1]),
                     seconds=time.perf_counter() - start,
                     params={"seed": seed, "max_points": max_points})


def knn_graph(features: np.ndarray, n_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours (Euclidean) of every row, itself first, as UMAP expects.

    Args:
        features: float (N, D).
        n_neighbors: k, counting the row itself.

    Returns:
        ``(indices, distances)``: int64 (N, k) and float32 (N, k), nearest first.
    """
    from sklearn.neighbors import NearestNeighbors

    features = _check_features(features)
    k = min(n_neighbors, len(features))
    nn = NearestNeighbors(n_neighbors=k, algorithm="auto").fit(features)
    dists, idx = nn.kneighbors(features)
    # a duplicate of a row may come before the row itself: put the row first
    own = np.arange(len(features))
    not_first = idx[:, 0] != own
    for i in np.flatnonzero(not_first):
        j = np.flatnonzero(idx[i] == i)
        pos = int(j[0]) if j.size else k - 1
        idx[i, 1:pos + 1] = idx[i, 0:pos].copy()
        dists[i, 1:pos + 1] = dists[i, 0:pos].copy()
        idx[i, 0] = i
    # the brute-force search (high dimensions) leaves rounding noise (~1e-6) in a row's
    # distance to itself, and UMAP takes each point's rho from its smallest non-zero distance
    dists[:, 0] = 0.0
    return idx.astype(np.int64), dists.astype(np.float32)


def numba_cache_dir() -> Path:
    """Where numba caches compiled code for UMAP: ``<uqviz cache>/numba``."""
    return cache_root() / "numba"


def _configure_numba_cache() -> None:
    """Point numba's cache under the uqviz cache, unless numba is loaded or it is set."""
    import sys

    if "numba" not in sys.modules and not os.environ.get(NUMBA_CACHE_ENV):
        path = numba_cache_dir()
        path.mkdir(parents=True, exist_ok=True)
        os.environ[NUMBA_CACHE_ENV] = str(path)


def umap_embedding(features: np.ndarray, *, seed: int = 0, n_neighbors: int = 15,
                   min_dist: float = 0.1, max_points: int = MAX_EMBED_POINTS,
                   n_epochs: int | None = None, method: str = "default") -> Embedding:
    """UMAP of the features on scikit-learn's exact k-nearest-neighbour graph.

    The graph is computed with ``sklearn.neighbors.NearestNeighbors`` and handed to
    ``umap.UMAP(precomputed_knn=(indices, distances))``, so pynndescent never runs. With a seed,
    UMAP runs single-threaded and gives the same map on every call. The first call in a process
    compiles numba code (about a minute on two cores; less once ``numba_cache_dir`` is filled).

    Args:
        features: float (N, D) penultimate-layer features.
        seed: random state of the row sample and of the layout.
        n_neighbors: neighbourhood size k (counting the point itself).
        min_dist: minimum distance between points in the map.
        max_points: rows above this are sampled (seeded).
        n_epochs: optimisation epochs (None = UMAP's default).
        method: the method id, kept on the result.

    Returns:
        An ``Embedding`` of kind ``"umap"``.

    References:
        McInnes, Healy & Melville, "UMAP", arXiv:1802.03426 (2018).
    """
    params = UmapParams(n_neighbors, min_dist, seed, max_points, n_epochs)
    features = _check_features(features)
    start = time.perf_counter()
    rows = sample_rows(len(features), max_points, seed)
    x = features[rows]
    k = min(n_neighbors, len(x) - 1)
    if k < 2:
        raise ValueError(f"UMAP needs at least 3 rows, got {len(x)}")
    idx, dists = knn_graph(x, k)
    _configure_numba_cache()
    from threadpoolctl import threadpool_limits

    # one BLAS thread: the spectral initialisation then sums in a fixed order, so a seed gives
    # the same map in every process (more threads change the last bits, and the layout)
    with threadpool_limits(limits=1), warnings.catch_warnings():
        # no NNDescent search index (we never transform new data); n_jobs=1 with a seed
        warnings.filterwarnings("ignore", message=".*knn_search_index.*")
        warnings.filterwarnings("ignore", message=".*n_jobs.*overridden.*")
        warnings.filterwarnings("ignore", category=FutureWarning)
        import umap

        reducer = umap.UMAP(n_neighbors=k, min_dist=min_dist, random_state=seed, n_jobs=1,
                            n_epochs=n_epochs, precomputed_knn=(idx, dists), init="spectral")
        coords = reducer.fit_transform(x)
    return Embedding(coords, rows, "umap", method, seconds=time.perf_counter() - start,
                     params=_params_dict(params))


def _params_dict(params: UmapParams) -> dict:
    return {"n_neighbors": params.n_neighbors, "min_dist": params.min_dist, "seed": params.seed,
            "max_points": params.max_points, "n_epochs": params.n_epochs}


# -- the disk cache --------------------------------------------------------------------------
def features_digest(features: np.ndarray) -> str:
    """SHA-256 of the features' shape and float32 bytes (hex)."""
    features = np.ascontiguousarray(features, dtype=np.float32)
    h = hashlib.sha256(str(features.shape).encode())
    h.update(features.tobytes())
    return h.hexdigest()


def umap_path(features: np.ndarray, params: UmapParams = UmapParams(), *,
              digest: str | None = None) -> Path:
    """Where the UMAP of these features with these settings is cached
    (``<cache>/embeddings/umap-<key>.npz``); pass ``digest`` to skip hashing the features."""
    digest = digest or features_digest(features)
    text = json.dumps([EMBED_VERSION, digest, _params_dict(params)], sort_keys=True)
    key = hashlib.sha256(text.encode()).hexdigest()[:20]
    return cache_root() / "embeddings" / f"umap-{key}.npz"


def save_embedding(path: Path, embedding: Embedding) -> Path:
    """Write an embedding atomically (``.npz``, no pickles)."""
    extra = {"method": embedding.method, "seconds": embedding.seconds,
             "explained": embedding.explained, "params": embedding.params}
    return save_npz(Path(path), coords=embedding.coords, rows=embedding.rows,
                    kind=np.array(embedding.kind), meta=np.array(json.dumps(extra)))


def load_embedding(path: Path) -> Embedding | None:
    """A cached embedding, or None when the file is missing or unreadable."""
    try:
        arrays = load_npz(Path(path))
    except zipfile.BadZipFile:  # a damaged .npz (load_npz lets this one through)
        return None
    if arrays is None or not {"coords", "rows", "kind", "meta"} <= arrays.keys():
        return None
    try:
        meta = json.loads(str(arrays["meta"]))
        explained = meta.get("explained")
        return Embedding(arrays["coords"], arrays["rows"], str(arrays["kind"]),
                         meta.get("method", "default"),
                         explained=tuple(explained) if explained else None,
                         seconds=float(meta.get("seconds", 0.0)), params=meta.get("params", {}))
    except (ValueError, TypeError):
        return None


def cached_umap(features: np.ndarray, params: UmapParams = UmapParams(), *,
                method: str = "default") -> Embedding:
    """The UMAP of the features from the disk cache, computed and written when missing."""
    path = umap_path(features, params)
    cached = load_embedding(path)
    if cached is not None:
        return cached
    result = umap_embedding(features, seed=params.seed, n_neighbors=params.n_neighbors,
                            min_dist=params.min_dist, max_points=params.max_points,
                            n_epochs=params.n_epochs, method=method)
    save_embedding(path, result)
    return result


def embed_predictions(dataset: str, method: str, params: UmapParams = UmapParams(), *,
                      config=None, plan=None, data_seed: int = 0, data_dir: str | None = None,
                      progress=None) -> tuple[Embedding, Path]:
    """The UMAP of one method's features on a dataset's test, corrupted and OOD rows.

    Trains and predicts what is not cached (``uqviz.runs.run_evaluation``; the defaults are the
    dashboard's: ``MethodConfig()``, ``EvalPlan()`` = clean test + gaussian_noise 1–5 + the OOD
    sets, split seed 0), then computes or loads the UMAP.

    Returns:
        The embedding and the path of its cache file.

    Raises:
        ValueError: when the method's predictions carry no features.
    """
    from uqviz.runs import run_evaluation
    from uqviz.training import no_progress

    preds = run_evaluation(dataset, [method], config=config, plan=plan, data_seed=data_seed,
                           data_dir=data_dir, progress=progress or no_progress)[method]
    preds = preds.select(~preds.is_fit)  # the map shows the rows a Study shows: no fit rows
    if preds.features is None:
        raise ValueError(f"method {method!r} on {dataset!r} has no penultimate-layer features")
    return cached_umap(preds.features, params, method=method), umap_path(preds.features, params)
