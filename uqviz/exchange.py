"""The predictions exchange format: read a user's predictions file, write ours.

Table files (CSV or Parquet) hold one row per example and stochastic sample:

* ``label``: the true class 0..C-1; ``-1`` or empty when unknown (required column).
* ``p_0 … p_{C-1}`` probabilities, or ``logit_0 … logit_{C-1}`` logits (turned into
  probabilities by a softmax).
* optional ``id`` (row identifier), ``sample`` (0..S-1, default 0), ``method`` (default
  ``default``), ``group`` (default ``test``), ``is_ood`` (0/1; by default true for groups
  starting with ``ood:``).

Each method × sample must list the same examples. With an ``id`` column the rows may come in any
order (samples interleaved, rows shuffled): the samples of a method are matched on ``id`` and the
examples come back in ascending ``id`` order (see ``read_predictions``); each sample must list
every id of the method exactly once. Without an ``id`` column the samples are matched by
position, so every sample must list the examples in the same order. Other columns are ignored
with a warning.

NPZ files hold ``probs`` (N, C) or (S, N, C) (or ``logits``), ``labels`` (N,) and optional
``group`` (N,) strings, ``is_ood`` (N,), ``ids`` (N,), ``method`` (a string) and ``class_names``
(C,). Several methods: ``methods`` (M,) names and ``probs_<i>``, ``labels_<i>``, ``group_<i>``,
``is_ood_<i>``, ``ids_<i>`` for the i-th method. Strings must be saved as unicode arrays (files
are read with ``allow_pickle=False``).

Class names come from the ``class_names`` argument, else a JSON sidecar ``<file>.classes.json``
(e.g. ``preds.csv.classes.json``; ``preds.classes.json`` is also accepted) holding a list of C
names, else the NPZ ``class_names`` array.

Every problem raises ``PredictionsFileError`` with one line that names the file, the place and
the problem. Rows are numbered as in a spreadsheet: the header is row 1, the first data row is
row 2 (the line number in the CSV file when there are no blank lines or line breaks inside
quoted values). NPZ places are 0-based array indices such as ``probs[0, 16, 3]``.

This module imports numpy, pandas and pyarrow only.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from uqviz.predictions import OOD_PREFIX, PROB_SUM_TOLERANCE, TEST_GROUP, Predictions

__all__ = [
    "CLASSES_SIDECAR_SUFFIX",
    "DEFAULT_METHOD",
    "FILE_SUFFIXES",
    "LoadedPredictions",
    "PredictionsFileError",
    "read_predictions",
    "read_predictions_bytes",
    "softmax",
    "write_predictions",
]

DEFAULT_METHOD = "default"
FILE_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".npz": "npz"}
CLASSES_SIDECAR_SUFFIX = ".classes.json"
PROB_PREFIX = "p_"
LOGIT_PREFIX = "logit_"
OPTIONAL_COLUMNS = ("id", "method", "sample", "group", "is_ood")
ROW_CONVENTION = "header = row 1"
LOGITS_HINT = (
    "these look like logits, not probabilities: pass logits_to_probs=True (--softmax on the "
    "command line, the 'Apply softmax' checkbox in the app) to apply a softmax"
)
DROP_HINT = "pass drop_invalid=True (--drop-invalid on the command line) to drop them"
NO_ID_HINT = (
    "without an 'id' column the samples are matched by position, so every sample must list the "
    "examples in the same order; add an 'id' column to give rows in any order"
)
SAME_IDS = "every sample of a method must list the same ids (in any order)"
_CLASS_COLUMN = re.compile(r"^(p_|logit_)(\d+)$")
_RAGGED = re.compile(r"Row #(\d+): Expected (\d+) columns, got (\d+)")
_NULL_TEXT = {"", "nan", "-nan", "na", "n/a", "null", "none", "<na>", "#n/a"}
_MAX_LISTED = 8
_INTEGER_TEXT = r"^-?[0-9]{1,18}$"  # text ids sorted as numbers (they fit in int64)
_COUNTING_FACTOR = 4  # counting sorts when the key space is at most this many times the rows
_MAX_KEY = 2**62  # (method, sample, id) fit in one int64 sort key below this; else a lexsort
_MAX_SORT_WORDS = 4  # text ids up to 32 bytes are sorted on their bytes with np.lexsort


class PredictionsFileError(ValueError):
    """A predictions file that cannot be used; the message is one line: file, place, problem."""


@dataclass(frozen=True, eq=False)
class LoadedPredictions:
    """What ``read_predictions`` found in a file.

    Attributes:
        by_method: one ``Predictions`` per method, in order of first appearance; the key is
            ``default`` when the file has no method column.
        warnings: one line per thing the reader changed or ignored (dropped rows, ignored
            columns, filled values); empty when the file was used as it is.
        source: the file name.
        num_rows: data rows in the file (table files: rows below the header, before any were
            dropped; NPZ: S × N summed over methods).
    """

    by_method: dict[str, Predictions]
    warnings: tuple[str, ...]
    source: str
    num_rows: int

    @property
    def methods(self) -> list[str]:
        return list(self.by_method)


# -- messages ----------------------------------------------------------------------------------
def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _error(source: str, problem: str, where: str | None = None) -> PredictionsFileError:
    text = f"{source}: {where}: {problem}" if where else f"{source}: {problem}"
    return PredictionsFileError(_one_line(text))


def _row(row_number: int) -> str:
    return f"row {int(row_number)} ({ROW_CONVENTION})"


def _cell(row_number: int, column: str) -> str:
    return f"{_row(row_number)}, column {column}"


def _listing(values, limit: int = _MAX_LISTED) -> str:
    values = [str(v) for v in values]
    shown = ", ".join(values[:limit])
    return shown + (f", … ({len(values) - limit} more)" if len(values) > limit else "")


def _more(count: int, noun: str = "rows") -> str:
    return f" (and {count - 1} more {noun})" if count > 1 else ""


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.6g}"


# -- softmax -----------------------------------------------------------------------------------
def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax in float64: ``exp(x - max) / sum(exp(x - max))``."""
    x = np.asarray(logits, dtype=np.float64)
    x = x - x.max(axis=axis, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(axis=axis, keepdims=True)
    return x


# -- sources -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Source:
    name: str
    path: Path | None
    data: bytes | None

    def open(self):
        return io.BytesIO(self.data) if self.data is not None else str(self.path)

    def size(self) -> int:
        return len(self.data) if self.data is not None else self.path.stat().st_size

    def head(self, n: int) -> bytes:
        if self.data is not None:
            return self.data[:n]
        with open(self.path, "rb") as f:
            return f.read(n)


def _file_kind(name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix not in FILE_SUFFIXES:
        raise _error(
            Path(name).name,
            f"unknown file type {suffix or '(no extension)'!r}; expected "
            f"{', '.join(FILE_SUFFIXES)}",
        )
    return FILE_SUFFIXES[suffix]


# -- public readers ----------------------------------------------------------------------------
def read_predictions(
    path: str | os.PathLike,
    *,
    drop_invalid: bool = False,
    logits_to_probs: bool = False,
    class_names: list[str] | tuple[str, ...] | None = None,
) -> LoadedPredictions:
    """Read and validate a predictions file (CSV, Parquet or NPZ; see the module docstring).

    Row order of table files (CSV, Parquet): with an ``id`` column the rows may come in any
    order. The samples of each method are aligned on ``id`` and every method's examples come
    back in one canonical order, ascending ``id``, that depends only on the ids, so:

    * every permutation of a file's rows gives the same ``Predictions`` (probs, labels, group,
      is_ood, ids, row for row);
    * methods that have the same ids line up row by row;
    * a file already sorted by id reads as before.

    Ascending ``id`` means: when every id is a plain integer (the column then gives int64
    ids), numeric order. Otherwise the ids are text: those that are plain integers of up to 18
    digits (such as ``"7"`` next to ``"x7"``, or the ids the writer gives a method without ids
    when another method has text ids) come first, in numeric order (ties such as ``"007"`` and
    ``"7"`` by text), then the other ids in code-point (UTF-8 byte) order, so ``"img10"`` comes
    before ``"img9"``. Group, label and the position in the file play no part, so the order is
    stable for ints and strings alike. (Sorting by id rather than, say, by group then id keeps
    the order of files that are sorted by id already, as written by ``write_predictions`` for
    ids 0..N-1, whatever their groups.)

    Without an ``id`` column the examples keep the order of sample 0 and every sample must list
    them in that order (they are matched by position). NPZ files keep the order of their arrays.
    The methods of ``by_method`` keep their order of first appearance in the file (the one thing
    that the row order still decides).

    Args:
        path: the file; its suffix (.csv, .parquet/.pq, .npz) picks the format.
        drop_invalid: drop examples with NaN, inf or empty probabilities (every sample of them)
            and count them in ``warnings``, instead of failing.
        logits_to_probs: the ``p_`` columns (or NPZ ``probs``) hold logits: apply a softmax.
            ``logit_`` columns and NPZ ``logits`` always get one.
        class_names: C class names; overrides a ``<file>.classes.json`` sidecar.

    Returns:
        ``LoadedPredictions`` with one ``Predictions`` per method.

    Raises:
        PredictionsFileError: the file is missing, unreadable or malformed; the one-line message
            names the file, the row (header = row 1) or array index, the column and the problem.
            With ids: an id listed twice in one sample of a method, or an id that sample 0 of a
            method has and another sample lacks (or the other way round).
    """
    path = Path(path)
    name = path.name
    if not path.exists():
        raise _error(name, f"file not found ({path})")
    if path.is_dir():
        raise _error(name, f"is a folder, not a file ({path})")
    kind = _file_kind(name)
    try:
        with open(path, "rb"):
            pass
    except OSError as err:
        raise _error(name, f"cannot read the file: {err.strerror or err}") from err
    sidecar = _sidecar_names(path, name) if class_names is None else None
    return _read(_Source(name, path, None), kind, drop_invalid, logits_to_probs,
                 class_names, sidecar)


def read_predictions_bytes(
    data: bytes,
    filename: str,
    *,
    drop_invalid: bool = False,
    logits_to_probs: bool = False,
    class_names: list[str] | tuple[str, ...] | None = None,
) -> LoadedPredictions:
    """``read_predictions`` for an in-memory file (an upload); ``filename`` picks the format.

    There is no sidecar next to an upload: pass ``class_names`` instead.
    """
    name = Path(str(filename)).name or "upload"
    kind = _file_kind(name)
    source = _Source(name, None, bytes(data))
    return _read(source, kind, drop_invalid, logits_to_probs, class_names, None)


def _read(source, kind, drop_invalid, logits_to_probs, class_names, sidecar) -> LoadedPredictions:
    try:
        size = source.size()
    except OSError as err:
        raise _error(source.name, f"cannot read the file: {err.strerror or err}") from err
    if size == 0:
        raise _error(source.name, "empty file (0 bytes)")
    if kind == "npz":
        methods, warnings, num_rows, embedded = _read_npz(source, drop_invalid, logits_to_probs)
    else:
        table = _read_csv(source) if kind == "csv" else _read_parquet(source)
        methods, warnings, num_rows = _assemble(table, drop_invalid, logits_to_probs)
        embedded = None
    num_classes = next(iter(methods.values()))["probs"].shape[2]
    names = _resolve_class_names(source.name, class_names, sidecar, embedded, num_classes)
    by_method = {}
    for method, parts in methods.items():
        by_method[method] = Predictions(**parts, method=method, class_names=names)
    return LoadedPredictions(by_method, tuple(warnings), source.name, int(num_rows))


# -- class names -------------------------------------------------------------------------------
def _sidecar_paths(path: Path) -> list[Path]:
    return [path.with_name(path.name + CLASSES_SIDECAR_SUFFIX),
            path.with_suffix(CLASSES_SIDECAR_SUFFIX)]


def _sidecar_names(path: Path, name: str) -> tuple[str, list] | None:
    for candidate in _sidecar_paths(path):
        if candidate.is_file():
            try:
                names = json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
                raise _error(candidate.name,
                             f"not a readable JSON list of class names ({err})") from err
            if not isinstance(names, list) or not all(
                isinstance(x, str | int) and not isinstance(x, bool) for x in names
            ):
                raise _error(candidate.name, f"must hold a JSON list of class names, got "
                             f"{type(names).__name__}")
            return candidate.name, names
    return None


def _resolve_class_names(source, argument, sidecar, embedded, num_classes):
    if argument is not None:
        where, names = "class_names argument", list(argument)
    elif sidecar is not None:
        where, names = sidecar
    elif embedded is not None:
        where, names = f"{source}: array class_names", list(embedded)
    else:
        return None
    if len(names) != num_classes:
        raise PredictionsFileError(_one_line(
            f"{where}: {len(names)} class names for {num_classes} classes in {source}"))
    return tuple(str(x) for x in names)


# -- table files -------------------------------------------------------------------------------
@dataclass
class _Table:
    """Columns of a CSV/Parquet file, as arrays over its R data rows."""

    source: str
    num_rows: int
    prefix: str
    class_columns: list[str]
    values: np.ndarray  # (R, C) float64, NaN where empty
    label: np.ndarray  # (R,) float64, NaN where empty
    method: tuple[np.ndarray, list[str]] | None
    sample: np.ndarray | None  # float64
    ids: np.ndarray | None  # (K,) the distinct ids in the canonical order (int64 or str)
    id_rank: np.ndarray | None  # (R,) int64 rank of each row's id: its id is ids[id_rank]
    group: tuple[np.ndarray, list[str]] | None
    is_ood: np.ndarray | None  # float64
    warnings: list[str]


def _class_columns(source: str, names: list[str]) -> tuple[str, list[str]]:
    """The class columns of a header: prefix and names ordered p_0..p_{C-1}."""
    found: dict[str, dict[int, str]] = {PROB_PREFIX: {}, LOGIT_PREFIX: {}}
    for name in names:
        match = _CLASS_COLUMN.match(name)
        if match:
            found[match.group(1)].setdefault(int(match.group(2)), name)
            if found[match.group(1)][int(match.group(2))] != name:
                raise _error(source, f"columns {found[match.group(1)][int(match.group(2))]} "
                             f"and {name} name the same class")
    probs, logits = found[PROB_PREFIX], found[LOGIT_PREFIX]
    if probs and logits:
        raise _error(source, "has both probability columns (p_0 …) and logit columns "
                     "(logit_0 …); give one or the other")
    if not probs and not logits:
        hint = ""
        if len(names) == 1 and any(sep in names[0] for sep in ";\t|"):
            hint = "; the header has one column: separate columns with commas"
        raise _error(source, f"no probability columns p_0 … p_{{C-1}} or logit columns "
                     f"logit_0 … logit_{{C-1}} (columns: {_listing(names)}){hint}")
    prefix, columns = (PROB_PREFIX, probs) if probs else (LOGIT_PREFIX, logits)
    num_classes = max(columns) + 1
    missing = [f"{prefix}{k}" for k in range(num_classes) if k not in columns]
    if missing:
        raise _error(source, f"class columns must be numbered {prefix}0 … {prefix}{{C-1}} "
                     f"without gaps: found {_listing(columns[k] for k in sorted(columns))}, "
                     f"missing {_listing(missing)}")
    if num_classes < 2:
        raise _error(source, f"needs at least 2 class columns, found only {columns[0]}")
    return prefix, [columns[k] for k in range(num_classes)]


def _plan_columns(source: str, names: list[str]):
    """Check a header: (prefix, class columns, optional columns present, warnings)."""
    stripped = [n.strip() for n in names]
    seen = set()
    for name in stripped:
        if name in seen:
            raise _error(source, f"column {name!r} appears twice in the header")
        seen.add(name)
    if not any(n for n in stripped):
        raise _error(source, "the header row is empty")
    prefix, class_columns = _class_columns(source, stripped)
    if "label" not in seen:
        hint = ""
        near = [n for n in stripped if n.lower() in ("label", "labels", "target", "y", "class")]
        if near:
            hint = f"; rename {near[0]!r} to 'label'"
        raise _error(source, f"no 'label' column (-1 or empty when unknown){hint}; columns: "
                     f"{_listing(stripped)}")
    optional = [n for n in OPTIONAL_COLUMNS if n in seen]
    used = set(class_columns) | set(optional) | {"label"}
    ignored = [n for n in stripped if n not in used]
    warnings = [f"ignored columns: {_listing(ignored)}"] if ignored else []
    return prefix, class_columns, optional, warnings


def _csv_header(source: _Source) -> list[str]:
    text = source.head(1 << 20).decode("utf-8-sig", errors="replace")
    for row in csv.reader(io.StringIO(text)):
        if any(cell.strip() for cell in row):
            return row
    raise _error(source.name, "empty file (no header row)")


def _read_csv(source: _Source) -> _Table:
    raw_names = _csv_header(source)
    prefix, class_columns, optional, warnings = _plan_columns(source.name, raw_names)
    raw = {n.strip(): n for n in raw_names}
    numeric = [*class_columns, "label", *(n for n in ("sample", "is_ood") if n in optional)]
    text = [n for n in ("id", "method", "group") if n in optional]
    wanted = [raw[n] for n in numeric + text]
    types = {raw[n]: pa.float64() for n in numeric} | {raw[n]: pa.string() for n in text}
    try:
        table = _csv_table(source, wanted, types, use_threads=True)
    except pa.ArrowInvalid as err:
        _explain_csv_error(source, wanted, str(err))
        hint = "; save the file as UTF-8" if "UTF8" in str(err) else ""
        raise _error(source.name, f"cannot read as CSV: {err}{hint}") from err
    table = table.rename_columns([n.strip() for n in table.column_names])
    return _table_from_arrow(source.name, table, prefix, class_columns, optional, warnings)


def _csv_table(source, wanted, types, *, use_threads):
    return pa_csv.read_csv(
        source.open(),
        read_options=pa_csv.ReadOptions(use_threads=use_threads),
        convert_options=pa_csv.ConvertOptions(
            include_columns=wanted, column_types=types, strings_can_be_null=True
        ),
    )


def _explain_csv_error(source: _Source, wanted: list[str], message: str) -> None:
    """Turn pyarrow's CSV error into one that names the row; returns when it cannot."""
    if "Expected" in message and "columns" in message:
        match = _RAGGED.search(message)
        if match is None:  # the threaded reader does not know row numbers: ask the serial one
            try:
                _csv_table(source, wanted, {n: pa.string() for n in wanted}, use_threads=False)
            except pa.ArrowInvalid as err:
                match = _RAGGED.search(str(err))
        if match is not None:
            row, expected, got = (int(g) for g in match.groups())
            raise _error(source.name, f"{got} fields where the header has {expected} (a ragged "
                         f"line: check for stray or missing commas)", _row(row))
        return
    # A value that is not a number: read the columns as text and find the first one.
    try:
        table = _csv_table(source, wanted, {n: pa.string() for n in wanted}, use_threads=True)
    except pa.ArrowInvalid:
        return
    for name in table.column_names:
        if name.strip() in ("id", "method", "group"):
            continue
        _parse_numbers(source.name, name.strip(), table.column(name))


def _read_parquet(source: _Source) -> _Table:
    try:
        parquet = pq.ParquetFile(source.open())
        names = parquet.schema_arrow.names
    except (pa.ArrowException, OSError, ValueError) as err:
        raise _error(source.name, f"not a valid Parquet file ({err})") from err
    prefix, class_columns, optional, warnings = _plan_columns(source.name, names)
    raw = {n.strip(): n for n in names}
    try:
        table = parquet.read(columns=[raw[n] for n in [*class_columns, "label", *optional]])
    except (pa.ArrowException, OSError, ValueError) as err:
        raise _error(source.name, f"cannot read the Parquet data ({err})") from err
    table = table.rename_columns([n.strip() for n in table.column_names])
    return _table_from_arrow(source.name, table, prefix, class_columns, optional, warnings)


def _parse_numbers(source: str, column: str, values: pa.ChunkedArray) -> np.ndarray:
    """(R,) float64 from an Arrow column of numbers, booleans or numeric text; NaN where empty."""
    kind = values.type
    if pa.types.is_dictionary(kind):
        values = values.cast(kind.value_type)
        kind = values.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        try:
            values = pc.cast(pc.utf8_trim_whitespace(values), pa.float64())
        except pa.ArrowInvalid:
            text = pd.Series(values.to_numpy(zero_copy_only=False), dtype=object)
            numbers = pd.to_numeric(text, errors="coerce")
            blank = text.isna() | text.astype(str).str.strip().str.lower().isin(_NULL_TEXT)
            bad = np.flatnonzero(numbers.isna().to_numpy() & ~blank.to_numpy())
            if bad.size:
                raise _error(source, f"non-numeric value {str(text.iloc[bad[0]])!r}"
                             f"{_more(bad.size)}", _cell(bad[0] + 2, column)) from None
            values = pa.chunked_array([pa.array(numbers.to_numpy(dtype=np.float64))])
    elif not (pa.types.is_integer(kind) or pa.types.is_floating(kind)
              or pa.types.is_boolean(kind) or pa.types.is_null(kind)
              or pa.types.is_decimal(kind)):
        raise _error(source, f"column {column} holds {kind} values; expected numbers")
    values = pc.cast(values, pa.float64())
    return np.asarray(values.to_numpy(), dtype=np.float64)


def _codes(source: str, column: str, values: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """Dictionary codes (R,) int64 (-1 where empty) and the distinct strings, first seen first."""
    if pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        try:
            values = pc.cast(values, pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
            raise _error(source, f"column {column} holds {values.type} values; expected text"
                         ) from err
    encoded = pc.dictionary_encode(values.combine_chunks())
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    codes = np.where(np.isnan(codes), -1, codes) if codes.dtype.kind == "f" else codes
    return codes.astype(np.int64), [str(x) for x in encoded.dictionary.to_pylist()]


def _id_values(source: str, values: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """The (K,) distinct ids in the canonical order, int64 when every id is a plain integer,
    else str (object), and the (R,) int64 rank of each row's id among them (see
    ``_int_ranks``, ``_text_ranks``)."""
    if values.null_count:
        first = int(np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False))[0])
        raise _error(source, f"empty id{_more(values.null_count)}", _cell(first + 2, "id"))
    kind = values.type
    if pa.types.is_dictionary(kind):
        values = values.cast(kind.value_type)
        kind = values.type
    if pa.types.is_integer(kind):
        return _int_ranks(values.to_numpy().astype(np.int64))
    text = values if pa.types.is_string(kind) else pc.cast(values, pa.string())
    text = text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
    # a failing cast scans every value: try it only when every id looks like an integer
    if pc.all(pc.match_substring_regex(text, r"^-?[0-9]+$")).as_py():
        try:
            as_int = pc.cast(text, pa.int64())
            if pc.all(pc.equal(pc.cast(as_int, pa.string()), text)).as_py():
                return _int_ranks(as_int.to_numpy().astype(np.int64))
        except pa.ArrowInvalid:
            pass
    return _text_ranks(text)


def _table_from_arrow(source, table, prefix, class_columns, optional, warnings) -> _Table:
    num_rows = table.num_rows
    if num_rows == 0:
        raise _error(source, "no data rows (only a header)")
    values = np.empty((num_rows, len(class_columns)), dtype=np.float64)
    for j, name in enumerate(class_columns):
        values[:, j] = _parse_numbers(source, name, table.column(name))
    has = set(optional)
    ids, id_rank = _id_values(source, table.column("id")) if "id" in has else (None, None)
    return _Table(
        source=source,
        num_rows=num_rows,
        prefix=prefix,
        class_columns=class_columns,
        values=values,
        label=_parse_numbers(source, "label", table.column("label")),
        method=_codes(source, "method", table.column("method")) if "method" in has else None,
        sample=_parse_numbers(source, "sample", table.column("sample")) if "sample" in has
        else None,
        ids=ids,
        id_rank=id_rank,
        group=_codes(source, "group", table.column("group")) if "group" in has else None,
        is_ood=_parse_numbers(source, "is_ood", table.column("is_ood")) if "is_ood" in has
        else None,
        warnings=list(warnings),
    )


# -- checks shared by table and NPZ files ------------------------------------------------------
def _first(mask: np.ndarray) -> int:
    return int(np.argmax(mask))


def _check_probability_rows(
    source: str,
    values: np.ndarray,
    where_cell: Callable[[int, int], str],
    where_row: Callable[[int], str],
) -> None:
    """Probabilities in [0, 1] whose rows sum to 1 within ``PROB_SUM_TOLERANCE``."""
    outside = (values < 0) | (values > 1)
    bad_rows = outside.any(axis=1)
    sums = values.sum(axis=1)
    off = np.abs(sums - 1.0) > PROB_SUM_TOLERANCE
    looks_like_logits = bool(bad_rows.any() or (np.abs(sums - 1.0) > 0.1).any())
    hint = f"; {LOGITS_HINT}" if looks_like_logits else ""
    if bad_rows.any():
        r = _first(bad_rows)
        c = _first(outside[r])
        raise _error(source, f"probability {_number(values[r, c])} outside [0, 1]"
                     f"{_more(int(bad_rows.sum()))}{hint}", where_cell(r, c))
    if off.any():
        r = _first(off)
        if not hint:
            hint = ("; round-off? write probabilities with more decimals or divide each row by "
                    "its sum")
        raise _error(source, f"probabilities sum to {sums[r]:.6g}, not 1 (tolerance "
                     f"{PROB_SUM_TOLERANCE:g}){_more(int(off.sum()))}{hint}", where_row(r))


def _check_labels(source, labels, num_classes, where) -> np.ndarray:
    """(R,) float64 labels, NaN = unknown -> int64 with -1; integers in -1..C-1."""
    labels = np.where(np.isnan(labels), -1.0, labels)
    if np.isinf(labels).any():
        r = _first(np.isinf(labels))
        raise _error(source, f"label {_number(labels[r])} is not a class index", where(r))
    fractional = labels != np.round(labels)
    if fractional.any():
        r = _first(fractional)
        raise _error(source, f"label {_number(labels[r])} is not an integer (labels are class "
                     f"indices 0..{num_classes - 1}, -1 or empty when unknown)"
                     f"{_more(int(fractional.sum()))}", where(r))
    outside = (labels < -1) | (labels > num_classes - 1)
    if outside.any():
        r = _first(outside)
        hint = ""
        known = labels[labels >= 0]
        if known.size and known.min() >= 1 and known.max() == num_classes:
            hint = "; the labels look 1-based: subtract 1"
        raise _error(source, f"label {labels[r]:.0f} outside -1..{num_classes - 1} "
                     f"({num_classes} classes){_more(int(outside.sum()))}{hint}", where(r))
    return labels.astype(np.int64)


def _check_flags(source, values, where) -> np.ndarray:
    """(R,) float64 is_ood -> bool; each must be 0 or 1."""
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        r = _first(bad)
        shown = "empty" if np.isnan(values[r]) else _number(values[r])
        raise _error(source, f"is_ood must be 0 or 1, got {shown}{_more(int(bad.sum()))}",
                     where(r))
    return values == 1.0


def _ood_from_groups(group_names: list[str]) -> np.ndarray:
    return np.array([g.startswith(OOD_PREFIX) for g in group_names], dtype=bool)


# -- assembling table rows into Predictions ----------------------------------------------------
def _integers(source, values, column, rows, *, minimum=0) -> np.ndarray:
    bad = np.isnan(values) | (values != np.round(values)) | (values < minimum)
    if bad.any():
        r = _first(bad)
        shown = "empty" if np.isnan(values[r]) else _number(values[r])
        raise _error(source, f"{column} must be an integer >= {minimum}, got {shown}"
                     f"{_more(int(bad.sum()))}", _cell(rows[r], column))
    return values.astype(np.int64)


def _int_ranks(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer ids: (K,) the distinct ids ascending, (R,) the rank of each row's id among them.

    Only the ids decide, not the rows' order in the file.
    """
    low, high = int(ids.min()), int(ids.max())
    if high - low <= _COUNTING_FACTOR * ids.size:  # compact integers: no hashing, no sort
        present = np.zeros(high - low + 1, dtype=bool)
        offset = ids - low
        present[offset] = True
        distinct = np.flatnonzero(present).astype(np.int64) + low
        return distinct, (np.cumsum(present, dtype=np.int64) - 1)[offset]
    codes, uniques = pd.factorize(ids)
    uniques = np.asarray(uniques, dtype=np.int64)
    perm = np.argsort(uniques, kind="stable")
    return uniques[perm], _ranks_from(codes, perm)


def _text_ranks(text: pa.StringArray) -> tuple[np.ndarray, np.ndarray]:
    """Text ids: (K,) the distinct ids (str objects) in the canonical text order (see
    ``_text_order``), (R,) the rank of each row's id among them."""
    encoded = pc.dictionary_encode(text)
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    perm = _text_order(encoded.dictionary)
    distinct = encoded.dictionary.take(pa.array(perm)).to_numpy(zero_copy_only=False)
    return np.asarray(distinct, dtype=object), _ranks_from(codes, perm)


def _ranks_from(codes: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Per row, the rank of its code when the distinct values are sorted by ``perm``."""
    rank = np.empty(perm.size, dtype=np.int64)
    rank[perm] = np.arange(perm.size, dtype=np.int64)
    return rank[codes]


def _text_order(text: pa.StringArray) -> np.ndarray:
    """Indices that sort distinct text ids: plain integers first (numerically, then by text),
    then the others in code-point (UTF-8 byte) order.

    Short texts (up to ``_MAX_SORT_WORDS`` 8-byte words) are sorted with ``np.lexsort`` on
    their bytes read as big-endian integers, which is faster than a comparison sort on shuffled
    input; longer ones by Arrow's sort.
    """
    integer = pc.match_substring_regex(text, _INTEGER_TEXT)
    numbers = pc.any(integer).as_py()
    words = _sort_words(text)
    if words is None:
        keys = [("text", "ascending")]
        columns = {"text": text}
        if numbers:
            keys = [("other", "ascending"), ("number", "ascending"), *keys]
            columns |= {"other": pc.invert(integer),
                        "number": pc.cast(pc.if_else(integer, text, "0"), pa.int64())}
        return pc.sort_indices(pa.table(columns), sort_keys=keys).to_numpy().astype(np.int64)
    keys = list(words)  # least significant first, as np.lexsort wants
    if numbers:
        keys += [pc.cast(pc.if_else(integer, text, "0"), pa.int64()).to_numpy(),
                 ~integer.to_numpy(zero_copy_only=False)]
    return np.lexsort(keys).astype(np.int64)


def _sort_words(text: pa.StringArray) -> list[np.ndarray] | None:
    """Sort keys for ``np.lexsort`` (least significant first) that order texts by their UTF-8
    bytes: each text's bytes, zero-padded, as big-endian uint64 words, then its length when a
    text holds a NUL byte (so that "a" comes before "a\0"). None when a text is longer than
    ``_MAX_SORT_WORDS`` words."""
    count = len(text)
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)[text.offset:text.offset + count + 1]
    lengths = np.diff(offsets)
    longest = int(lengths.max()) if count else 0
    if longest > 8 * _MAX_SORT_WORDS:
        return None
    width = 8 * max(1, -(-longest // 8))
    start, stop = int(offsets[0]), int(offsets[-1])
    data = (np.frombuffer(text.buffers()[2], dtype=np.uint8)[start:stop] if stop > start
            else np.zeros(0, dtype=np.uint8))
    padded = np.zeros(count * width, dtype=np.uint8)
    to = np.repeat(np.arange(count, dtype=np.int64) * width - (offsets[:-1] - start), lengths)
    padded[to + np.arange(stop - start)] = data
    words = padded.view(">u8").reshape(count, width // 8).astype(np.uint64)
    keys = [words[:, j] for j in range(words.shape[1] - 1, -1, -1)]
    return ([lengths.astype(np.int64)] + keys) if (data == 0).any() else keys


def _grouping(method_codes: np.ndarray, sample: np.ndarray, id_rank: np.ndarray | None = None):
    """Rows sorted by (method, sample) block: (order, block key of each sorted row, stride).

    The block key is ``method * stride + sample``. Within a block the rows are sorted by id rank
    when ``id_rank`` is given, else kept in file order. ``order`` is None when the rows are
    already in that order.
    """
    stride = int(sample.max()) + 1
    block = method_codes * stride + sample
    key, space = block, None
    if id_rank is not None:
        width = int(id_rank.max()) + 1
        space = (int(block.max()) + 1) * width
        key = block * width + id_rank if space < _MAX_KEY else None
    if key is not None and (key.size < 2 or bool((key[1:] >= key[:-1]).all())):
        return None, block, stride
    if key is None:
        order = np.lexsort((id_rank, block))
    elif space is not None and space <= _COUNTING_FACTOR * key.size:
        order = _counting_order(key, space)
    else:
        order = np.argsort(key, kind="stable")
    return order, block[order], stride


def _counting_order(key: np.ndarray, space: int) -> np.ndarray:
    """The stable sorting order of int keys in 0..space-1 in O(R + space) when no key repeats
    (each (method, sample, id) once, the usual case); else a stable argsort."""
    counts = np.bincount(key, minlength=space)
    if counts.max(initial=0) > 1:
        return np.argsort(key, kind="stable")
    slot = np.cumsum(counts) - 1
    order = np.empty(key.size, dtype=np.int64)
    order[slot[key]] = np.arange(key.size, dtype=np.int64)
    return order


def _block_bounds(sorted_block: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts, ends, block keys) of the runs of equal keys in a sorted block-key array."""
    starts = np.flatnonzero(np.r_[True, sorted_block[1:] != sorted_block[:-1]])
    return starts, np.r_[starts[1:], sorted_block.size], sorted_block[starts]


def _positions(order: np.ndarray | None, sorted_block: np.ndarray) -> np.ndarray:
    """Position of each row within its (method, sample) block."""
    starts, ends, _ = _block_bounds(sorted_block)
    pos_sorted = np.arange(sorted_block.size) - np.repeat(starts, ends - starts)
    if order is None:
        return pos_sorted
    pos = np.empty_like(pos_sorted)
    pos[order] = pos_sorted
    return pos


def _earliest(mask: np.ndarray, rows: np.ndarray) -> int:
    """The index where ``mask`` is true whose row number (``rows``) comes first in the file."""
    candidates = np.flatnonzero(mask)
    return int(candidates[np.argmin(rows[candidates])])


def _check_class_counts(t: _Table, method_codes, method_names) -> None:
    if len(method_names) < 2:
        return
    counts = []
    for m in range(len(method_names)):
        present = ~np.isnan(t.values[method_codes == m]).all(axis=0)
        counts.append(int(np.flatnonzero(present)[-1]) + 1 if present.any() else 0)
    if len(set(counts)) > 1:
        shown = ", ".join(f"{name!r} has {c}" for name, c in zip(method_names, counts,
                                                                    strict=True))
        raise _error(t.source, f"class counts differ between methods ({shown} classes with "
                     f"values in {t.prefix} columns); every method needs the same classes")


def _drop_non_finite(t: _Table, rows, method_codes, sample, id_rank, drop_invalid):
    """Rows to keep (bool (R,)) and the warnings; raises when not dropping."""
    finite = np.isfinite(t.values)
    bad = ~finite.all(axis=1)
    if not bad.any():
        return None, []
    r = _first(bad)
    c = _first(~finite[r])
    shown = "empty or NaN" if np.isnan(t.values[r, c]) else _number(t.values[r, c])
    n_bad = int(bad.sum())
    if not drop_invalid:
        raise _error(t.source, f"value is {shown}, not a number; {n_bad} row(s) have NaN, inf "
                     f"or empty values in {t.prefix} columns; {DROP_HINT}",
                     _cell(rows[r], t.class_columns[c]))
    if id_rank is not None:
        example = id_rank
    else:
        order, sorted_block, _ = _grouping(method_codes, sample)
        example = _positions(order, sorted_block)
    key = method_codes * (int(example.max()) + 1) + example
    drop = np.isin(key, np.unique(key[bad]))
    n_drop = int(drop.sum())
    message = (f"dropped {n_bad} row(s) with NaN, inf or empty values in {t.prefix} columns "
               f"(first at {_row(rows[r])})")
    if n_drop > n_bad:
        message += f" and {n_drop - n_bad} other sample row(s) of the same examples"
    return ~drop, [message]


def _assemble(t: _Table, drop_invalid: bool, logits_to_probs: bool):
    """Validate the rows of a table file and split them into per-method arrays.

    With ids the samples of each method are aligned on id, in ascending id order (whatever the
    order of the rows); without ids they are matched by position. The rows are put in order
    once (one gather per column); each (method, sample) block is then a slice.
    """
    num_rows, num_classes = t.values.shape
    rows = np.arange(2, num_rows + 2)
    warnings = list(t.warnings)
    if t.method is not None:
        method_codes, method_names = t.method
        if (method_codes < 0).any():
            r = _first(method_codes < 0)
            raise _error(t.source, f"empty method name{_more(int((method_codes < 0).sum()))}",
                         _cell(rows[r], "method"))
    else:
        method_codes, method_names = np.zeros(num_rows, dtype=np.int64), [DEFAULT_METHOD]
    sample = (np.zeros(num_rows, dtype=np.int64) if t.sample is None
              else _integers(t.source, t.sample, "sample", rows))
    _check_class_counts(t, method_codes, method_names)
    id_rank = t.id_rank

    keep, dropped = _drop_non_finite(t, rows, method_codes, sample, id_rank, drop_invalid)
    warnings += dropped
    values, label, ids, is_ood_raw = t.values, t.label, t.ids, t.is_ood
    group_codes, group_names = t.group if t.group is not None else (
        np.zeros(num_rows, dtype=np.int64), [TEST_GROUP])
    if keep is not None:
        if not keep.any():
            raise _error(t.source, "no rows left after dropping rows with NaN, inf or empty "
                         "values")
        rows, values, label, method_codes, sample, group_codes = (
            a[keep] for a in (rows, values, label, method_codes, sample, group_codes))
        id_rank = None if id_rank is None else id_rank[keep]
        is_ood_raw = None if is_ood_raw is None else is_ood_raw[keep]

    labels = _check_labels(t.source, label, num_classes, lambda r: _cell(rows[r], "label"))
    if (group_codes < 0).any():
        n_empty = int((group_codes < 0).sum())
        warnings.append(f"{n_empty} row(s) with an empty group were put in group "
                        f"{TEST_GROUP!r} (first at {_row(rows[_first(group_codes < 0)])})")
        if TEST_GROUP not in group_names:
            group_names = [*group_names, TEST_GROUP]
        group_codes = np.where(group_codes < 0, group_names.index(TEST_GROUP), group_codes)
    if is_ood_raw is not None:
        is_ood = _check_flags(t.source, is_ood_raw, lambda r: _cell(rows[r], "is_ood"))
    else:
        is_ood = _ood_from_groups(group_names)[group_codes]

    if t.prefix == LOGIT_PREFIX or logits_to_probs:
        probs = softmax(values, axis=1)
        if t.prefix == PROB_PREFIX:
            warnings.append("applied a softmax to the p_ columns (logits_to_probs=True)")
    else:
        _check_probability_rows(
            t.source, values,
            lambda r, c: _cell(rows[r], t.class_columns[c]),
            lambda r: f"{_row(rows[r])}, columns {t.class_columns[0]}…{t.class_columns[-1]}",
        )
        probs = values

    order, sorted_block, stride = _grouping(method_codes, sample, id_rank)
    sorted_rank = None
    if id_rank is not None:
        sorted_rank = id_rank if order is None else np.take(id_rank, order)
        repeated = ((sorted_block[1:] == sorted_block[:-1])
                    & (sorted_rank[1:] == sorted_rank[:-1]))
        if repeated.any():
            raise _repeated_id(t.source, rows, ids, id_rank, method_names, method_codes, sample)
    probs = probs.astype(np.float32)
    columns = [rows, probs, labels, group_codes, is_ood]
    if order is not None:
        columns = [np.take(a, order, axis=0) for a in columns]
    rows, probs, labels, group_codes, is_ood = columns
    col = _Columns(t.source, rows, probs, labels, ids, sorted_rank, group_codes, is_ood)
    methods = {}
    starts, ends, keys = _block_bounds(sorted_block)
    for m, name in enumerate(method_names):
        blocks = {int(k % stride): slice(int(s), int(e))
                  for k, s, e in zip(keys, starts, ends, strict=True) if k // stride == m}
        if not blocks:
            warnings.append(f"method {name!r} has no rows left after dropping invalid rows")
            continue
        methods[name] = _method_arrays(col, name, blocks, group_names)
    _check_labels_across_methods(col, methods)
    return {name: parts for name, (parts, _) in methods.items()}, warnings, t.num_rows


@dataclass(frozen=True)
class _Columns:
    """The rows of a table file (after dropping), sorted by (method, sample[, id rank])."""

    source: str
    rows: np.ndarray  # row number in the file (header = row 1)
    probs: np.ndarray  # (R, C) float32
    labels: np.ndarray
    ids: np.ndarray | None  # (K,) the distinct ids in the canonical order (not per row)
    id_rank: np.ndarray | None  # per row: its id is ids[id_rank]
    group_codes: np.ndarray
    is_ood: np.ndarray


def _first_duplicate(ids: np.ndarray) -> int | None:
    if ids.dtype.kind in "iu" and (ids.size < 2 or bool((ids[1:] > ids[:-1]).all())):
        return None
    duplicated = pd.Series(ids).duplicated().to_numpy()
    return _first(duplicated) if duplicated.any() else None


def _repeated_id(source, rows, ids, id_rank, method_names, method_codes,
                 sample) -> PredictionsFileError:
    """The error for an id listed twice in one sample of a method (arrays in file order).

    It names the first row in the file that repeats an earlier (method, sample, id).
    """
    repeat = pd.DataFrame({"m": method_codes, "s": sample, "r": id_rank}).duplicated()
    repeat = repeat.to_numpy()
    k = _first(repeat)
    first = _first((method_codes == method_codes[k]) & (sample == sample[k])
                   & (id_rank == id_rank[k]))
    count = int(repeat.sum())
    return _error(source, f"id {ids[id_rank[k]]!s} appears twice in method "
                  f"{method_names[method_codes[k]]!r}, sample {sample[k]} (first at "
                  f"{_row(rows[first])}); each sample of a method must list an id once"
                  + (f" ({count} rows repeat an earlier one)" if count > 1 else ""),
                  _cell(rows[k], "id"))


def _id_mismatch(col: _Columns, name: str, s: int, base: slice,
                 other: slice) -> PredictionsFileError:
    """The error for sample ``s`` (rows ``other``) of a method listing other ids than its sample
    0 (rows ``base``).

    It names the offending id whose row comes first in the file: a row of sample 0 whose id
    sample ``s`` lacks, or a row of sample ``s`` whose id sample 0 lacks.
    """
    ids_0, ids_s = col.id_rank[base], col.id_rank[other]
    missing = np.arange(base.start, base.stop)[~np.isin(ids_0, ids_s)]
    extra = np.arange(other.start, other.stop)[~np.isin(ids_s, ids_0)]
    candidates = np.r_[missing, extra]
    pick = int(np.argmin(col.rows[candidates]))
    k = int(candidates[pick])
    if pick < missing.size:
        problem = (f"id {col.ids[col.id_rank[k]]!s} of method {name!r} is in sample 0 but "
                   f"missing from "
                   f"sample {s}{_more(missing.size, 'ids')}")
    else:
        problem = (f"id {col.ids[col.id_rank[k]]!s} of method {name!r} is in sample {s} but "
                   f"not in sample 0"
                   f"{_more(extra.size, 'ids')}")
    return _error(col.source, f"{problem}; {SAME_IDS}", _cell(col.rows[k], "id"))


def _method_arrays(col: _Columns, name: str, blocks: dict[int, slice], group_names):
    """(Predictions keyword arguments, sample-0 rows) for one method's (sample -> rows) blocks.

    The blocks are consecutive slices of ``col``, in sample order. With ids each block is sorted
    by id rank, so the samples are aligned when they list the same ids; without ids the blocks
    are in file order and are matched by position.
    """
    found = sorted(blocks)
    if found != list(range(len(found))):
        missing = sorted(set(range(found[-1] + 1)) - set(found))
        first_row = col.rows[blocks[found[-1]].start]
        raise _error(col.source, f"method {name!r} has samples {_listing(found)}; samples must "
                     f"be numbered 0..S-1 without gaps (missing {_listing(missing)})",
                     _cell(first_row, "sample"))
    base = blocks[0]
    n = base.stop - base.start
    with_ids = col.id_rank is not None
    for s in found[1:]:
        other = blocks[s]
        size = other.stop - other.start
        if with_ids:
            if size != n or not np.array_equal(col.id_rank[other], col.id_rank[base]):
                raise _id_mismatch(col, name, s, base, other)
        elif size != n:
            raise _error(col.source, f"method {name!r}: sample {s} has {_rows(size)} but sample "
                         f"0 has {_rows(n)}; every sample must cover the same examples; "
                         f"{NO_ID_HINT}")
        for column, array in (("label", col.labels), ("group", col.group_codes),
                              ("is_ood", col.is_ood)):
            differ = array[other] != array[base]
            if differ.any():
                k = _earliest(differ, col.rows[other])
                a, b = array[other][k], array[base][k]
                if column == "group":
                    a, b = repr(group_names[a]), repr(group_names[b])
                else:
                    a, b = int(a), int(b)
                example, hint = ((f"id {col.ids[col.id_rank[base][k]]!s}", "") if with_ids else
                                 (f"position {k + 1} of sample 0", f"; {NO_ID_HINT}"))
                raise _error(col.source, f"{column} {a} differs from {column} {b} of the same "
                             f"example ({example}) in sample 0 at {_row(col.rows[base][k])}"
                             f"{hint}", _cell(col.rows[other][k], column))
    start, stop = base.start, blocks[found[-1]].stop
    probs = col.probs[start:stop].reshape(len(found), n, col.probs.shape[1])
    if stop - start != col.probs.shape[0]:  # other methods share the array: own a copy
        probs = probs.copy()
    names = np.asarray(group_names, dtype=object)
    parts = {
        "probs": probs,
        "labels": col.labels[base],  # Predictions copies it (astype)
        "group": names[col.group_codes[base]],
        "is_ood": col.is_ood[base].copy(),
        "ids": None if col.ids is None else col.ids[col.id_rank[base]],
    }
    return parts, base


def _check_labels_across_methods(col: _Columns, methods: dict) -> None:
    """The same id must carry the same label in every method."""
    if col.ids is None or len(methods) < 2:
        return
    rows = np.concatenate([np.arange(base.start, base.stop) for _, base in methods.values()])
    rows = rows[np.argsort(col.rows[rows], kind="stable")]  # file order
    _, first, inverse = np.unique(col.id_rank[rows], return_index=True, return_inverse=True)
    first_of = first[inverse]  # per row: where its id first appears in the file
    labels = col.labels[rows]
    differ = labels != labels[first_of]
    if differ.any():
        k = _first(differ)
        j = rows[first_of[k]]
        raise _error(col.source, f"id {col.ids[col.id_rank[rows[k]]]!s} has label {labels[k]} "
                     f"here but label {col.labels[j]} at {_row(col.rows[j])}; the same id must "
                     f"have the same label in every method", _cell(col.rows[rows[k]], "label"))


# -- NPZ ---------------------------------------------------------------------------------------
def _npz_array(source: str, npz, key: str) -> np.ndarray:
    try:
        return npz[key]
    except ValueError as err:
        raise _error(source, f"array {key!r} holds Python objects (allow_pickle is off); save "
                     f"strings as a unicode array, e.g. np.asarray(x, dtype=str)") from err
    except (OSError, zipfile.BadZipFile) as err:
        raise _error(source, f"cannot read array {key!r} ({err})") from err


def _read_npz(source: _Source, drop_invalid: bool, logits_to_probs: bool):
    if source.head(4) != b"PK\x03\x04":
        what = "a single .npy array" if source.head(6) == b"\x93NUMPY" else "a zip archive"
        raise _error(source.name, f"not a valid NPZ file (not {what}; save with np.savez)"
                     if what != "a single .npy array" else
                     "not a valid NPZ file (it holds a single .npy array; save with np.savez)")
    try:
        npz = np.load(source.open(), allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise _error(source.name, f"not a valid NPZ file ({err})") from err
    with npz:
        keys = list(npz.files)
        if not keys:
            raise _error(source.name, "empty NPZ file (no arrays)")
        warnings: list[str] = []
        if "methods" in keys:
            names = _npz_array(source.name, npz, "methods")
            if names.ndim != 1 or names.dtype.kind not in "US" or names.size == 0:
                raise _error(source.name, f"array 'methods' must be a non-empty 1-D array of "
                             f"names, got {names.dtype} shape {names.shape}")
            names = [str(x) for x in names]
            if len(set(names)) != len(names):
                raise _error(source.name, f"array 'methods' repeats a name: {_listing(names)}")
            suffixes = [f"_{i}" for i in range(len(names))]
            used = {"methods", "class_names"}
        else:
            method = DEFAULT_METHOD
            if "method" in keys:
                method = str(_npz_array(source.name, npz, "method"))
            names, suffixes, used = [method], [""], {"method", "class_names"}
        methods, num_rows = {}, 0
        for name, suffix in zip(names, suffixes, strict=True):
            parts, n_rows, method_warnings, method_keys = _npz_method(
                source.name, npz, keys, name, suffix, drop_invalid, logits_to_probs)
            methods[name] = parts
            num_rows += n_rows
            warnings += method_warnings
            used |= method_keys
        ignored = [k for k in keys if k not in used]
        if ignored:
            warnings.append(f"ignored arrays: {_listing(ignored)}")
        counts = {name: parts["probs"].shape[2] for name, parts in methods.items()}
        if len(set(counts.values())) > 1:
            shown = ", ".join(f"{k!r} has {v}" for k, v in counts.items())
            raise _error(source.name, f"class counts differ between methods ({shown} classes); "
                         f"every method needs the same classes")
        embedded = None
        if "class_names" in keys:
            embedded = [str(x) for x in np.atleast_1d(_npz_array(source.name, npz,
                                                                  "class_names"))]
    _check_npz_labels_across_methods(source.name, methods, suffixes)
    return methods, warnings, num_rows, embedded


def _npz_method(source, npz, keys, name, suffix, drop_invalid, logits_to_probs):
    probs_key, logits_key = f"probs{suffix}", f"logits{suffix}"
    if probs_key in keys and logits_key in keys:
        raise _error(source, f"has both {probs_key!r} and {logits_key!r}; give one or the other")
    if probs_key not in keys and logits_key not in keys:
        raise _error(source, f"no {probs_key!r} array (or {logits_key!r}) for method {name!r}; "
                     f"arrays: {_listing(keys)}")
    key = probs_key if probs_key in keys else logits_key
    values = _npz_array(source, npz, key)
    if values.dtype.kind not in "iuf":
        raise _error(source, f"array {key!r} must hold numbers, got dtype {values.dtype}")
    if values.ndim not in (2, 3):
        raise _error(source, f"array {key!r} must be (N, C) or (S, N, C), got shape "
                     f"{values.shape}")
    was_2d = values.ndim == 2
    values = np.asarray(values, dtype=np.float64)
    values = values[None] if was_2d else values
    n_samples, n, num_classes = values.shape
    if n_samples == 0 or n == 0:
        raise _error(source, f"array {key!r} has no rows (shape {values.shape})")
    if num_classes < 2:
        raise _error(source, f"array {key!r} needs at least 2 classes, got shape "
                     f"{values.shape}")
    used = {key}

    def optional(base: str, alt: str | None = None):
        for k in (f"{base}{suffix}", None if alt is None else f"{alt}{suffix}"):
            if k is not None and k in keys:
                used.add(k)
                arr = _npz_array(source, npz, k)
                if arr.shape != (n,):
                    raise _error(source, f"array {k!r} has shape {arr.shape} but {key!r} has "
                                 f"{n} examples; expected ({n},)")
                return k, arr
        return None, None

    labels_key, labels = optional("labels", "label")
    if labels is None:
        raise _error(source, f"no 'labels{suffix}' array (N,) for method {name!r} (use -1 for "
                     f"unknown labels)")
    if labels.dtype.kind not in "iuf":
        raise _error(source, f"array {labels_key!r} must hold integer class indices, got dtype "
                     f"{labels.dtype}")
    group_key, group = optional("group")
    ood_key, is_ood = optional("is_ood")
    ids_key, ids = optional("ids", "id")

    def where_cell(r, c):
        s, i = divmod(r, n)
        return f"{key}[{i}, {c}] (0-based)" if was_2d else f"{key}[{s}, {i}, {c}] (0-based)"

    def where_row(r):
        s, i = divmod(r, n)
        return f"{key}[{i}, :] (0-based)" if was_2d else f"{key}[{s}, {i}, :] (0-based)"

    warnings = []
    finite = np.isfinite(values)
    bad_example = ~finite.all(axis=(0, 2))
    keep = None
    if bad_example.any():
        flat_bad = ~finite.reshape(-1, num_classes).all(axis=1)
        r = _first(flat_bad)
        c = _first(~finite.reshape(-1, num_classes)[r])
        if not drop_invalid:
            raise _error(source, f"value {_number(values.reshape(-1, num_classes)[r, c])} is "
                         f"not a finite number; {int(bad_example.sum())} example(s) have NaN "
                         f"or inf values; {DROP_HINT}", where_cell(r, c))
        keep = ~bad_example
        if not keep.any():
            raise _error(source, f"no examples left in {key!r} after dropping those with NaN "
                         f"or inf values")
        warnings.append(f"dropped {int(bad_example.sum())} example(s) of method {name!r} with "
                        f"NaN or inf values in {key!r} (first at {where_cell(r, c)})")
    flat = values.reshape(-1, num_classes)
    if key == logits_key or logits_to_probs:
        probs = softmax(values, axis=2)
        if key == probs_key:
            warnings.append(f"applied a softmax to {key!r} (logits_to_probs=True)")
    else:
        rows_ok = np.ones(flat.shape[0], dtype=bool) if keep is None else np.tile(keep,
                                                                                  n_samples)
        checked = np.where(rows_ok[:, None], flat, 1.0 / num_classes)
        _check_probability_rows(source, checked, where_cell, where_row)
        probs = values

    labels = _check_labels(source, labels.astype(np.float64), num_classes,
                           lambda i: f"{labels_key}[{i}] (0-based)")
    if group is not None:
        if group.dtype.kind not in "US":
            raise _error(source, f"array {group_key!r} must hold strings, got dtype "
                         f"{group.dtype}")
        group = np.asarray([g.decode() if isinstance(g, bytes) else str(g) for g in group]
                           if group.dtype.kind == "S" else group.astype(str), dtype=object)
    else:
        group = np.full(n, TEST_GROUP, dtype=object)
    if is_ood is not None:
        if is_ood.dtype.kind not in "biuf":
            raise _error(source, f"array {ood_key!r} must hold 0/1, got dtype {is_ood.dtype}")
        is_ood = _check_flags(source, is_ood.astype(np.float64),
                              lambda i: f"{ood_key}[{i}] (0-based)")
    else:
        names, codes = np.unique(group.astype(str), return_inverse=True)
        is_ood = _ood_from_groups([str(x) for x in names])[codes]
    if ids is not None:
        if ids.dtype.kind not in "iuUS":
            raise _error(source, f"array {ids_key!r} must hold integers or strings, got dtype "
                         f"{ids.dtype}")
        ids = ids.astype(np.int64) if ids.dtype.kind in "iu" else ids.astype(str).astype(object)
        dup = _first_duplicate(ids)
        if dup is not None:
            raise _error(source, f"id {ids[dup]!s} appears twice (first at index "
                         f"{_first(ids == ids[dup])})", f"{ids_key}[{dup}] (0-based)")
    parts = {"probs": probs.astype(np.float32), "labels": labels, "group": group,
             "is_ood": is_ood, "ids": ids}
    if keep is not None:
        parts = {k: None if v is None else (v[:, keep] if k == "probs" else v[keep])
                 for k, v in parts.items()}
    return parts, n_samples * n, warnings, used


def _check_npz_labels_across_methods(source, methods, suffixes) -> None:
    with_ids = [(name, parts, sfx) for (name, parts), sfx in zip(methods.items(), suffixes,
                                                                  strict=True)
                if parts["ids"] is not None]
    if len(with_ids) < 2:
        return
    ids = np.concatenate([parts["ids"].astype(object) for _, parts, _ in with_ids])
    labels = np.concatenate([parts["labels"] for _, parts, _ in with_ids])
    where = [(sfx, i) for _, parts, sfx in with_ids for i in range(parts["labels"].size)]
    codes = pd.factorize(ids)[0]
    _, first = np.unique(codes, return_index=True)
    differ = labels != labels[first[codes]]
    if differ.any():
        k = _first(differ)
        j = first[codes[k]]
        raise _error(source, f"id {ids[k]!s} has label {labels[k]} in labels{where[k][0]}"
                     f"[{where[k][1]}] but label {labels[j]} in labels{where[j][0]}"
                     f"[{where[j][1]}]; the same id must have the same label in every method")


# -- writing -----------------------------------------------------------------------------------
def _atomic_write(path: Path, write: Callable) -> None:
    """Write through ``write(file)`` to a temporary name in the same folder, then rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check_writable(by_method: Mapping[str, Predictions]) -> tuple[int, tuple[str, ...] | None]:
    if not by_method:
        raise ValueError("by_method is empty: nothing to write")
    counts = {}
    names = None
    for key, p in by_method.items():
        if not isinstance(p, Predictions):
            raise ValueError(f"by_method[{key!r}] must be Predictions, got {type(p).__name__}")
        counts[key] = p.num_classes
        if p.ids is not None and _first_duplicate(np.asarray(p.ids)) is not None:
            dup = np.asarray(p.ids)[_first_duplicate(np.asarray(p.ids))]
            raise ValueError(f"by_method[{key!r}].ids repeats id {dup!s}; ids must be unique")
        if p.class_names is not None:
            if names is not None and tuple(p.class_names) != names:
                raise ValueError(f"methods disagree on class names: {names} vs "
                                 f"{tuple(p.class_names)}")
            names = tuple(p.class_names)
    if len(set(counts.values())) > 1:
        raise ValueError(f"every method needs the same number of classes, got {counts}")
    if len(by_method) > 1:
        ids = [_ids_of(p) for p in by_method.values()]
        text = any(i.dtype.kind not in "iu" for i in ids)
        frame = pd.DataFrame({
            "id": np.concatenate([i.astype(str) if text else i for i in ids]),
            "label": np.concatenate([p.labels for p in by_method.values()]),
            "method": np.repeat(list(by_method), [p.n for p in by_method.values()]),
        })
        first = frame.groupby("id", sort=False)["label"].transform("first")
        differ = (frame["label"] != first).to_numpy()
        if differ.any():
            row = frame.iloc[_first(differ)]
            raise ValueError(
                f"id {row['id']} has label {row['label']} in method {row['method']!r} but "
                f"another label in an earlier method; methods without ids are matched by "
                f"position (ids 0..N-1): give the Predictions ids"
            )
    return next(iter(counts.values())), names


def _ids_of(p: Predictions) -> np.ndarray:
    return np.arange(p.n, dtype=np.int64) if p.ids is None else np.asarray(p.ids)


def _long_table(by_method: Mapping[str, Predictions], num_classes: int) -> pa.Table:
    ids = [_ids_of(p) for p in by_method.values()]
    text_ids = any(i.dtype.kind not in "iu" for i in ids)
    id_parts, method_idx, sample, group, is_ood, label, probs = [], [], [], [], [], [], []
    for m, (p, p_ids) in enumerate(zip(by_method.values(), ids, strict=True)):
        s, n = p.num_samples, p.n
        id_parts.append(np.tile(p_ids.astype(str) if text_ids else p_ids.astype(np.int64), s))
        method_idx.append(np.full(s * n, m, dtype=np.int32))
        sample.append(np.repeat(np.arange(s, dtype=np.int64), n))
        group.append(np.tile(np.asarray(p.group, dtype=object), s))
        is_ood.append(np.tile(p.is_ood.astype(np.int8), s))
        label.append(np.tile(p.labels.astype(np.int64), s))
        probs.append(p.probs.reshape(s * n, num_classes))
    group_codes, group_names = pd.factorize(np.concatenate(group))
    columns = {
        "id": pa.array(np.concatenate(id_parts)),
        "method": pa.DictionaryArray.from_arrays(
            pa.array(np.concatenate(method_idx)), pa.array([str(k) for k in by_method])),
        "sample": pa.array(np.concatenate(sample)),
        "group": pa.DictionaryArray.from_arrays(
            pa.array(group_codes.astype(np.int32)), pa.array([str(g) for g in group_names])),
        "is_ood": pa.array(np.concatenate(is_ood)),
        "label": pa.array(np.concatenate(label)),
    }
    all_probs = np.concatenate(probs).astype(np.float32)
    for j in range(num_classes):
        columns[f"{PROB_PREFIX}{j}"] = pa.array(np.ascontiguousarray(all_probs[:, j]))
    return pa.table(columns)


def _npz_arrays(by_method: Mapping[str, Predictions], names) -> dict[str, np.ndarray]:
    def block(p: Predictions, suffix: str) -> dict[str, np.ndarray]:
        arrays = {
            f"probs{suffix}": p.probs.astype(np.float32),
            f"labels{suffix}": p.labels.astype(np.int64),
            f"group{suffix}": np.asarray(p.group, dtype=str),
            f"is_ood{suffix}": p.is_ood.astype(bool),
        }
        if p.ids is not None:
            ids = np.asarray(p.ids)
            arrays[f"ids{suffix}"] = ids if ids.dtype.kind in "iu" else ids.astype(str)
        return arrays

    if len(by_method) == 1:
        method, p = next(iter(by_method.items()))
        arrays = block(p, "") | {"method": np.asarray(str(method))}
    else:
        arrays = {"methods": np.asarray([str(k) for k in by_method])}
        for i, p in enumerate(by_method.values()):
            arrays |= block(p, f"_{i}")
    if names is not None:
        arrays["class_names"] = np.asarray(names, dtype=str)
    return arrays


def write_predictions(by_method: Mapping[str, Predictions], path: str | os.PathLike) -> Path:
    """Write predictions in the exchange format; the suffix (.csv, .parquet, .npz) picks it.

    Table files get the columns ``id, method, sample, group, is_ood, label, p_0 … p_{C-1}``
    (one row per method × sample × example; ``id`` is 0..N-1 when a method has no ids) and,
    when there are class names, a ``<file>.classes.json`` sidecar. NPZ files use the layout in
    the module docstring. Files are written to a temporary name in the same folder, then
    renamed (``os.replace``), so a reader never sees half a file. Features and extra scores are
    not written. ``read_predictions`` gives a table file's examples back in ascending id order
    (the order written when the ids are sorted or absent); NPZ files keep the order.

    Args:
        by_method: method name -> Predictions; every method needs the same classes.
        path: where to write.

    Returns:
        The path written.
    """
    path = Path(path)
    kind = FILE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"path must end in one of {', '.join(FILE_SUFFIXES)}, got {path.name}")
    num_classes, names = _check_writable(by_method)
    if kind == "npz":
        arrays = _npz_arrays(by_method, names)
        _atomic_write(path, lambda f: np.savez(f, **arrays))
        return path
    table = _long_table(by_method, num_classes)
    if kind == "csv":
        text_table = table.set_column(1, "method", table.column("method").cast(pa.string()))
        text_table = text_table.set_column(3, "group", table.column("group").cast(pa.string()))
        _atomic_write(path, lambda f: pa_csv.write_csv(text_table, f))
    else:
        _atomic_write(path, lambda f: pq.write_table(table, f))
    if names is not None:
        sidecar = path.with_name(path.name + CLASSES_SIDECAR_SUFFIX)
        text = json.dumps(list(names), ensure_ascii=False).encode("utf-8")
        _atomic_write(sidecar, lambda f: f.write(text))
    return path
