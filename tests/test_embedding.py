"""The embedding core (PCA, UMAP on a precomputed k-NN graph, the disk cache), the `embed`
command, the map's figure builder and the page's point table.

Only ``test_umap_on_digits`` runs UMAP (numba compiles for up to a minute on two cores the
first time; it fills ``<cache>/numba`` for later processes); every other test stays fast."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from uqviz.embedding import (
    Embedding,
    UmapParams,
    cached_umap,
    features_digest,
    knn_graph,
    load_embedding,
    pca_embedding,
    sample_rows,
    save_embedding,
    umap_embedding,
    umap_path,
)


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.data.astype(np.float32), data.target


def _blobs(rng, n_per=60, d=12, k=3, spread=8.0):
    centres = rng.normal(scale=spread, size=(k, d))
    x = np.concatenate([c + rng.normal(size=(n_per, d)) for c in centres]).astype(np.float32)
    return x, np.repeat(np.arange(k), n_per)


# -- PCA -----------------------------------------------------------------------------------------
def test_pca_matches_the_svd_and_is_deterministic(rng):
    x, _ = _blobs(rng)
    emb = pca_embedding(x, 0, method="softmax")
    assert emb.kind == "pca" and emb.method == "softmax"
    assert emb.coords.shape == (len(x), 2) and emb.coords.dtype == np.float32
    np.testing.assert_array_equal(emb.rows, np.arange(len(x)))
    centred = x.astype(np.float64) - x.mean(0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    expected = centred @ vt[:2].T
    for j in range(2):  # up to the sign of each component
        sign = np.sign(expected[:, j] @ emb.coords[:, j])
        np.testing.assert_allclose(emb.coords[:, j], sign * expected[:, j], atol=1e-3)
    share = s[:2] ** 2 / (s ** 2).sum()
    assert emb.explained == pytest.approx(tuple(share), abs=1e-6)
    again = pca_embedding(x, 0)
    np.testing.assert_array_equal(again.coords, emb.coords)


def test_pca_samples_rows_above_the_limit_and_handles_one_feature(rng):
    x = rng.normal(size=(500, 4)).astype(np.float32)
    emb = pca_embedding(x, 3, max_points=100)
    assert emb.n == 100 and np.all(np.diff(emb.rows) > 0)
    np.testing.assert_array_equal(emb.rows, sample_rows(500, 100, 3))
    one = pca_embedding(x[:, :1], 0)
    assert one.coords.shape == (500, 2) and np.all(one.coords[:, 1] == 0)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"features must be \(N, D\)"):
        pca_embedding(np.zeros(10))
    with pytest.raises(ValueError, match="at least 3 rows"):
        pca_embedding(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="NaN"):
        pca_embedding(np.full((5, 2), np.nan))
    with pytest.raises(ValueError, match="kind must be one of pca, umap"):
        Embedding(np.zeros((3, 2)), np.arange(3), "tsne")
    with pytest.raises(ValueError, match=r"coords must be \(M, 2\)"):
        Embedding(np.zeros((3, 3)), np.arange(3), "pca")
    with pytest.raises(ValueError, match="n_neighbors must be at least 2, got 1"):
        UmapParams(n_neighbors=1)
    with pytest.raises(ValueError, match="min_dist"):
        UmapParams(min_dist=2.0)


def test_sample_rows():
    np.testing.assert_array_equal(sample_rows(5, 10), np.arange(5))
    a, b = sample_rows(1000, 50, seed=1), sample_rows(1000, 50, seed=1)
    np.testing.assert_array_equal(a, b)
    assert len(np.unique(a)) == 50 and np.all(np.diff(a) > 0)
    assert not np.array_equal(a, sample_rows(1000, 50, seed=2))


# -- k nearest neighbours ------------------------------------------------------------------------
def test_knn_graph_is_exact_with_each_row_first(rng):
    x = rng.normal(size=(80, 5)).astype(np.float32)
    x[10] = x[11]  # a duplicate pair: each must still come first in its own list
    idx, dist = knn_graph(x, 6)
    assert idx.shape == dist.shape == (80, 6)
    np.testing.assert_array_equal(idx[:, 0], np.arange(80))
    assert np.all(dist[:, 0] == 0)
    full = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    np.testing.assert_allclose(dist, np.sort(full, axis=1)[:, :6], atol=1e-4)
    assert idx[10, 1] == 11 and idx[11, 1] == 10


def test_knn_graph_in_high_dimensions_gives_each_row_distance_zero_to_itself(rng):
    """Many dimensions choose scikit-learn's brute-force search, whose distance of a row to
    itself is rounding noise (~1e-6), not 0: UMAP would take that as the distance to the
    nearest neighbour (its rho) and lose each point's local connectivity."""
    x = rng.normal(size=(600, 128)).astype(np.float32)
    idx, dist = knn_graph(x, 6)
    np.testing.assert_array_equal(idx[:, 0], np.arange(600))
    assert np.all(dist[:, 0] == 0.0)
    x64 = x.astype(np.float64)
    sq = (x64 ** 2).sum(1)
    full = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * x64 @ x64.T, 0))
    np.fill_diagonal(full, np.inf)
    np.testing.assert_array_equal(idx[:, 1], full.argmin(axis=1))
    np.testing.assert_allclose(dist[:, 1], full.min(axis=1), rtol=1e-5)
    assert np.all(dist[:, 1:] > 1.0)  # nothing near zero left for UMAP's rho


