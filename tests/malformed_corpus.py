"""A corpus of malformed predictions files, shared by the reader, command-line and app tests.

``write_malformed_corpus(directory)`` writes the files and returns ``[(path, expected)]``: reading
``path`` with ``uqviz.exchange.read_predictions`` (default options) must raise
``PredictionsFileError`` whose one-line message contains ``expected``. Rows are counted as in a
spreadsheet: the header is row 1. The command line and the app show the same messages.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HEADER = "label,p_0,p_1,p_2"
GOOD_ROW = "0,0.7,0.2,0.1"

# name -> (CSV text, expected substring of the error message)
CSV_CASES: dict[str, tuple[str, str]] = {
    "empty.csv": ("", "empty file (0 bytes)"),
    "header_only.csv": (f"{HEADER}\n", "no data rows (only a header)"),
    "no_label.csv": ("p_0,p_1\n0.5,0.5\n", "no 'label' column"),
    "no_class_columns.csv": ("label,score\n0,0.5\n", "no probability columns p_0"),
    "probs_and_logits.csv": (
        "label,p_0,p_1,logit_0,logit_1\n0,0.5,0.5,1.0,-1.0\n",
        "has both probability columns (p_0 …) and logit columns",
    ),
    "gap_in_class_columns.csv": (
        "label,p_0,p_1,p_3\n0,0.5,0.3,0.2\n",
        "found p_0, p_1, p_3, missing p_2",
    ),
    "duplicate_column.csv": (
        "label,p_0,p_1,p_1\n0,0.5,0.5,0.5\n",
        "column 'p_1' appears twice in the header",
    ),
    "semicolons.csv": ("label;p_0;p_1\n0;0.5;0.5\n", "separate columns with commas"),
    "non_numeric.csv": (
        f"{HEADER}\n{GOOD_ROW}\n1,0.1,abc,0.4\n",
        "row 3 (header = row 1), column p_1: non-numeric value 'abc'",
    ),
    "nan_value.csv": (
        f"{HEADER}\n{GOOD_ROW}\n{GOOD_ROW}\n1,nan,0.5,0.5\n",
        "row 4 (header = row 1), column p_0: value is empty or NaN, not a number",
    ),
    "empty_value.csv": (
        f"{HEADER}\n1,0.5,,0.5\n",
        "row 2 (header = row 1), column p_1: value is empty or NaN",
    ),
    "inf_value.csv": (
        f"{HEADER}\n{GOOD_ROW}\n1,0.5,inf,0.5\n",
        "row 3 (header = row 1), column p_1: value is inf, not a number",
    ),
    "probability_above_one.csv": (
        f"{HEADER}\n0,0.1,1.4,0.2\n",
        "row 2 (header = row 1), column p_1: probability 1.4 outside [0, 1]",
    ),
    "logits_in_p_columns.csv": (
        f"{HEADER}\n{GOOD_ROW}\n2,-1.5,0.3,2.2\n",
        "these look like logits, not probabilities: pass logits_to_probs=True",
    ),
    "rows_not_summing_to_one.csv": (
        f"{HEADER}\n{GOOD_ROW}\n1,0.3,0.3,0.3\n",
        "row 3 (header = row 1), columns p_0…p_2: probabilities sum to 0.9, not 1",
    ),
    "fractional_label.csv": (
        f"{HEADER}\n1.5,0.7,0.2,0.1\n",
        "row 2 (header = row 1), column label: label 1.5 is not an integer",
    ),
    "label_out_of_range.csv": (
        f"{HEADER}\n{GOOD_ROW}\n7,0.7,0.2,0.1\n",
        "row 3 (header = row 1), column label: label 7 outside -1..2",
    ),
    "text_label.csv": (
        f"{HEADER}\ncat,0.7,0.2,0.1\n",
        "row 2 (header = row 1), column label: non-numeric value 'cat'",
    ),
    "ragged_long_line.csv": (
        f"{HEADER}\n{GOOD_ROW}\n1,0.7,0.2,0.1,0.0\n",
        "row 3 (header = row 1): 5 fields where the header has 4",
    ),
    "ragged_short_line.csv": (
        f"{HEADER}\n{GOOD_ROW}\n{GOOD_ROW}\n1,0.7,0.3\n",
        "row 4 (header = row 1): 3 fields where the header has 4",
    ),
    "sample_gap.csv": (
        "label,sample,p_0,p_1\n0,0,0.5,0.5\n0,2,0.5,0.5\n",
        "samples must be numbered 0..S-1 without gaps (missing 1)",
    ),
    "negative_sample.csv": (
        "label,sample,p_0,p_1\n0,-1,0.5,0.5\n",
        "row 2 (header = row 1), column sample: sample must be an integer >= 0, got -1",
    ),
    "sample_sizes_differ.csv": (
        "label,sample,p_0,p_1\n0,0,0.5,0.5\n1,0,0.5,0.5\n0,1,0.5,0.5\n",
        "sample 1 has 1 row but sample 0 has 2 rows; every sample must cover the same "
        "examples; without an 'id' column the samples are matched by position",
    ),
    # with an id column the rows may come in any order, but every sample must list the same ids
    "sample_lacks_an_id.csv": (
        "id,label,sample,p_0,p_1\n"
        "b,1,1,0.5,0.5\na,0,0,0.5,0.5\nb,1,0,0.5,0.5\n",
        "row 3 (header = row 1), column id: id a of method 'default' is in sample 0 but missing "
        "from sample 1; every sample of a method must list the same ids (in any order)",
    ),
    "sample_has_extra_ids.csv": (
        "method,id,label,sample,p_0,p_1\n"
        "ens,c,1,1,0.5,0.5\nens,a,0,0,0.5,0.5\nens,a,0,1,0.5,0.5\nens,b,1,1,0.5,0.5\n",
        "row 2 (header = row 1), column id: id c of method 'ens' is in sample 1 but not in "
        "sample 0 (and 1 more ids)",
    ),
    "id_twice_in_a_sample.csv": (
        "id,sample,label,p_0,p_1\n"
        "1,1,0,0.5,0.5\n2,0,1,0.5,0.5\n1,0,0,0.5,0.5\n2,1,1,0.5,0.5\n1,1,0,0.5,0.5\n",
        "row 6 (header = row 1), column id: id 1 appears twice in method 'default', sample 1 "
        "(first at row 2 (header = row 1))",
    ),
    "duplicate_id.csv": (
        "id,label,p_0,p_1\n7,0,0.5,0.5\n8,1,0.5,0.5\n7,1,0.5,0.5\n",
        "row 4 (header = row 1), column id: id 7 appears twice",
    ),
    "empty_id.csv": ("id,label,p_0,p_1\n7,0,0.5,0.5\n,1,0.5,0.5\n", "column id: empty id"),
    "bad_is_ood.csv": (
        "label,is_ood,p_0,p_1\n0,0,0.5,0.5\n-1,2,0.5,0.5\n",
        "row 3 (header = row 1), column is_ood: is_ood must be 0 or 1, got 2",
    ),
    "label_differs_across_methods.csv": (
        "id,method,label,p_0,p_1\n1,a,0,0.5,0.5\n2,a,1,0.5,0.5\n1,b,1,0.5,0.5\n2,b,1,0.5,0.5\n",
        "id 1 has label 1 here but label 0 at row 2 (header = row 1); the same id must have "
        "the same label in every method",
    ),
    "label_differs_across_samples.csv": (
        "label,sample,p_0,p_1\n0,0,0.5,0.5\n1,1,0.5,0.5\n",
        "row 3 (header = row 1), column label: label 1 differs from label 0",
    ),
    "class_counts_differ.csv": (
        "method,label,p_0,p_1,p_2\na,0,0.5,0.5,\nb,1,0.2,0.3,0.5\n",
        "class counts differ between methods",
    ),
    "empty_method.csv": (
        "method,label,p_0,p_1\na,0,0.5,0.5\n,1,0.5,0.5\n",
        "row 3 (header = row 1), column method: empty method name",
    ),
    "wrong_class_names.csv": (f"{HEADER}\n{GOOD_ROW}\n", "2 class names for 3 classes"),
    "unknown_extension.txt": (f"{HEADER}\n{GOOD_ROW}\n", "unknown file type '.txt'"),
}


def _write_binary_cases(directory: Path) -> list[tuple[Path, str]]:
    cases = []

    path = directory / "not_parquet.parquet"
    path.write_bytes(b"label,p_0,p_1\n0,0.5,0.5\n")
    cases.append((path, "not a valid Parquet file"))

    path = directory / "text_in_parquet.parquet"
    pq.write_table(pa.table({"label": [0, 1], "p_0": ["0.5", "high"], "p_1": [0.5, 0.5]}), path)
    cases.append((path, "row 3 (header = row 1), column p_0: non-numeric value 'high'"))

    path = directory / "parquet_out_of_range.parquet"
    pq.write_table(pa.table({"label": [0, 1], "p_0": [0.5, -0.2], "p_1": [0.5, 1.2]}), path)
    cases.append((path, "row 3 (header = row 1), column p_0: probability -0.2 outside [0, 1]"))

    path = directory / "not_npz.npz"
    path.write_bytes(b"this is not a zip archive")
    cases.append((path, "not a valid NPZ file"))

    path = directory / "npz_bad_shape.npz"
    np.savez(path, probs=np.full(4, 0.25), labels=np.zeros(4, dtype=np.int64))
    cases.append((path, "array 'probs' must be (N, C) or (S, N, C), got shape (4,)"))

    path = directory / "npz_missing_labels.npz"
    np.savez(path, probs=np.full((4, 2), 0.5))
    cases.append((path, "no 'labels' array (N,)"))

    path = directory / "npz_probability_above_one.npz"
    np.savez(path, probs=np.array([[0.5, 0.5], [1.5, -0.5]]), labels=np.array([0, 1]))
    cases.append((path, "probs[1, 0] (0-based): probability 1.5 outside [0, 1]"))

    path = directory / "npz_labels_length.npz"
    np.savez(path, probs=np.full((3, 2), 0.5), labels=np.array([0, 1]))
    cases.append((path, "array 'labels' has shape (2,) but 'probs' has 3 examples"))

    path = directory / "npz_object_group.npz"
    np.savez(path, probs=np.full((2, 2), 0.5), labels=np.array([0, 1]),
             group=np.array(["test", None], dtype=object))
    cases.append((path, "array 'group' holds Python objects"))

    path = directory / "npz_class_counts_differ.npz"
    np.savez(path, methods=np.array(["a", "b"]), probs_0=np.full((2, 2), 0.5),
             labels_0=np.array([0, 1]), probs_1=np.full((2, 4), 0.25), labels_1=np.array([0, 1]))
    cases.append((path, "class counts differ between methods ('a' has 2, 'b' has 4 classes)"))
    return cases


def write_malformed_corpus(directory: str | Path) -> list[tuple[Path, str]]:
    """Write the malformed files into ``directory``; return ``[(path, expected_substring)]``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cases = []
    for name, (text, expected) in CSV_CASES.items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        cases.append((path, expected))
    sidecar = directory / "wrong_class_names.csv.classes.json"
    sidecar.write_text(json.dumps(["cat", "dog"]), encoding="utf-8")
    return cases + _write_binary_cases(directory)
