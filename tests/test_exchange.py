"""The predictions exchange format: validation messages, round trips, options."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from uqviz import exchange
from uqviz.exchange import (
    LoadedPredictions,
    PredictionsFileError,
    read_predictions,
    read_predictions_bytes,
    softmax,
    write_predictions,
)
from uqviz.predictions import Predictions

try:
    from malformed_corpus import write_malformed_corpus
except ImportError:  # tests/ imported as a package
    from tests.malformed_corpus import write_malformed_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_malformed_corpus(tmp_path_factory.mktemp("malformed"))


def _read_error(path, **kwargs) -> str:
    with pytest.raises(PredictionsFileError) as info:
        read_predictions(path, **kwargs)
    return str(info.value)


# -- malformed files ---------------------------------------------------------------------------
def test_corpus_has_enough_distinct_cases(corpus):
    assert len(corpus) >= 15
    assert len({path for path, _ in corpus}) == len(corpus)
    assert len({expected for _, expected in corpus}) == len(corpus)


def test_every_malformed_file_gets_a_one_line_message_naming_file_and_problem(corpus):
    for path, expected in corpus:
        message = _read_error(path)
        assert expected in message, (path.name, message)
        assert "\n" not in message
        assert message.startswith(f"{path.name}: ") or message.startswith(f"{path.name}.")
        assert issubclass(PredictionsFileError, ValueError)


def test_uploaded_bytes_give_the_same_messages(corpus):
    for path, expected in corpus:
        if path.name == "wrong_class_names.csv":  # an upload has no sidecar next to it
            continue
        with pytest.raises(PredictionsFileError) as info:
            read_predictions_bytes(path.read_bytes(), path.name)
        assert str(info.value) == _read_error(path), path.name
        assert expected in str(info.value)


def test_missing_file_and_folder(tmp_path):
    assert "nothere.csv: file not found" in _read_error(tmp_path / "nothere.csv")
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    assert "folder.csv: is a folder" in _read_error(folder)


def test_ragged_line_far_from_the_start_is_located(tmp_path):
    lines = ["label,p_0,p_1"] + ["0,0.5,0.5"] * 150_000 + ["1,0.5"] + ["0,0.5,0.5"] * 10
    path = tmp_path / "long.csv"
    path.write_text("\n".join(lines) + "\n")
    message = _read_error(path)
    assert "row 150002 (header = row 1): 2 fields where the header has 3" in message


def test_non_numeric_value_in_a_late_block_is_located(tmp_path):
    rows = ["0,0.5,0.5"] * 120_000
    rows[100_000] = "0,0.5,oops"
    path = tmp_path / "late.csv"
    path.write_text("label,p_0,p_1\n" + "\n".join(rows) + "\n")
    assert "row 100002 (header = row 1), column p_1: non-numeric value 'oops'" in _read_error(path)


def test_error_counts_all_bad_rows(tmp_path):
    path = tmp_path / "many.csv"
    path.write_text("label,p_0,p_1\n0,0.5,0.5\n0,1.5,0.5\n1,2.0,0.5\n1,3.0,0.5\n")
    message = _read_error(path)
    assert "row 3 (header = row 1), column p_0: probability 1.5 outside [0, 1] (and 2 more rows)" \
        in message


# -- reading options ---------------------------------------------------------------------------
def test_defaults_for_optional_columns(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("label,p_0,p_1\n0,0.25,0.75\n,0.5,0.5\n-1,1,0\n")
    loaded = read_predictions(path)
    assert isinstance(loaded, LoadedPredictions)
    assert list(loaded.by_method) == ["default"]
    assert loaded.warnings == ()
    assert loaded.source == "plain.csv"
    assert loaded.num_rows == 3
    p = loaded.by_method["default"]
    assert p.probs.shape == (1, 3, 2) and p.probs.dtype == np.float32
    np.testing.assert_array_equal(p.labels, [0, -1, -1])
    assert list(p.group) == ["test"] * 3
    np.testing.assert_array_equal(p.is_ood, [False] * 3)
    assert p.ids is None and p.class_names is None and p.method == "default"


def test_is_ood_derived_from_group_or_taken_from_column(tmp_path):
    path = tmp_path / "groups.csv"
    path.write_text("label,group,p_0,p_1\n0,test,0.5,0.5\n-1,ood:svhn,0.5,0.5\n"
                    "1,gaussian_noise:3,0.5,0.5\n")
    p = read_predictions(path).by_method["default"]
    assert list(p.group) == ["test", "ood:svhn", "gaussian_noise:3"]
    np.testing.assert_array_equal(p.is_ood, [False, True, False])
    path.write_text("label,group,is_ood,p_0,p_1\n0,test,1,0.5,0.5\n-1,ood:svhn,0,0.5,0.5\n")
    np.testing.assert_array_equal(read_predictions(path).by_method["default"].is_ood,
                                  [True, False])


def test_logit_columns_get_a_softmax(tmp_path):
    path = tmp_path / "logits.csv"
    path.write_text(f"label,logit_0,logit_1\n1,0,{float(np.log(3))!r}\n0,1000,1000\n")
    p = read_predictions(path).by_method["default"]
    np.testing.assert_allclose(p.probs[0], [[0.25, 0.75], [0.5, 0.5]], rtol=1e-6)


def test_logits_to_probs_on_p_columns_warns(tmp_path):
    path = tmp_path / "p_logits.csv"
    path.write_text("label,p_0,p_1,p_2\n2,-1.5,0.3,2.2\n")
    assert "logits_to_probs=True" in _read_error(path)
    loaded = read_predictions(path, logits_to_probs=True)
    expected = np.exp([-1.5, 0.3, 2.2]) / np.exp([-1.5, 0.3, 2.2]).sum()
    np.testing.assert_allclose(loaded.by_method["default"].probs[0, 0], expected, rtol=1e-6)
    assert any("softmax" in w for w in loaded.warnings)


def test_softmax_is_stable_and_float64():
    out = softmax(np.array([[1e4, 1e4 + np.log(3.0)], [-1e4, -1e4]], dtype=np.float32))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, [[0.25, 0.75], [0.5, 0.5]], rtol=1e-3)


def test_drop_invalid_drops_every_sample_of_a_bad_example(tmp_path):
    path = tmp_path / "nan.csv"
    path.write_text(
        "id,sample,label,p_0,p_1\n"
        "a,0,0,0.5,0.5\nb,0,1,0.5,0.5\nc,0,1,0.5,0.5\n"
        "a,1,0,0.5,0.5\nb,1,1,nan,0.5\nc,1,1,0.5,inf\n"
    )
    assert "2 row(s) have NaN, inf or empty values" in _read_error(path)
    loaded = read_predictions(path, drop_invalid=True)
    p = loaded.by_method["default"]
    assert p.probs.shape == (2, 1, 2)
    assert list(p.ids) == ["a"]
    assert loaded.num_rows == 6
    (warning,) = loaded.warnings
    assert "dropped 2 row(s) with NaN, inf or empty values" in warning
    assert "first at row 6 (header = row 1)" in warning
    assert "2 other sample row(s)" in warning


def test_drop_invalid_without_ids_matches_examples_by_position(tmp_path):
    path = tmp_path / "nan_pos.csv"
    path.write_text("sample,label,p_0,p_1\n0,0,0.5,0.5\n0,1,0.2,0.8\n1,0,,0.5\n1,1,0.3,0.7\n")
    p = read_predictions(path, drop_invalid=True).by_method["default"]
    np.testing.assert_allclose(p.probs[:, 0], [[0.2, 0.8], [0.3, 0.7]], rtol=1e-6)
    np.testing.assert_array_equal(p.labels, [1])


def test_samples_may_be_interleaved_and_methods_mixed(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text(
        "method,sample,id,label,p_0,p_1\n"
        "ens,0,1,0,0.9,0.1\nens,1,1,0,0.8,0.2\nsoft,0,1,0,0.6,0.4\n"
        "ens,0,2,1,0.3,0.7\nens,1,2,1,0.1,0.9\nsoft,0,2,1,0.5,0.5\n"
    )
    loaded = read_predictions(path)
    assert list(loaded.by_method) == ["ens", "soft"]
    ens = loaded.by_method["ens"]
    np.testing.assert_allclose(ens.probs[:, :, 0], [[0.9, 0.3], [0.8, 0.1]], rtol=1e-6)
    np.testing.assert_array_equal(ens.ids, [1, 2])
    assert ens.method == "ens" and loaded.by_method["soft"].probs.shape == (1, 2, 2)


def test_string_ids_keep_leading_zeros(tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text("id,label,p_0,p_1\n001,0,0.5,0.5\n1,0,0.5,0.5\n")
    assert list(read_predictions(path).by_method["default"].ids) == ["001", "1"]


def test_ignored_columns_and_empty_groups_are_reported(tmp_path):
    path = tmp_path / "extra.csv"
    path.write_text("label,p_0,p_1,image,group\n0,0.5,0.5,a.png,\n1,0.5,0.5,b.png,ood:x\n")
    loaded = read_predictions(path)
    assert "ignored columns: image" in loaded.warnings
    assert any("1 row(s) with an empty group were put in group 'test'" in w
               for w in loaded.warnings)
    assert list(loaded.by_method["default"].group) == ["test", "ood:x"]


def test_parquet_with_nullable_integer_labels(tmp_path):
    path = tmp_path / "nullable.parquet"
    table = pa.table({"label": pa.array([0, None, 1], pa.int64()),
                      "p_0": pa.array([0.5, 0.5, 0.5], pa.float32()),
                      "p_1": [0.5, 0.5, 0.5], "method": ["m", "m", "m"]})
    pq.write_table(table, path)
    p = read_predictions(path).by_method["m"]
    np.testing.assert_array_equal(p.labels, [0, -1, 1])


def test_npz_two_dimensional_probs_and_logits(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, probs=np.array([[0.25, 0.75], [1.0, 0.0]]), labels=np.array([1, -1]),
             group=np.array(["test", "ood:noise"]), method=np.array("mine"))
    p = read_predictions(path).by_method["mine"]
    assert p.probs.shape == (1, 2, 2)
    np.testing.assert_array_equal(p.is_ood, [False, True])
    path = tmp_path / "logits.npz"
    np.savez(path, logits=np.zeros((3, 2, 4)), labels=np.array([0, 3]))
    p = read_predictions(path).by_method["default"]
    np.testing.assert_allclose(p.probs, np.full((3, 2, 4), 0.25))


# -- class names -------------------------------------------------------------------------------
@pytest.mark.parametrize("sidecar", ["preds.csv.classes.json", "preds.classes.json"])
def test_class_names_from_sidecar(tmp_path, sidecar):
    path = tmp_path / "preds.csv"
    path.write_text("label,p_0,p_1\n0,0.5,0.5\n")
    (tmp_path / sidecar).write_text(json.dumps(["cat", "dog"]))
    assert read_predictions(path).by_method["default"].class_names == ("cat", "dog")
    loaded = read_predictions(path, class_names=["a", "b"])
    assert loaded.by_method["default"].class_names == ("a", "b")


def test_class_names_argument_of_wrong_length(tmp_path):
    path = tmp_path / "preds.csv"
    path.write_text("label,p_0,p_1\n0,0.5,0.5\n")
    message = _read_error(path, class_names=["a", "b", "c"])
    assert "class_names argument: 3 class names for 2 classes in preds.csv" in message
    with pytest.raises(PredictionsFileError, match="3 class names for 2 classes"):
        read_predictions_bytes(path.read_bytes(), "preds.csv", class_names=["a", "b", "c"])


# -- writing and round trips -------------------------------------------------------------------
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

    monkeypatch.setattr(exchange.pa_csv, "write_csv", broken)
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


def test_drop_invalid_reports_a_method_that_loses_every_row(tmp_path):
    path = tmp_path / "gone.csv"
    path.write_text("method,label,p_0,p_1\na,0,0.5,0.5\nb,1,nan,0.5\n")
    loaded = read_predictions(path, drop_invalid=True)
    assert list(loaded.by_method) == ["a"]
    assert "method 'b' has no rows left after dropping invalid rows" in loaded.warnings


# -- row order: rows in any order when there is an id column -----------------------------------
ROW_ORDER_METHODS = {"ens": 3, "mc": 2, "soft": 1, "half": 2}  # method -> samples S
_TEXT_INTEGER = re.compile(r"-?[0-9]{1,18}")


def _canonical(ids) -> list:
    """The documented order: ints ascending; text: plain integers first (numerically, ties by
    text), then the others by code point."""
    ids = list(ids)
    if all(isinstance(x, int | np.integer) for x in ids):
        return sorted(int(x) for x in ids)
    return sorted(ids, key=lambda x: (0, int(x), x) if _TEXT_INTEGER.fullmatch(x)
                  else (1, 0, x))


def _random_ids(rng, kind: str, n: int) -> np.ndarray:
    if kind == "int":
        return rng.choice(np.arange(-50, 5_000), size=n, replace=False).astype(np.int64)
    pool = ([f"img{k}" for k in range(120)] + [str(k) for k in range(120)]
            + [f"{k:04d}" for k in range(120)] + ["Zeta", "alpha", "é-1", "-7", "x"])
    return np.asarray([str(x) for x in rng.choice(pool, size=n, replace=False)], dtype=object)


def _long_frame(rng, id_kind: str, n: int = 30, num_classes: int = 3) -> pd.DataFrame:
    """A long-format file as a frame, in the one row order today's rule accepted: each method
    lists its examples in its own (random) order, the same in every sample. Method 'half' has
    half of the ids."""
    ids = _random_ids(rng, id_kind, n)
    labels = rng.integers(-1, num_classes, n)
    group = np.array(["test", "ood:svhn", "gaussian_noise:2"], dtype=object)[rng.integers(0, 3, n)]
    is_ood = rng.integers(0, 2, n)
    parts = []
    for method, num_samples in ROW_ORDER_METHODS.items():
        own = rng.permutation(n if method != "half" else rng.choice(n, n // 2, replace=False))
        for s in range(num_samples):
            probs = rng.dirichlet(np.full(num_classes, 0.5), size=own.size)
            parts.append(pd.DataFrame({
                "id": ids[own], "method": method, "sample": s, "label": labels[own],
                "group": group[own], "is_ood": is_ood[own],
                **{f"p_{j}": probs[:, j] for j in range(num_classes)},
            }))
    return pd.concat(parts, ignore_index=True)


def _row_orders(frame: pd.DataFrame, rng) -> dict[str, np.ndarray]:
    """Named permutations of the frame's rows."""
    n = len(frame)
    example_key = pd.factorize(frame["id"])[0]
    interleaved = np.lexsort((frame["sample"].to_numpy(), pd.factorize(frame["method"])[0],
                              rng.permutation(example_key.max() + 1)[example_key]))
    by_id = np.lexsort((frame["id"].astype(str).to_numpy(), frame["sample"].to_numpy(),
                        frame["method"].to_numpy()))
    return {
        "sorted": by_id,  # method, sample, id (as text)
        "interleaved": interleaved,  # all rows of an example together, samples alternating
        "reversed": np.arange(n)[::-1],
        **{f"random{seed}": np.random.default_rng(seed).permutation(n) for seed in range(3)},
    }


