"""Reading CSV and Parquet files into columns (``uqviz.exchange.tables``): rows located in large
files, text, ids and nullable columns, ignored columns."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tests.exchange.exchange_checks import read_error
from uqviz.exchange import read_predictions


def test_ragged_line_far_from_the_start_is_located(tmp_path):
    lines = ["label,p_0,p_1"] + ["0,0.5,0.5"] * 150_000 + ["1,0.5"] + ["0,0.5,0.5"] * 10
    path = tmp_path / "long.csv"
    path.write_text("\n".join(lines) + "\n")
    message = read_error(path)
    assert "row 150002 (header = row 1): 2 fields where the header has 3" in message


def test_non_numeric_value_in_a_late_block_is_located(tmp_path):
    rows = ["0,0.5,0.5"] * 120_000
    rows[100_000] = "0,0.5,oops"
    path = tmp_path / "late.csv"
    path.write_text("label,p_0,p_1\n" + "\n".join(rows) + "\n")
    assert "row 100002 (header = row 1), column p_1: non-numeric value 'oops'" in read_error(path)


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
