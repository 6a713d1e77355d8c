"""The embedding map page under AppTest, on digits predictions cached by a fixture.

The background UMAP job is replaced by a stub here (its real run is covered by the browser test
and ``tests/test_embedding.py``); a UMAP result is put in the cache by hand where needed."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.app_fixtures import framed_page, offer_predictions_file, pretrain_digits

TIMEOUT = 180
PAGE = "pages/embedding.py"


class FakeProcess:
    def __init__(self, code=None):
        self.pid, self.code = 999_999, code

    def poll(self):
        return self.code


@pytest.fixture(scope="module", autouse=True)
def trained():
    pretrain_digits()
    yield
    for method in ("softmax", "prior_ensemble"):  # no made-up map outlives these tests
        _forget(method)


@pytest.fixture
def spawned(monkeypatch):
    """Record the background job's arguments instead of starting it."""
    import uqviz.ui.embedding_backend as backend

    calls: list[list[str]] = []

    def fake(arguments, log):
        calls.append(arguments)
        Path(log).write_text("started\n")
        return FakeProcess()

    monkeypatch.setattr(backend, "spawn_embed", fake)
    backend.start_umap.clear()
    backend.load_umap.clear()
    return calls


def _umap_path(method: str) -> Path:
    from uqviz.embedding import umap_path
    from uqviz.ui.backend import study
    from uqviz.ui.embedding_backend import UMAP_PARAMS

    return umap_path(study("digits", method).predictions.features, UMAP_PARAMS)


def _forget(method: str) -> Path:
    path = _umap_path(method)
    lock = path.with_suffix(".lock")
    for p in (path, lock, lock.with_name(f"{lock.name}.guard"), path.with_suffix(".log")):
        p.unlink(missing_ok=True)
    return path


def _store_fake_umap(method: str) -> Path:
    from uqviz.embedding import Embedding, save_embedding
    from uqviz.ui.backend import study

    n = study("digits", method).predictions.n
    coords = np.random.default_rng(0).normal(size=(n, 2))
    return save_embedding(_umap_path(method), Embedding(coords, np.arange(n), "umap", method))


def _figure(at: AppTest) -> dict:
    (chart,) = at.get("plotly_chart")
    return json.loads(chart.proto.spec)


def _array(value) -> np.ndarray:
    """A trace array from the chart's JSON (plain list or Plotly's base64 typed array)."""
    if isinstance(value, dict) and "bdata" in value:
        import base64

        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
    return np.asarray(value)


def _page(**state) -> AppTest:
    return framed_page(PAGE, TIMEOUT, **state)


def test_pca_map_shows_at_once_and_umap_starts_once_in_the_background(spawned):
    _forget("softmax")
    at = _page(embed_method="softmax")
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    fig = _figure(at)
    assert fig["layout"]["title"]["text"].startswith("PCA of Softmax's features")
    assert fig["layout"]["xaxis"]["title"]["text"].startswith("PC 1 (")
    n = sum(len(_array(t["x"])) for t in fig["data"])
    from uqviz.ui.backend import study

    assert n == study("digits", "softmax").predictions.n
    assert any("Computing the UMAP map in the background" in i.value for i in at.info)
    assert spawned == [["--dataset", "digits", "--method", "softmax", "--corruptions",
                        "gaussian_noise,brightness", "--seed", "0", "--n-neighbors", "15",
                        "--min-dist",
                        "0.1", "--max-points", "20000"]]
    at.run()
    at.selectbox(key="embed_color").set_value("correctness").run()
    assert not at.exception, at.exception
    assert len(spawned) == 1  # once per result file, not on every rerun
    assert not at.radio  # no PCA/UMAP switch before the UMAP exists


def test_umap_map_shows_once_in_the_cache(spawned):
    _store_fake_umap("deep_ensemble")  # member 0 is the softmax network: one map for both
    at = _page(embed_method="deep_ensemble")
    assert not at.exception, at.exception
    assert not any("Computing the UMAP" in i.value for i in at.info)
    fig = _figure(at)
    assert fig["layout"]["title"]["text"].startswith("UMAP of Deep ensemble's features")
    assert fig["layout"]["xaxis"]["title"]["text"] == "UMAP 1"
    assert spawned == []
    assert any("use the same network's features" in c.value for c in at.caption)
    at.radio(key="embed_kind").set_value("pca").run()
    assert _figure(at)["layout"]["title"]["text"].startswith("PCA of Deep ensemble")