def _write_frame(frame: pd.DataFrame, path) -> None:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)


def _assert_identical(a: LoadedPredictions, b: LoadedPredictions) -> None:
    assert sorted(a.by_method) == sorted(b.by_method)
    for key, p in a.by_method.items():
        q = b.by_method[key]
        np.testing.assert_array_equal(p.probs, q.probs)
        np.testing.assert_array_equal(p.labels, q.labels)
        assert list(p.group) == list(q.group)
        np.testing.assert_array_equal(p.is_ood, q.is_ood)
        assert p.ids.dtype == q.ids.dtype
        assert list(p.ids) == list(q.ids)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("id_kind", ["int", "text"])
def test_any_row_order_gives_the_same_predictions_in_ascending_id_order(tmp_path, suffix,
                                                                        id_kind):
    rng = np.random.default_rng(7 if id_kind == "int" else 8)
    frame = _long_frame(rng, id_kind)
    path = tmp_path / f"as_built{suffix}"
    _write_frame(frame, path)
    reference = read_predictions(path)
    assert reference.warnings == ()
    assert list(reference.by_method) == list(ROW_ORDER_METHODS)
    # the canonical order: ascending id, the same for every method with the same ids
    for method, p in reference.by_method.items():
        own = frame[frame["method"] == method]
        assert list(p.ids) == _canonical(set(own["id"]))
        assert p.ids.dtype == (np.int64 if id_kind == "int" else object)
        assert p.probs.shape == (ROW_ORDER_METHODS[method], len(p.ids), 3)
        # each value is the file's value for that (method, sample, id)
        by_key = own.set_index(["sample", "id"])
        for s in range(p.num_samples):
            expected = by_key.loc[[(s, i) for i in p.ids], ["p_0", "p_1", "p_2"]].to_numpy()
            np.testing.assert_array_equal(p.probs[s], expected.astype(np.float32))
        first = by_key.loc[[(0, i) for i in p.ids]]
        np.testing.assert_array_equal(p.labels, first["label"].to_numpy())
        assert list(p.group) == list(first["group"])
        np.testing.assert_array_equal(p.is_ood, first["is_ood"].to_numpy() == 1)
    full = reference.by_method["ens"]
    for method in ("mc", "soft"):
        assert list(reference.by_method[method].ids) == list(full.ids)
        np.testing.assert_array_equal(reference.by_method[method].labels, full.labels)
    for name, order in _row_orders(frame, rng).items():
        shuffled = tmp_path / f"{name}{suffix}"
        _write_frame(frame.iloc[order], shuffled)
        loaded = read_predictions(shuffled)
        assert loaded.warnings == (), name
        assert loaded.num_rows == len(frame)
        _assert_identical(reference, loaded)


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
        _assert_identical(reference, read_predictions(shuffled))
        _assert_identical(reference, read_predictions_bytes(shuffled.read_bytes(),
                                                            shuffled.name))


