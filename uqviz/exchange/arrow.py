"""Arrow columns of numbers into numpy without loading pandas.

pyarrow's ``to_numpy`` (and ``np.asarray`` on an Arrow array) imports pandas on its first call,
about half a second of a command line run on a predictions file
(``benchmarks/bench_cli_startup.py``). ``numbers_array`` reads the values from the column's
buffers instead and gives what ``to_numpy(zero_copy_only=False)`` gives: the column's numpy
type, with NaN where a value is null (float64 for an integer column with nulls). Other columns
(text, booleans, dictionaries) still go through ``to_numpy``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def numpy_type(kind: pa.DataType) -> np.dtype | None:
    """The numpy type of a fixed-width Arrow integer or floating type; None for any other."""
    if pa.types.is_floating(kind):
        return np.dtype(f"f{kind.bit_width // 8}")
    if pa.types.is_signed_integer(kind):
        return np.dtype(f"i{kind.bit_width // 8}")
    if pa.types.is_unsigned_integer(kind):
        return np.dtype(f"u{kind.bit_width // 8}")
    return None


def _with_nulls(dtype: np.dtype) -> np.dtype:
    """The type ``to_numpy`` gives a column with nulls: its own when floating, else float64."""
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def _chunk_values(chunk: pa.Array, dtype: np.dtype) -> np.ndarray:
    """(len,) the values of one chunk (a read-only view); with NaN at nulls when any."""
    n = len(chunk)
    if n == 0:
        return np.empty(0, dtype=dtype)
    validity, data = chunk.buffers()[:2]
    values = np.frombuffer(data, dtype=dtype, count=n, offset=chunk.offset * dtype.itemsize)
    if not chunk.null_count:
        return values
    bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
    valid = bits[chunk.offset:chunk.offset + n].astype(bool)
    values = values.astype(_with_nulls(dtype))
    values[~valid] = np.nan
    return values


def numbers_array(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """(R,) a column of integers or floats as ``values.to_numpy(zero_copy_only=False)`` gives it
    (its numpy type, NaN where null: float64 for integers with nulls), a writable copy,
    without importing pandas. Columns of any other type: ``to_numpy``."""
    dtype = numpy_type(values.type)
    if dtype is None:
        return values.to_numpy(zero_copy_only=False)
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    out_type = _with_nulls(dtype) if values.null_count else dtype
    parts = [_chunk_values(chunk, dtype) for chunk in chunks]
    return np.concatenate(parts, dtype=out_type) if parts else np.empty(0, dtype=out_type)
