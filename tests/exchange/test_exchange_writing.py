"""``write_predictions`` (``uqviz.exchange.writing``): round trips through every format, the
documented columns, atomic writes, bad input, and written files read back after shuffling."""

from __future__ import annotations

import numpy as np
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from tests.exchange.exchange_checks import assert_identical
from uqviz.exchange import read_predictions, read_predictions_bytes, write_predictions, writing
from uqviz.predictions import Predictions


def _predictions(rng, method, num_samples, n, num_classes, *, ids=None, names=None):
    probs = rng.dirichlet(np.full(num_classes, 0.3), size=(num_samples, n)).astype(np.float32)
    labels = rng.integers(-1, num_classes, size=n)
    group = np.array(["test", "ood:svhn", "gaussian_noise:2"], dtype=object)[np.arange(n) % 3]
    is_ood = np.asarray([g.startswith("ood:") for g in group])
    is_ood[0] = True  # an explicit flag that disagrees with the group must survive
    return Predictions(probs, labels, group=group, is_ood=is_ood, method=method, ids=ids,
                       class_names=names)


def _assert_same(a: Predictions, b: Predictions, *, ids_written: bool) -> None:
    np.testing.assert_array_equal(a.probs, b.probs)
    assert b.probs.dtype == np.float32
    np.testing.assert_array_equal(a.labels, b.labels)
    assert list(a.group) == list(b.group)
    np.testing.assert_array_equal(a.is_ood, b.is_ood)
    assert a.class_names == b.class_names
    # One id column serves every method: when any id is text, all ids come back as text.
    if a.ids is not None:
        assert [str(x) for x in a.ids] == [str(x) for x in b.ids]
    elif ids_written:
        assert [str(x) for x in b.ids] == [str(i) for i in range(a.n)]
    else:
        assert b.ids is None


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".npz"])
@pytest.mark.parametrize("num_samples", [1, 4])
def test_round_trip(tmp_path, suffix, num_samples):
    rng = np.random.default_rng(num_samples)
    names = ("airplane", "bird", "cat", "dog, big")
    by_method = {
        "softmax": _predictions(rng, "softmax", 1, 30, 4, names=names),
        "deep_ensemble": _predictions(rng, "deep_ensemble", num_samples, 12, 4,
                                      ids=np.arange(100, 112), names=names),
        "mc dropout": _predictions(rng, "mc dropout", num_samples, 5, 4,
                                   ids=np.array(["x1", "x2", "x3", "x4", "x5"]), names=names),
    }
    path = write_predictions(by_method, tmp_path / f"preds{suffix}")
    assert path == tmp_path / f"preds{suffix}"
    loaded = read_predictions(path)
    assert loaded.warnings == ()
    assert list(loaded.by_method) == list(by_method)
    assert loaded.num_rows == sum(p.num_samples * p.n for p in by_method.values())
    for key, original in by_method.items():
        _assert_same(original, loaded.by_method[key], ids_written=suffix != ".npz")
        assert loaded.by_method[key].method == key
    from_bytes = read_predictions_bytes(path.read_bytes(), path.name, class_names=names)
    for key, original in by_method.items():
        _assert_same(original, from_bytes.by_method[key], ids_written=suffix != ".npz")


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".npz"])
def test_integer_ids_come_back_as_integers(tmp_path, suffix):
    rng = np.random.default_rng(1)
    p = _predictions(rng, "m", 2, 6, 3, ids=np.array([5, 3, 9, 1, 2, 8]))
    q = read_predictions(write_predictions({"m": p}, tmp_path / f"x{suffix}")).by_method["m"]
    assert q.ids.dtype == np.int64
    # table files come back in ascending id order; NPZ keeps the order of its arrays
    order = np.arange(p.n) if suffix == ".npz" else np.argsort(p.ids)
    np.testing.assert_array_equal(q.ids, p.ids[order])
    np.testing.assert_array_equal(q.probs, p.probs[:, order])
    np.testing.assert_array_equal(q.labels, p.labels[order])
    np.testing.assert_array_equal(q.is_ood, p.is_ood[order])
    assert list(q.group) == list(p.group[order])


def test_written_csv_has_the_documented_columns(tmp_path):
    rng = np.random.default_rng(0)
    path = write_predictions({"m": _predictions(rng, "m", 2, 3, 3)}, tmp_path / "out.csv")
    header = path.read_text().splitlines()[0].replace('"', "").split(",")
    assert header == ["id", "method", "sample", "group", "is_ood", "label", "p_0", "p_1", "p_2"]
    assert len(path.read_text().splitlines()) == 1 + 2 * 3
    assert not (tmp_path / "out.csv.classes.json").exists()


def test_write_is_atomic(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    by_method = {"m": _predictions(rng, "m", 1, 4, 2)}
    path = write_predictions(by_method, tmp_path / "out.csv")
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(writing.pa_csv, "write_csv", broken)
    with pytest.raises(OSError, match="disk full"):
        write_predictions({"m": _predictions(rng, "m", 1, 9, 2)}, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_write_rejects_bad_input(tmp_path):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="same number of classes"):
        write_predictions({"a": _predictions(rng, "a", 1, 3, 2),
                           "b": _predictions(rng, "b", 1, 3, 3)}, tmp_path / "x.csv")
    with pytest.raises(ValueError, match="must end in one of"):
        write_predictions({"a": _predictions(rng, "a", 1, 3, 2)}, tmp_path / "x.json")
    with pytest.raises(ValueError, match="empty"):
        write_predictions({}, tmp_path / "x.csv")
    a = Predictions(np.full((2, 2), 0.5), np.array([0, 1]))
    b = Predictions(np.full((2, 2), 0.5), np.array([1, 1]))
    with pytest.raises(ValueError, match="give the Predictions ids"):
        write_predictions({"a": a, "b": b}, tmp_path / "x.csv")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_written_files_read_back_the_same_after_shuffling(tmp_path, suffix):
    rng = np.random.default_rng(3)
    ids = rng.permutation(40)[:25] * 3
    ens = _predictions(rng, "deep_ensemble", 4, 25, 5, ids=ids)
    back = np.arange(25)[::-1]  # softmax lists the same examples the other way round
    soft = Predictions(rng.dirichlet(np.ones(5), size=25), ens.labels[back],
                       group=ens.group[back], is_ood=ens.is_ood[back], ids=ids[back])
    by_method = {"deep_ensemble": ens, "softmax": soft}
    path = write_predictions(by_method, tmp_path / f"written{suffix}")
    reference = read_predictions(path)
    order = np.argsort(ids)
    for key in by_method:
        p = reference.by_method[key]
        original = by_method[key]
        mine = np.argsort(original.ids)
        np.testing.assert_array_equal(p.ids, ids[order])
        np.testing.assert_array_equal(p.probs, original.probs[:, mine])
        np.testing.assert_array_equal(p.labels, original.labels[mine])
        np.testing.assert_array_equal(p.is_ood, original.is_ood[mine])
    table = pq.read_table(path) if suffix == ".parquet" else pa_csv.read_csv(path)
    for seed in range(3):
        take = np.random.default_rng(seed).permutation(table.num_rows)
        shuffled = tmp_path / f"shuffled{seed}{suffix}"
        if suffix == ".parquet":
            pq.write_table(table.take(take), shuffled)
        else:
            pa_csv.write_csv(table.take(take), shuffled)
        assert_identical(reference, read_predictions(shuffled))
        assert_identical(reference, read_predictions_bytes(shuffled.read_bytes(),
                                                            shuffled.name))