def test_text_ids_sort_plain_integers_first_then_by_code_point(tmp_path):
    path = tmp_path / "text_ids.csv"
    ids = ["x10", "b", "10", "9", "7", "007", "-3", "B", "img2", "img10"]
    rows = [f"{i},{s},0,0.5,0.5" for s in (1, 0) for i in reversed(ids)]
    path.write_text("id,sample,label,p_0,p_1\n" + "\n".join(rows) + "\n")
    p = read_predictions(path).by_method["default"]
    assert list(p.ids) == ["-3", "007", "7", "9", "10", "B", "b", "img10", "img2", "x10"]
    assert p.probs.shape == (2, 10, 2)


def test_integer_ids_sort_numerically(tmp_path):
    path = tmp_path / "int_ids.csv"
    path.write_text("id,label,p_0,p_1\n10,0,0.1,0.9\n-2,1,0.2,0.8\n9,0,0.3,0.7\n100,1,0.4,0.6\n")
    p = read_predictions(path).by_method["default"]
    assert p.ids.dtype == np.int64
    assert list(p.ids) == [-2, 9, 10, 100]
    np.testing.assert_allclose(p.probs[0, :, 0], [0.2, 0.3, 0.1, 0.4])
    np.testing.assert_array_equal(p.labels, [1, 0, 0, 1])