# -- the disk cache ------------------------------------------------------------------------------
def test_cache_round_trip_and_keys(rng, tmp_path):
    coords = rng.normal(size=(7, 2))
    emb = Embedding(coords, np.arange(7), "umap", "deep_ensemble", seconds=1.5,
                    params={"n_neighbors": 5})
    path = save_embedding(tmp_path / "e.npz", emb)
    back = load_embedding(path)
    np.testing.assert_array_equal(back.coords, emb.coords)
    np.testing.assert_array_equal(back.rows, emb.rows)
    assert (back.kind, back.method, back.seconds, back.params) == (
        "umap", "deep_ensemble", 1.5, {"n_neighbors": 5})
    pca = load_embedding(save_embedding(tmp_path / "p.npz", pca_embedding(coords, 0)))
    assert pca.explained is not None and pca.kind == "pca"
    assert load_embedding(tmp_path / "missing.npz") is None
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    assert load_embedding(tmp_path / "bad.npz") is None

    x = rng.normal(size=(20, 3)).astype(np.float32)
    key = umap_path(x)
    assert key == umap_path(x.copy()) == umap_path(x, digest=features_digest(x))
    assert key != umap_path(x, UmapParams(n_neighbors=10))
    assert key != umap_path(x, UmapParams(seed=1))
    y = x.copy()
    y[0, 0] += 1e-3
    assert key != umap_path(y)


def test_cached_umap_reads_the_cache_without_running_umap(rng):
    x = rng.normal(size=(30, 4)).astype(np.float32)
    stored = Embedding(rng.normal(size=(30, 2)), np.arange(30), "umap", "m")
    save_embedding(umap_path(x), stored)
    code = ("import sys, numpy as np; from uqviz.embedding import cached_umap; "
            f"x = np.load({str(umap_path(x).with_suffix('.x.npy'))!r}); "
            "e = cached_umap(x); print(e.n, 'umap' in sys.modules)")
    np.save(umap_path(x).with_suffix(".x.npy"), x)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["30", "False"]
    np.testing.assert_array_equal(cached_umap(x).coords, stored.coords)


