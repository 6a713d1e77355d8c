"""The checks that table and NPZ files share (``uqviz.exchange.checks``): probabilities or
logits, is_ood, class counts and labels across methods, in the words of either kind of file."""

from __future__ import annotations

import numpy as np

from tests.exchange.exchange_checks import read_error
from uqviz.exchange import read_predictions
from uqviz.numerics import softmax


def test_error_counts_all_bad_rows(tmp_path):
    path = tmp_path / "many.csv"
    path.write_text("label,p_0,p_1\n0,0.5,0.5\n0,1.5,0.5\n1,2.0,0.5\n1,3.0,0.5\n")
    message = read_error(path)
    assert "row 3 (header = row 1), column p_0: probability 1.5 outside [0, 1] (and 2 more rows)" \
        in message


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
    assert "logits_to_probs=True" in read_error(path)
    loaded = read_predictions(path, logits_to_probs=True)
    expected = np.exp([-1.5, 0.3, 2.2]) / np.exp([-1.5, 0.3, 2.2]).sum()
    np.testing.assert_allclose(loaded.by_method["default"].probs[0, 0], expected, rtol=1e-6)
    assert any("softmax" in w for w in loaded.warnings)


def test_softmax_is_stable_and_float64():
    out = softmax(np.array([[1e4, 1e4 + np.log(3.0)], [-1e4, -1e4]], dtype=np.float32))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, [[0.25, 0.75], [0.5, 0.5]], rtol=1e-3)


def test_logits_to_probs_on_npz_probs_warns(tmp_path):
    path = tmp_path / "logits.npz"
    np.savez(path, probs=np.array([[0.0, np.log(3.0)]]), labels=np.array([1]))
    loaded = read_predictions(path, logits_to_probs=True)
    assert loaded.warnings == ("applied a softmax to 'probs' (logits_to_probs=True)",)
    np.testing.assert_allclose(loaded.by_method["default"].probs, [[[0.25, 0.75]]], rtol=1e-6)


def test_class_counts_differ_between_methods_of_a_table(tmp_path):
    path = tmp_path / "counts.csv"
    path.write_text("method,label,p_0,p_1,p_2\na,0,0.5,0.5,\nb,1,0.2,0.3,0.5\n")
    assert read_error(path) == (
        "counts.csv: class counts differ between methods ('a' has 2, 'b' has 3 classes with "
        "values in p_ columns); every method needs the same classes")


def test_labels_across_methods_of_an_npz_file(tmp_path):
    path = tmp_path / "labels.npz"
    arrays = {"methods": np.array(["a", "b"]),
              "probs_0": np.full((2, 2), 0.5), "labels_0": np.array([0, 1]),
              "ids_0": np.array([3, 4]),
              "probs_1": np.full((2, 2), 0.5), "labels_1": np.array([1, 0]),
              "ids_1": np.array([4, 5])}
    np.savez(path, **arrays)
    assert read_predictions(path).by_method["b"].labels.tolist() == [1, 0]
    np.savez(path, **(arrays | {"labels_1": np.array([0, 0])}))
    assert read_error(path) == (
        "labels.npz: id 4 has label 0 in labels_1[0] but label 1 in labels_0[1]; the same id must "
        "have the same label in every method")