def test_drop_invalid_on_shuffled_rows(tmp_path):
    path = tmp_path / "nan_shuffled.csv"
    path.write_text(
        "id,sample,label,p_0,p_1\n"
        "c,1,1,0.5,inf\nb,0,1,0.5,0.5\na,1,0,0.4,0.6\nc,0,1,0.5,0.5\na,0,0,0.5,0.5\n"
        "b,1,1,0.3,0.7\n"
    )
    loaded = read_predictions(path, drop_invalid=True)
    p = loaded.by_method["default"]
    assert list(p.ids) == ["a", "b"]
    np.testing.assert_allclose(p.probs[:, :, 0], [[0.5, 0.5], [0.4, 0.3]])
    assert loaded.warnings == ("dropped 1 row(s) with NaN, inf or empty values in p_ columns "
                               "(first at row 2 (header = row 1)) and 1 other sample row(s) of "
                               "the same examples",)


MIXED_HEADER = "method,sample,id,label,p_0,p_1\n"


def test_an_id_twice_in_one_sample_is_named(tmp_path):
    path = tmp_path / "twice.csv"
    path.write_text(MIXED_HEADER + "b,0,7,0,0.5,0.5\na,1,3,1,0.5,0.5\na,0,3,1,0.5,0.5\n"
                    "b,0,8,1,0.5,0.5\na,1,3,1,0.5,0.5\nb,0,7,0,0.5,0.5\n")
    assert _read_error(path) == (
        "twice.csv: row 6 (header = row 1), column id: id 3 appears twice in method 'a', "
        "sample 1 (first at row 3 (header = row 1)); each sample of a method must list an id "
        "once (2 rows repeat an earlier one)")
    path.write_text("id,label,p_0,p_1\nx,0,0.5,0.5\ny,1,0.5,0.5\nx,0,0.5,0.5\n")
    assert _read_error(path) == (
        "twice.csv: row 4 (header = row 1), column id: id x appears twice in method 'default', "
        "sample 0 (first at row 2 (header = row 1)); each sample of a method must list an id "
        "once")


