"""Reading a CSV or Parquet file into columns (``Table``): the header, parsing numbers, text and
ids, and messages that name the row and column of a bad value."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from uqviz.exchange.arrow import numbers_array
from uqviz.exchange.layout import LOGIT_PREFIX, OPTIONAL_COLUMNS, PROB_PREFIX
from uqviz.exchange.messages import and_more, cell_place, file_error, listing_of, row_place
from uqviz.exchange.ordering import int_ranks, text_ranks
from uqviz.exchange.source import SourceFile

_CLASS_COLUMN = re.compile(r"^(p_|logit_)(\d+)$")
_RAGGED = re.compile(r"Row #(\d+): Expected (\d+) columns, got (\d+)")
_NULL_TEXT = {"", "nan", "-nan", "na", "n/a", "null", "none", "<na>", "#n/a"}


@dataclass
class Table:
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
                raise file_error(source, f"columns {found[match.group(1)][int(match.group(2))]} "
                             f"and {name} name the same class")
    probs, logits = found[PROB_PREFIX], found[LOGIT_PREFIX]
    if probs and logits:
        raise file_error(source, "has both probability columns (p_0 …) and logit columns "
                     "(logit_0 …); give one or the other")
    if not probs and not logits:
        hint = ""
        if len(names) == 1 and any(sep in names[0] for sep in ";\t|"):
            hint = "; the header has one column: separate columns with commas"
        raise file_error(source, f"no probability columns p_0 … p_{{C-1}} or logit columns "
                     f"logit_0 … logit_{{C-1}} (columns: {listing_of(names)}){hint}")
    prefix, columns = (PROB_PREFIX, probs) if probs else (LOGIT_PREFIX, logits)
    num_classes = max(columns) + 1
    missing = [f"{prefix}{k}" for k in range(num_classes) if k not in columns]
    if missing:
        raise file_error(source, f"class columns must be numbered {prefix}0 … {prefix}{{C-1}} "
                     f"without gaps: found {listing_of(columns[k] for k in sorted(columns))}, "
                     f"missing {listing_of(missing)}")
    if num_classes < 2:
        raise file_error(source, f"needs at least 2 class columns, found only {columns[0]}")
    return prefix, [columns[k] for k in range(num_classes)]


def _plan_columns(source: str, names: list[str]):
    """Check a header: (prefix, class columns, optional columns present, warnings)."""
    stripped = [n.strip() for n in names]
    seen = set()
    for name in stripped:
        if name in seen:
            raise file_error(source, f"column {name!r} appears twice in the header")
        seen.add(name)
    if not any(n for n in stripped):
        raise file_error(source, "the header row is empty")
    prefix, class_columns = _class_columns(source, stripped)
    if "label" not in seen:
        hint = ""
        near = [n for n in stripped if n.lower() in ("label", "labels", "target", "y", "class")]
        if near:
            hint = f"; rename {near[0]!r} to 'label'"
        raise file_error(source, f"no 'label' column (-1 or empty when unknown){hint}; columns: "
                     f"{listing_of(stripped)}")
    optional = [n for n in OPTIONAL_COLUMNS if n in seen]
    used = set(class_columns) | set(optional) | {"label"}
    ignored = [n for n in stripped if n not in used]
    warnings = [f"ignored columns: {listing_of(ignored)}"] if ignored else []
    return prefix, class_columns, optional, warnings


def _csv_header(source: SourceFile) -> list[str]:
    text = source.head(1 << 20).decode("utf-8-sig", errors="replace")
    for row in csv.reader(io.StringIO(text)):
        if any(cell.strip() for cell in row):
            return row
    raise file_error(source.name, "empty file (no header row)")


def read_csv(source: SourceFile) -> Table:
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
        raise file_error(source.name, f"cannot read as CSV: {err}{hint}") from err
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


def _explain_csv_error(source: SourceFile, wanted: list[str], message: str) -> None:
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
            raise file_error(source.name, f"{got} fields where the header has {expected} (a ragged "
                         f"line: check for stray or missing commas)", row_place(row))
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


def read_parquet(source: SourceFile) -> Table:
    import pyarrow.parquet as pq  # lazily: a CSV is read without it (CLI start-up)

    try:
        parquet = pq.ParquetFile(source.open())
        names = parquet.schema_arrow.names
    except (pa.ArrowException, OSError, ValueError) as err:
        raise file_error(source.name, f"not a valid Parquet file ({err})") from err
    prefix, class_columns, optional, warnings = _plan_columns(source.name, names)
    raw = {n.strip(): n for n in names}
    try:
        table = parquet.read(columns=[raw[n] for n in [*class_columns, "label", *optional]])
    except (pa.ArrowException, OSError, ValueError) as err:
        raise file_error(source.name, f"cannot read the Parquet data ({err})") from err
    table = table.rename_columns([n.strip() for n in table.column_names])
    return _table_from_arrow(source.name, table, prefix, class_columns, optional, warnings)


def _plain(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """A dictionary-encoded column as its values; any other column as it is."""
    return values.cast(values.type.value_type) if pa.types.is_dictionary(values.type) else values


def _parse_numbers(source: str, column: str, values: pa.ChunkedArray) -> np.ndarray:
    """(R,) float64 from an Arrow column of numbers, booleans or numeric text; NaN where empty."""
    values = _plain(values)
    kind = values.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        try:
            values = pc.cast(pc.utf8_trim_whitespace(values), pa.float64())
        except pa.ArrowInvalid:  # a bad value: find and name it (pandas only on this path)
            import pandas as pd

            text = pd.Series(values.to_numpy(zero_copy_only=False), dtype=object)
            numbers = pd.to_numeric(text, errors="coerce")
            blank = text.isna() | text.astype(str).str.strip().str.lower().isin(_NULL_TEXT)
            bad = np.flatnonzero(numbers.isna().to_numpy() & ~blank.to_numpy())
            if bad.size:
                raise file_error(source, f"non-numeric value {str(text.iloc[bad[0]])!r}"
                             f"{and_more(bad.size)}", cell_place(bad[0] + 2, column)) from None
            values = pa.chunked_array([pa.array(numbers.to_numpy(dtype=np.float64))])
    elif not (pa.types.is_integer(kind) or pa.types.is_floating(kind)
              or pa.types.is_boolean(kind) or pa.types.is_null(kind)
              or pa.types.is_decimal(kind)):
        raise file_error(source, f"column {column} holds {kind} values; expected numbers")
    values = pc.cast(values, pa.float64())
    return np.asarray(numbers_array(values), dtype=np.float64)


def _codes(source: str, column: str, values: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """Dictionary codes (R,) int64 (-1 where empty) and the distinct strings, first seen first."""
    values = _plain(values)
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        try:
            values = pc.cast(values, pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
            raise file_error(source, f"column {column} holds {values.type} values; expected text"
                         ) from err
    encoded = pc.dictionary_encode(values.combine_chunks())
    codes = numbers_array(encoded.indices)
    codes = np.where(np.isnan(codes), -1, codes) if codes.dtype.kind == "f" else codes
    return codes.astype(np.int64), [str(x) for x in encoded.dictionary.to_pylist()]


def _id_values(source: str, values: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """The (K,) distinct ids in the canonical order, int64 when every id is a plain integer,
    else str (object), and the (R,) int64 rank of each row's id among them (see
    ``int_ranks``, ``text_ranks``)."""
    if values.null_count:
        first = int(np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False))[0])
        raise file_error(source, f"empty id{and_more(values.null_count)}",
                         cell_place(first + 2, "id"))
    values = _plain(values)
    kind = values.type
    if pa.types.is_integer(kind):
        return int_ranks(numbers_array(values).astype(np.int64))
    text = values if pa.types.is_string(kind) else pc.cast(values, pa.string())
    text = text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
    # a failing cast scans every value: try it only when every id looks like an integer
    if pc.all(pc.match_substring_regex(text, r"^-?[0-9]+$")).as_py():
        try:
            as_int = pc.cast(text, pa.int64())
            if pc.all(pc.equal(pc.cast(as_int, pa.string()), text)).as_py():
                return int_ranks(numbers_array(as_int).astype(np.int64))
        except pa.ArrowInvalid:
            pass
    return text_ranks(text)


def _table_from_arrow(source, table, prefix, class_columns, optional, warnings) -> Table:
    num_rows = table.num_rows
    if num_rows == 0:
        raise file_error(source, "no data rows (only a header)")
    values = np.empty((num_rows, len(class_columns)), dtype=np.float64)
    for j, name in enumerate(class_columns):
        values[:, j] = _parse_numbers(source, name, table.column(name))
    has = set(optional)
    ids, id_rank = _id_values(source, table.column("id")) if "id" in has else (None, None)
    return Table(
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
