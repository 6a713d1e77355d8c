"""The canonical order of a table file's examples (ascending id) and the sort of its rows into
(method, sample) blocks, both decided by the values only, not by the rows' order in the file."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from uqviz.exchange.arrow import numbers_array

_INTEGER_TEXT = r"^-?[0-9]{1,18}$"  # text ids sorted as numbers (they fit in int64)
_COUNTING_FACTOR = 4  # counting sorts when the key space is at most this many times the rows
_MAX_KEY = 2**62  # (method, sample, id) fit in one int64 sort key below this; else a lexsort
_MAX_SORT_WORDS = 4  # text ids up to 32 bytes are sorted on their bytes with np.lexsort


def int_ranks(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
    distinct, rank = np.unique(ids, return_inverse=True)  # sparse ids: one sort, no pandas
    return distinct.astype(np.int64, copy=False), rank.astype(np.int64, copy=False)


def text_ranks(text: pa.StringArray) -> tuple[np.ndarray, np.ndarray]:
    """Text ids: (K,) the distinct ids (str objects) in the canonical text order (see
    ``_text_order``), (R,) the rank of each row's id among them."""
    encoded = pc.dictionary_encode(text)
    codes = numbers_array(encoded.indices)
    perm = _text_order(encoded.dictionary)
    distinct = np.array(encoded.dictionary.to_pylist(), dtype=object)[perm]  # no pandas
    return distinct, _ranks_from(codes, perm)


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
    if numbers:  # the integers' values, 0 for the other texts (read without loading pandas)
        is_integer = numbers_array(pc.cast(integer, pa.int8())).astype(bool)
        number = np.zeros(len(text), dtype=np.int64)
        number[is_integer] = numbers_array(pc.cast(pc.filter(text, integer), pa.int64()))
    words = _sort_words(text)
    if words is None:
        keys = [("text", "ascending")]
        columns = {"text": text}
        if numbers:
            keys = [("other", "ascending"), ("number", "ascending"), *keys]
            columns |= {"other": pc.invert(integer),
                        "number": pa.Array.from_buffers(pa.int64(), len(text),
                                                        [None, pa.py_buffer(number)])}
        return numbers_array(pc.sort_indices(pa.table(columns), sort_keys=keys)).astype(np.int64)
    keys = list(words)  # least significant first, as np.lexsort wants
    if numbers:
        keys += [number, ~is_integer]
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


def grouping(method_codes: np.ndarray, sample: np.ndarray, id_rank: np.ndarray | None = None):
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


def block_bounds(sorted_block: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts, ends, block keys) of the runs of equal keys in a sorted block-key array."""
    starts = np.flatnonzero(np.r_[True, sorted_block[1:] != sorted_block[:-1]])
    return starts, np.r_[starts[1:], sorted_block.size], sorted_block[starts]


def positions(order: np.ndarray | None, sorted_block: np.ndarray) -> np.ndarray:
    """Position of each row within its (method, sample) block."""
    starts, ends, _ = block_bounds(sorted_block)
    pos_sorted = np.arange(sorted_block.size) - np.repeat(starts, ends - starts)
    if order is None:
        return pos_sorted
    pos = np.empty_like(pos_sorted)
    pos[order] = pos_sorted
    return pos
