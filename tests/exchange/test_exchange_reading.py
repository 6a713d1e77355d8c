"""The public readers (``uqviz.exchange.reading``): one-line messages for the malformed corpus,
uploads, missing files, what ``LoadedPredictions`` holds, class names."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.exchange.exchange_checks import read_error
from tests.malformed_corpus import write_malformed_corpus
from uqviz.exchange import (
    LoadedPredictions,
    PredictionsFileError,
    read_predictions,
    read_predictions_bytes,
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_malformed_corpus(tmp_path_factory.mktemp("malformed"))


# -- malformed files ---------------------------------------------------------------------------
def test_corpus_has_enough_distinct_cases(corpus):
    assert len(corpus) >= 15
    assert len({path for path, _ in corpus}) == len(corpus)
    assert len({expected for _, expected in corpus}) == len(corpus)


def test_every_malformed_file_gets_a_one_line_message_naming_file_and_problem(corpus):
    for path, expected in corpus:
        message = read_error(path)
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
        assert str(info.value) == read_error(path), path.name
        assert expected in str(info.value)


def test_missing_file_and_folder(tmp_path):
    assert "nothere.csv: file not found" in read_error(tmp_path / "nothere.csv")
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    assert "folder.csv: is a folder" in read_error(folder)


# -- what a file gives --------------------------------------------------------------------------
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
    message = read_error(path, class_names=["a", "b", "c"])
    assert "class_names argument: 3 class names for 2 classes in preds.csv" in message
    with pytest.raises(PredictionsFileError, match="3 class names for 2 classes"):
        read_predictions_bytes(path.read_bytes(), "preds.csv", class_names=["a", "b", "c"])
