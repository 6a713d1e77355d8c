"""The predictions exchange format: validation messages, round trips, options."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
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
    np.testing.assert_array_equal(q.ids, p.ids)


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