def test_an_id_missing_from_one_sample_is_named(tmp_path):
    path = tmp_path / "missing.csv"
    path.write_text(MIXED_HEADER + "ens,2,b,1,0.5,0.5\nens,0,c,0,0.5,0.5\nens,1,a,0,0.5,0.5\n"
                    "ens,0,a,0,0.5,0.5\nens,2,a,0,0.5,0.5\nens,0,b,1,0.5,0.5\n"
                    "ens,1,b,1,0.5,0.5\nens,1,c,0,0.5,0.5\nens,2,d,0,0.5,0.5\n")
    assert _read_error(path) == (
        "missing.csv: row 3 (header = row 1), column id: id c of method 'ens' is in sample 0 but "
        "missing from sample 2; every sample of a method must list the same ids (in any order)")


def test_extra_ids_in_one_sample_are_named(tmp_path):
    path = tmp_path / "extra.csv"
    path.write_text(MIXED_HEADER + "soft,0,1,0,0.5,0.5\nens,1,5,0,0.5,0.5\nens,0,1,0,0.5,0.5\n"
                    "ens,1,1,0,0.5,0.5\nens,1,4,0,0.5,0.5\n")
    assert _read_error(path) == (
        "extra.csv: row 3 (header = row 1), column id: id 5 of method 'ens' is in sample 1 but "
        "not in sample 0 (and 1 more ids); every sample of a method must list the same ids "
        "(in any order)")
    # sample 0 is the reference: when it lacks an id that the other samples have, that id is
    # named as extra in the first other sample
    path.write_text(MIXED_HEADER + "m,2,b,0,0.5,0.5\nm,1,b,0,0.5,0.5\nm,0,a,0,0.5,0.5\n"
                    "m,1,a,0,0.5,0.5\nm,2,a,0,0.5,0.5\n")
    assert _read_error(path) == (
        "extra.csv: row 3 (header = row 1), column id: id b of method 'm' is in sample 1 but "
        "not in sample 0; every sample of a method must list the same ids (in any order)")