def test_selected_points_list_their_images(spawned):
    import base64
    import io

    from PIL import Image

    from uqviz.metrics.scores import uncertainty
    from uqviz.ui.backend import dataset_splits, study
    from uqviz.ui.embedding_backend import set_label

    _store_fake_umap("deep_ensemble")
    at = _page(embed_method="deep_ensemble")
    assert not at.dataframe  # nothing selected yet
    p = study("digits", "deep_ensemble").predictions
    groups = p.group.astype(str)
    rows = [5, int(np.flatnonzero(groups == "gaussian_noise:5")[3]), p.n - 1]
    at.session_state["embed_chart_deep_ensemble_umap"] = {"selection": {
        "points": [{"curve_number": 0, "point_index": 0, "customdata": r} for r in rows],
        "point_indices": [0, 1, 2], "box": [], "lasso": []}}
    at.run()
    assert not at.exception, at.exception
    assert [h.value for h in at.subheader] == ["3 selected images"]
    (listing,) = at.dataframe
    table = listing.value
    u = uncertainty(p.probs, "entropy")
    assert list(table["Score"]) == pytest.approx(sorted(u[rows], reverse=True), abs=1e-9)
    by_score = [rows[i] for i in np.argsort(-u[rows], kind="stable")]
    assert list(table["Predicted"]) == [p.names[p.predicted[r]] for r in by_score]
    assert list(table["Set"]) == [set_label(p.group[r]) for r in by_score]
    assert groups[5] == "test" and groups[-1].startswith("ood:")  # clean, corrupted, OOD
    png = base64.b64decode(table["Image"].iloc[by_score.index(5)].split(",", 1)[1])
    picture = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    assert picture.shape == (24, 24)  # 8×8 digits, tripled
    test_x = dataset_splits("digits").test_x.numpy()  # row 5 is clean test image 5
    expected = np.round(np.clip(test_x[5, 0], 0, 1) * 255).repeat(3, 0).repeat(3, 1)
    np.testing.assert_allclose(picture, expected, atol=1)


@pytest.mark.parametrize("coloring", ["uncertainty", "correctness", "class", "predicted",
                                      "distribution", "severity"])
def test_every_colouring_renders(spawned, coloring):
    from uqviz.plots.embedding import COLORINGS

    _store_fake_umap("mc_dropout")
    at = _page(embed_method="mc_dropout", embed_color=coloring,
               embed_score="mutual_information")
    assert not at.exception, at.exception
    fig = _figure(at)
    names = [t.get("name", "") for t in fig["data"]]
    if coloring == "uncertainty":
        assert len(fig["data"]) == 1 and "colorbar" in fig["data"][0]["marker"]
        assert fig["data"][0]["marker"]["colorbar"]["title"]["text"].startswith("Mutual")
    else:
        assert fig["layout"]["legend"]["title"]["text"] == COLORINGS[coloring].label
        expected = {"correctness": 3, "class": 11, "predicted": 10, "distribution": 2,
                    "severity": 7}[coloring]
        assert len(names) == expected, names
    assert any(COLORINGS[coloring].meaning in c.value for c in at.caption)
    if coloring == "uncertainty":  # a one-sample method has no mutual information
        at.selectbox(key="embed_method").set_value("softmax").run()
        assert not at.exception, at.exception
        assert at.selectbox(key="embed_score").value == "entropy"
    hover = fig["data"][0]["text"][0]
    assert "true:" in hover and "predicted:" in hover and "Mutual information" in hover


def test_a_failed_job_says_why_and_offers_a_retry(monkeypatch):
    import uqviz.ui.embedding_backend as backend

    def failing(arguments, log):
        Path(log).write_text("error: something broke\n")
        return FakeProcess(code=2)

    monkeypatch.setattr(backend, "spawn_embed", failing)
    backend.start_umap.clear()
    backend.load_umap.clear()
    _forget("prior_ensemble")
    at = _page(embed_method="prior_ensemble")
    assert not at.exception, at.exception
    assert any("exit code 2" in w.value and "something broke" in w.value
               for w in at.warning), [w.value for w in at.warning]
    assert at.button(key="embed_retry")
    assert at.get("plotly_chart")  # the PCA map is still there


def test_predictions_file_without_features_says_so(monkeypatch, tmp_path):
    at = _page(dataset=offer_predictions_file(monkeypatch, tmp_path / "plain.csv"))
    assert not at.exception, at.exception
    assert any("holds no penultimate-layer features" in i.value for i in at.info)
    assert not at.get("plotly_chart")


def test_a_predictions_file_with_features_is_embedded_from_an_npy(monkeypatch):
    """A file's features cannot be rebuilt by the command line: they are saved next to the
    result and passed as --features."""
    import uqviz.ui.embedding_backend as backend
    from uqviz.predictions import Predictions

    rng = np.random.default_rng(2)
    feats = rng.normal(size=(40, 6)).astype(np.float32)
    p = Predictions(rng.dirichlet(np.ones(3), 40)[None], rng.integers(0, 3, 40), features=feats)
    from types import SimpleNamespace

    from uqviz.sources import PREDICTIONS_FILE
    from uqviz.study import Study

    monkeypatch.setattr(backend, "source", lambda name: SimpleNamespace(kind=PREDICTIONS_FILE))
    monkeypatch.setattr(backend, "study", lambda name, method: Study(p))
    backend.umap_file.clear()
    args = backend.embed_arguments("predictions:mine", "m")
    backend.umap_file.clear()
    target = Path(args[args.index("--features") + 1])
    np.testing.assert_array_equal(np.load(target), feats)
    assert args[args.index("--method") + 1] == "m"
    from uqviz.embedding import umap_path

    assert target.name == umap_path(feats, backend.UMAP_PARAMS).with_suffix(".features.npy").name