def test_core_module_imports_no_view_library_nor_umap():
    code = ("import sys, uqviz.embedding\n"
            "print(sorted(k for k in sys.modules if k.split('.')[0] in "
            "('streamlit', 'plotly', 'umap', 'numba', 'torch')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_embed_command_with_features_reads_the_cache(rng, tmp_path):
    x = rng.normal(size=(25, 4)).astype(np.float32)
    np.save(tmp_path / "f.npy", x)
    save_embedding(umap_path(x), Embedding(rng.normal(size=(25, 2)), np.arange(25), "umap"))
    out = subprocess.run([sys.executable, "-m", "uqviz", "embed", "--features",
                          str(tmp_path / "f.npy")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "25 points" in out.stderr and str(umap_path(x)) in out.stderr
    bad = subprocess.run([sys.executable, "-m", "uqviz", "embed", "--features",
                          str(tmp_path / "nope.npy")], capture_output=True, text=True)
    assert bad.returncode == 2 and "nope.npy" in bad.stderr and "Traceback" not in bad.stderr
    bad = subprocess.run([sys.executable, "-m", "uqviz", "embed", "--n-neighbors", "1"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "n_neighbors must be at least 2" in bad.stderr


# -- UMAP (the one test that compiles numba) -----------------------------------------------------
def test_umap_on_digits(digits):
    """Shapes, seeded determinism, trustworthiness > 0.9 and separated classes on scikit-learn's
    digits (1,797 × 64 pixels); UMAP keeps neighbourhoods better than PCA does."""
    from sklearn.manifold import trustworthiness
    from sklearn.neighbors import KNeighborsClassifier

    x, y = digits
    start = time.perf_counter()
    first = umap_embedding(x, seed=0, n_neighbors=15, method="pixels")
    first_s = time.perf_counter() - start
    start = time.perf_counter()
    second = umap_embedding(x, seed=0, n_neighbors=15)
    second_s = time.perf_counter() - start
    print(f"UMAP on digits: first call {first_s:.1f} s, second {second_s:.1f} s")
    assert first.kind == "umap" and first.coords.shape == (len(x), 2)
    assert first.method == "pixels" and first.params["n_neighbors"] == 15
    np.testing.assert_array_equal(first.coords, second.coords)
    assert np.isfinite(first.coords).all()
    t_umap = trustworthiness(x, first.coords, n_neighbors=10)
    t_pca = trustworthiness(x, pca_embedding(x).coords, n_neighbors=10)
    assert t_umap > 0.9 and t_umap > t_pca + 0.05, (t_umap, t_pca)
    # classes stay separated: a 5-NN vote on the map recovers the digit
    half = len(x) // 2
    knn = KNeighborsClassifier(5).fit(first.coords[:half], y[:half])
    assert knn.score(first.coords[half:], y[half:]) > 0.9
    # a second seed gives another layout of the same quality
    other = umap_embedding(x[:400], seed=1, n_neighbors=10, n_epochs=100)
    assert other.coords.shape == (400, 2)
    assert trustworthiness(x[:400], other.coords, n_neighbors=5) > 0.85


# -- the figure ----------------------------------------------------------------------------------
def test_embedding_figure_categorical_and_continuous(rng):
    from uqviz.plots.embedding import (
        NO_LABEL,
        UNCERTAINTY_SCALE,
        category_colors,
        embedding_figure,
        selected_rows,
    )
    from uqviz.plots.theme import CORRECT_COLOR, MUTED_COLOR, WRONG_COLOR

    n = 30
    coords, rows = rng.normal(size=(n, 2)), np.arange(100, 100 + n)
    values = np.array(["Right"] * 20 + ["Wrong"] * 7 + [NO_LABEL] * 3)
    hover = [f"row {r}" for r in rows]
    fig = embedding_figure(coords, rows, values=values, coloring="correctness",
                           color_title="Right or wrong", hover_text=hover,
                           categories=["Right", "Wrong", NO_LABEL], axis_titles=("a", "b"))
    assert [t.name for t in fig.data] == ["Right (20)", "Wrong (7)", f"{NO_LABEL} (3)"]
    assert [t.marker.color for t in fig.data] == [CORRECT_COLOR, WRONG_COLOR, MUTED_COLOR]
    assert [t.legendrank for t in fig.data] == [1000, 1001, 1002]
    assert all(t.type == "scatter" for t in fig.data)
    assert list(fig.data[1].customdata) == list(rows[20:27])
    # the smallest category is drawn last (on top); the legend keeps the given order
    swapped = embedding_figure(coords, rows, values=values[::-1], coloring="correctness",
                               color_title="", hover_text=hover,
                               categories=[NO_LABEL, "Wrong", "Right"])
    assert [t.name for t in swapped.data] == ["Right (20)", "Wrong (7)", f"{NO_LABEL} (3)"]
    assert [t.legendrank for t in swapped.data] == [1002, 1001, 1000]
    assert fig.layout.xaxis.title.text == "a" and fig.layout.template.layout.font.family
    assert fig.layout.dragmode == "select"

    scores = rng.uniform(size=2000)
    big = embedding_figure(rng.normal(size=(2000, 2)), np.arange(2000), values=scores,
                           coloring="uncertainty", color_title="Entropy",
                           hover_text=[""] * 2000)
    (trace,) = big.data
    assert trace.type == "scattergl"  # WebGL above 1,000 points
    assert list(trace.marker.color) == sorted(scores)  # most uncertain drawn last
    assert np.array_equal(np.asarray(trace.customdata), np.argsort(scores, kind="stable"))
    assert [c[1] for c in trace.marker.colorscale] == [c[1] for c in UNCERTAINTY_SCALE]
    assert trace.marker.colorbar.title.text == "Entropy"

    sev = category_colors("severity", ["Clean", "1", "5", "OOD"])
    assert len(set(sev.values())) == 4 and sev["OOD"] == MUTED_COLOR
    classes = category_colors("class", ["0", "1", NO_LABEL])
    assert classes["0"] != classes["1"] and classes[NO_LABEL] == MUTED_COLOR
    with pytest.raises(ValueError, match="unknown categorical colouring 'uncertainty'"):
        category_colors("uncertainty", [])
    with pytest.raises(ValueError, match="hover_text must have shape"):
        embedding_figure(coords, rows, values=values, coloring="correctness",
                         color_title="", hover_text=hover[:3])

    points = [{"curve_number": 1, "point_index": 2, "customdata": 122},
              {"curve_number": 0, "point_index": 0, "customdata": [100]},
              {"curve_number": 1, "point_index": 3},  # no customdata: looked up in the figure
              {"curve_number": 0, "point_index": 0, "customdata": 100}]
    np.testing.assert_array_equal(selected_rows(points, fig), [122, 100, 123])
    assert selected_rows([]).size == 0


# -- the page's table ----------------------------------------------------------------------------
def test_point_table_and_hover_text():
    from uqviz.plots.embedding import NO_LABEL
    from uqviz.predictions import Predictions
    from uqviz.ui.embedding_backend import category_order, hover_text, point_table, set_label

    probs = np.array([[[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.5, 0.5]],
                      [[0.7, 0.3], [0.4, 0.6], [0.6, 0.4], [0.5, 0.5]]], dtype=np.float32)
    p = Predictions(probs, np.array([0, 0, 1, -1]),
                    group=np.array(["test", "test", "gaussian_noise:3", "ood:uniform_noise"]),
                    class_names=("cat", "dog"))
    table = point_table(p)
    assert list(table["correctness"]) == ["Right", "Wrong", "Wrong", NO_LABEL]
    assert list(table["severity"]) == ["Clean", "Clean", "3", "OOD"]
    assert list(table["distribution"]) == ["In distribution"] * 3 + ["Out of distribution"]
    assert list(table["class"]) == ["cat", "cat", "dog", NO_LABEL]
    assert list(table["predicted"]) == ["cat", "dog", "cat", "cat"]
    assert list(table["set"]) == ["Clean test", "Clean test", "Gaussian noise 3",
                                  "OOD: Uniform noise"]
    assert table["mutual_information"][0] > 0 and table["mutual_information"][2] == 0
    assert table["confidence"][0] == pytest.approx(0.8)
    assert set_label("odd") == "odd"
    assert category_order(p, "class") == ["cat", "dog", NO_LABEL]
    assert category_order(p, "uncertainty") is None
    lines = hover_text(table, ["entropy"])
    assert lines[1].startswith("<b>Clean test</b> · row 1")
    assert "true: cat · predicted: dog ✗ (70%)" in lines[1]
    assert "Predictive entropy: 0.611" in lines[1]
    assert json.dumps(lines)  # plain strings