def test_id_errors_in_parquet_name_the_same_rows(tmp_path):
    csv_path = tmp_path / "missing.csv"
    csv_path.write_text(MIXED_HEADER + "ens,1,a,0,0.5,0.5\nens,0,b,1,0.5,0.5\n"
                        "ens,0,a,0,0.5,0.5\n")
    parquet_path = tmp_path / "missing.parquet"
    pq.write_table(pa_csv.read_csv(csv_path), parquet_path)
    expected = ("row 3 (header = row 1), column id: id b of method 'ens' is in sample 0 but "
                "missing from sample 1")
    assert expected in _read_error(csv_path)
    assert _read_error(parquet_path) == _read_error(csv_path).replace("missing.csv",
                                                                      "missing.parquet")


def test_values_that_differ_between_samples_of_an_id_are_named_on_shuffled_rows(tmp_path):
    path = tmp_path / "differ.csv"
    path.write_text("id,sample,label,group,p_0,p_1\n"
                    "b,1,1,test,0.5,0.5\na,0,0,test,0.5,0.5\nb,0,1,ood:x,0.5,0.5\n"
                    "a,1,0,test,0.5,0.5\n")
    assert _read_error(path) == (
        "differ.csv: row 2 (header = row 1), column group: group 'test' differs from group "
        "'ood:x' of the same example (id b) in sample 0 at row 4 (header = row 1)")
    path.write_text("id,method,label,p_0,p_1\n2,b,1,0.5,0.5\n1,a,0,0.5,0.5\n2,a,1,0.5,0.5\n"
                    "1,b,1,0.5,0.5\n")
    assert _read_error(path) == (
        "differ.csv: row 5 (header = row 1), column label: id 1 has label 1 here but label 0 "
        "at row 3 (header = row 1); the same id must have the same label in every method")


