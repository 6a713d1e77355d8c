"""Table rows into per-method arrays (``uqviz.exchange.alignment``): samples aligned on id or
matched by position, dropping invalid rows, and the messages that name the offending row."""

from __future__ import annotations

import numpy as np
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from tests.exchange.exchange_checks import read_error
from uqviz.exchange import read_predictions


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


# -- dropping invalid rows ----------------------------------------------------------------------
def test_drop_invalid_drops_every_sample_of_a_bad_example(tmp_path):
    path = tmp_path / "nan.csv"
    path.write_text(
        "id,sample,label,p_0,p_1\n"
        "a,0,0,0.5,0.5\nb,0,1,0.5,0.5\nc,0,1,0.5,0.5\n"
        "a,1,0,0.5,0.5\nb,1,1,nan,0.5\nc,1,1,0.5,inf\n"
    )
    assert "2 row(s) have NaN, inf or empty values" in read_error(path)
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


def test_drop_invalid_reports_a_method_that_loses_every_row(tmp_path):
    path = tmp_path / "gone.csv"
    path.write_text("method,label,p_0,p_1\na,0,0.5,0.5\nb,1,nan,0.5\n")
    loaded = read_predictions(path, drop_invalid=True)
    assert list(loaded.by_method) == ["a"]
    assert "method 'b' has no rows left after dropping invalid rows" in loaded.warnings


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


# -- ids that do not line up --------------------------------------------------------------------
MIXED_HEADER = "method,sample,id,label,p_0,p_1\n"

def test_an_id_twice_in_one_sample_is_named(tmp_path):
    path = tmp_path / "twice.csv"
    path.write_text(MIXED_HEADER + "b,0,7,0,0.5,0.5\na,1,3,1,0.5,0.5\na,0,3,1,0.5,0.5\n"
                    "b,0,8,1,0.5,0.5\na,1,3,1,0.5,0.5\nb,0,7,0,0.5,0.5\n")
    assert read_error(path) == (
        "twice.csv: row 6 (header = row 1), column id: id 3 appears twice in method 'a', "
        "sample 1 (first at row 3 (header = row 1)); each sample of a method must list an id "
        "once (2 rows repeat an earlier one)")
    path.write_text("id,label,p_0,p_1\nx,0,0.5,0.5\ny,1,0.5,0.5\nx,0,0.5,0.5\n")
    assert read_error(path) == (
        "twice.csv: row 4 (header = row 1), column id: id x appears twice in method 'default', "
        "sample 0 (first at row 2 (header = row 1)); each sample of a method must list an id "
        "once")


def test_an_id_missing_from_one_sample_is_named(tmp_path):
    path = tmp_path / "missing.csv"
    path.write_text(MIXED_HEADER + "ens,2,b,1,0.5,0.5\nens,0,c,0,0.5,0.5\nens,1,a,0,0.5,0.5\n"
                    "ens,0,a,0,0.5,0.5\nens,2,a,0,0.5,0.5\nens,0,b,1,0.5,0.5\n"
                    "ens,1,b,1,0.5,0.5\nens,1,c,0,0.5,0.5\nens,2,d,0,0.5,0.5\n")
    assert read_error(path) == (
        "missing.csv: row 3 (header = row 1), column id: id c of method 'ens' is in sample 0 but "
        "missing from sample 2; every sample of a method must list the same ids (in any order)")


def test_extra_ids_in_one_sample_are_named(tmp_path):
    path = tmp_path / "extra.csv"
    path.write_text(MIXED_HEADER + "soft,0,1,0,0.5,0.5\nens,1,5,0,0.5,0.5\nens,0,1,0,0.5,0.5\n"
                    "ens,1,1,0,0.5,0.5\nens,1,4,0,0.5,0.5\n")
    assert read_error(path) == (
        "extra.csv: row 3 (header = row 1), column id: id 5 of method 'ens' is in sample 1 but "
        "not in sample 0 (and 1 more ids); every sample of a method must list the same ids "
        "(in any order)")
    # sample 0 is the reference: when it lacks an id that the other samples have, that id is
    # named as extra in the first other sample
    path.write_text(MIXED_HEADER + "m,2,b,0,0.5,0.5\nm,1,b,0,0.5,0.5\nm,0,a,0,0.5,0.5\n"
                    "m,1,a,0,0.5,0.5\nm,2,a,0,0.5,0.5\n")
    assert read_error(path) == (
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
    assert expected in read_error(csv_path)
    assert read_error(parquet_path) == read_error(csv_path).replace("missing.csv",
                                                                      "missing.parquet")


def test_values_that_differ_between_samples_of_an_id_are_named_on_shuffled_rows(tmp_path):
    path = tmp_path / "differ.csv"
    path.write_text("id,sample,label,group,p_0,p_1\n"
                    "b,1,1,test,0.5,0.5\na,0,0,test,0.5,0.5\nb,0,1,ood:x,0.5,0.5\n"
                    "a,1,0,test,0.5,0.5\n")
    assert read_error(path) == (
        "differ.csv: row 2 (header = row 1), column group: group 'test' differs from group "
        "'ood:x' of the same example (id b) in sample 0 at row 4 (header = row 1)")
    path.write_text("id,method,label,p_0,p_1\n2,b,1,0.5,0.5\n1,a,0,0.5,0.5\n2,a,1,0.5,0.5\n"
                    "1,b,1,0.5,0.5\n")
    assert read_error(path) == (
        "differ.csv: row 5 (header = row 1), column label: id 1 has label 1 here but label 0 "
        "at row 3 (header = row 1); the same id must have the same label in every method")


def test_without_ids_samples_are_matched_by_position_and_the_message_says_so(tmp_path):
    path = tmp_path / "no_ids.csv"
    path.write_text("sample,label,p_0,p_1\n0,0,0.5,0.5\n0,1,0.5,0.5\n1,1,0.5,0.5\n"
                    "1,0,0.5,0.5\n")
    assert read_error(path) == (
        "no_ids.csv: row 4 (header = row 1), column label: label 1 differs from label 0 of the "
        "same example (position 1 of sample 0) in sample 0 at row 2 (header = row 1); without "
        "an 'id' column the samples are matched by position, so every sample must list the "
        "examples in the same order; add an 'id' column to give rows in any order")
    path.write_text("sample,label,p_0,p_1\n0,0,0.5,0.5\n0,1,0.5,0.5\n1,0,0.5,0.5\n")
    assert read_error(path) == (
        "no_ids.csv: method 'default': sample 1 has 1 row but sample 0 has 2 rows; every sample "
        "must cover the same examples; without an 'id' column the samples are matched by "
        "position, so every sample must list the examples in the same order; add an 'id' "
        "column to give rows in any order")
    # the same rows with an id column are fine in any order
    path.write_text("id,sample,label,p_0,p_1\n1,1,1,0.2,0.8\n0,0,0,0.5,0.5\n1,0,1,0.5,0.5\n"
                    "0,1,0,0.1,0.9\n")
    p = read_predictions(path).by_method["default"]
    np.testing.assert_allclose(p.probs[:, :, 0], [[0.5, 0.5], [0.1, 0.2]])