def test_a_job_of_another_session_that_died_is_reported(monkeypatch):
    """Methods sharing a network share one job: a second view waits on the first one's lock,
    and learns from the lock's process id when that job is gone."""
    import subprocess

    import uqviz.ui.embedding_backend as backend

    sleeper = subprocess.Popen(["sleep", "60"])
    fake = FakeProcess()
    fake.pid = sleeper.pid
    monkeypatch.setattr(backend, "spawn_embed", lambda arguments, log: fake)
    backend.start_umap.clear()
    path = _forget("softmax")
    try:
        job = backend.start_umap("digits", "softmax", str(path))
        assert job.process is fake and job.returncode() is None
        other = backend.start_umap("digits", "temperature", str(path))  # the same map: waits
        assert other.process is None and other.pid == sleeper.pid
        assert other.returncode() is None
    finally:
        sleeper.kill()
        sleeper.wait()
    assert other.returncode() == -1  # gone without writing the map
    backend.forget_umap_job("digits", "temperature", str(path))
    assert not path.with_suffix(".lock").exists()


@pytest.mark.parametrize("bad", ["nan", "two_rows"])
def test_features_that_cannot_be_mapped_start_no_job(spawned, monkeypatch, bad):
    """The features are checked (by the PCA map) before the background job would start: an
    error says why, and no job certain to fail is started nor reported as stopped."""
    import dataclasses

    import uqviz.ui.backend as ui_backend
    import uqviz.ui.embedding_backend as backend
    from uqviz.predictions import Predictions
    from uqviz.study import Study

    real = ui_backend.study("digits", "softmax").predictions
    if bad == "nan":
        feats = real.features.copy()
        feats[3, 1] = np.nan
        broken = dataclasses.replace(real, features=feats)
    else:
        broken = Predictions(real.probs[:, :2], real.labels[:2], features=real.features[:2])

    def patched(dataset, method, plan="app", original=ui_backend.study):
        return Study(broken) if method == "softmax" else original(dataset, method, plan)

    monkeypatch.setattr(ui_backend, "study", patched)
    monkeypatch.setattr(backend, "study", patched)
    for cached in (backend.pca_map, backend.umap_file, backend.points, backend.hover_texts):
        cached.clear()
    try:
        at = _page(embed_method="softmax")
        assert not at.exception, at.exception
        assert any("Cannot map Softmax's features" in e.value for e in at.error), \
            [e.value for e in at.error]
        assert spawned == []
        assert not at.warning and not any("Computing the UMAP" in i.value for i in at.info)
    finally:
        for cached in (backend.pca_map, backend.umap_file, backend.points, backend.hover_texts):
            cached.clear()


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_an_unreadable_result_file_is_computed_again(spawned, damage):
    """A result file that exists but cannot be read (with the lock of a process that is gone)
    is removed and a new job started, instead of 'computing' for ever."""
    path = _store_fake_umap("softmax")
    whole = path.read_bytes()
    _forget("softmax")
    path.write_bytes(b"not an npz file" if damage == "garbage" else whole[:len(whole) // 2])
    path.with_suffix(".lock").write_text(json.dumps({"pid": _dead_pid(), "started": 0}))
    at = _page(embed_method="softmax")
    assert not at.exception, at.exception
    assert len(spawned) == 1
    assert not path.exists()
    assert json.loads(path.with_suffix(".lock").read_text())["pid"] == FakeProcess().pid
    assert any("Computing the UMAP map in the background" in i.value for i in at.info)
    assert not at.warning
    _forget("softmax")


# -- the job's lock file, as the view reads it (the protocol itself: tests/test_jobs.py) -------
def _dead_pid() -> int:
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()
    return gone.pid


def test_a_job_whose_lock_names_no_process_waits_a_grace_period(tmp_path):
    """Another process's job whose lock names no process (being written) is still running;
    once the lock is older than the grace period it is abandoned: the view offers a retry."""
    import uqviz.ui.embedding_backend as backend
    from uqviz.jobs import LOCK_GRACE_SECONDS

    target = tmp_path / "map.npz"
    lock = target.with_suffix(".lock")
    job = backend.UmapJob(target, target.with_suffix(".log"), time.time())
    lock.write_bytes(b"")
    os.utime(lock, (time.time() - 1,) * 2)
    assert job.returncode() is None  # still being written: wait
    os.utime(lock, (time.time() - LOCK_GRACE_SECONDS - 30,) * 2)
    assert job.returncode() == -1  # abandoned: the view offers a retry


def test_forgetting_a_job_keeps_a_lock_that_a_live_process_holds(monkeypatch):
    """'Try again' drops this view's stopped job, but not a job another session started
    since: its lock names a live process."""
    import subprocess

    import uqviz.ui.embedding_backend as backend
    from uqviz.jobs import write_lock

    path = _forget("softmax")
    lock = path.with_suffix(".lock")
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        write_lock(lock, sleeper.pid)
        held = lock.read_bytes()
        backend.forget_umap_job("digits", "softmax", str(path))
        assert lock.read_bytes() == held
    finally:
        sleeper.kill()
        sleeper.wait()
    backend.forget_umap_job("digits", "softmax", str(path))
    assert not lock.exists()