def test_without_ids_samples_are_matched_by_position_and_the_message_says_so(tmp_path):
    path = tmp_path / "no_ids.csv"
    path.write_text("sample,label,p_0,p_1\n0,0,0.5,0.5\n0,1,0.5,0.5\n1,1,0.5,0.5\n"
                    "1,0,0.5,0.5\n")
    assert _read_error(path) == (
        "no_ids.csv: row 4 (header = row 1), column label: label 1 differs from label 0 of the "
        "same example (position 1 of sample 0) in sample 0 at row 2 (header = row 1); without "
        "an 'id' column the samples are matched by position, so every sample must list the "
        "examples in the same order; add an 'id' column to give rows in any order")
    path.write_text("sample,label,p_0,p_1\n0,0,0.5,0.5\n0,1,0.5,0.5\n1,0,0.5,0.5\n")
    assert _read_error(path) == (
        "no_ids.csv: method 'default': sample 1 has 1 row but sample 0 has 2 rows; every sample "
        "must cover the same examples; without an 'id' column the samples are matched by "
        "position, so every sample must list the examples in the same order; add an 'id' "
        "column to give rows in any order")
    # the same rows with an id column are fine in any order
    path.write_text("id,sample,label,p_0,p_1\n1,1,1,0.2,0.8\n0,0,0,0.5,0.5\n1,0,1,0.5,0.5\n"
                    "0,1,0,0.1,0.9\n")
    p = read_predictions(path).by_method["default"]
    np.testing.assert_allclose(p.probs[:, :, 0], [[0.5, 0.5], [0.1, 0.2]])


@pytest.mark.parametrize("id_kind", ["int", "text"])
def test_every_sorting_path_gives_the_same_result(tmp_path, monkeypatch, id_kind):
    """Counting sort (compact keys), argsort and lexsort (keys too large for one int64) agree,
    on good files and on the message for a repeated id."""
    rng = np.random.default_rng(11)
    frame = _long_frame(rng, id_kind)
    path = tmp_path / "shuffled.csv"
    _write_frame(frame.iloc[rng.permutation(len(frame))], path)
    repeated = tmp_path / "repeated.csv"
    _write_frame(pd.concat([frame, frame.iloc[[5, 40]]]).iloc[::-1], repeated)
    reference, message = read_predictions(path), _read_error(repeated)
    assert "appears twice in method" in message
    for factor, max_key in ((0, 2**62), (4, 0), (0, 0)):
        monkeypatch.setattr(exchange, "_COUNTING_FACTOR", factor)
        monkeypatch.setattr(exchange, "_MAX_KEY", max_key)
        _assert_identical(reference, read_predictions(path))
        assert _read_error(repeated) == message


@pytest.mark.parametrize("max_words", [4, 1, 0])
def test_text_order_is_the_documented_order(monkeypatch, max_words):
    """Byte-wise lexsort (short texts) and Arrow's sort (long texts) both give: plain integers
    first, numerically (ties by text), then the rest by code point."""
    monkeypatch.setattr(exchange, "_MAX_SORT_WORDS", max_words)
    rng = np.random.default_rng(max_words)
    alphabet = list("ab0129-_ xZé\u00ff\u4e2d\U0001f600") + ["\x00"]
    texts = {"".join(rng.choice(alphabet, size=rng.integers(1, 14))) for _ in range(400)}
    texts |= {"a", "a\x00", "a\x00\x00", "ab", "007", "7", "-7", "-007", "12345678901234567",
              "0", "10", "9", "img9", "img10", "x" * 40, "x" * 39 + "y", "99999999999999999999"}
    texts = sorted(texts)
    shuffled = [texts[i] for i in rng.permutation(len(texts))]
    order = exchange._text_order(pa.array(shuffled, pa.string()))
    assert [shuffled[i] for i in order] == _canonical(texts)
    no_numbers = [t for t in shuffled if not _TEXT_INTEGER.fullmatch(t)]
    order = exchange._text_order(pa.array(no_numbers, pa.string()))
    assert [no_numbers[i] for i in order] == sorted(no_numbers, key=lambda t: t.encode())
