"""A table file's rows (``Table``) -> per-method arrays: validated, the samples of a method aligned
on id (or matched by position without ids), the examples in ascending id order."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from uqviz.exchange.checks import (
    check_class_counts,
    check_flags,
    check_labels,
    checked_probabilities,
    first_non_finite,
    first_true,
    label_conflict,
    ood_from_groups,
)
from uqviz.exchange.layout import DEFAULT_METHOD, LOGIT_PREFIX, PROB_PREFIX
from uqviz.exchange.messages import (
    DROP_HINT,
    NO_ID_HINT,
    SAME_IDS,
    SAME_LABEL,
    PredictionsFileError,
    and_more,
    cell_place,
    file_error,
    listing_of,
    number_text,
    row_count,
    row_place,
    shown_value,
)
from uqviz.exchange.ordering import block_bounds, grouping, positions
from uqviz.exchange.tables import Table
from uqviz.predictions import TEST_GROUP


def _integers(source, values, column, rows, *, minimum=0) -> np.ndarray:
    bad = np.isnan(values) | (values != np.round(values)) | (values < minimum)
    if bad.any():
        r = first_true(bad)
        raise file_error(source,
                         f"{column} must be an integer >= {minimum}, got {shown_value(values[r])}"
                         f"{and_more(int(bad.sum()))}", cell_place(rows[r], column))
    return values.astype(np.int64)


def _earliest(mask: np.ndarray, rows: np.ndarray) -> int:
    """The index where ``mask`` is true whose row number (``rows``) comes first in the file."""
    candidates = np.flatnonzero(mask)
    return int(candidates[np.argmin(rows[candidates])])


def _check_table_class_counts(t: Table, method_codes, method_names) -> None:
    """Every method has values in the same class columns (its class count: the last column
    with a value, + 1)."""
    if len(method_names) < 2:
        return
    counts = {}
    for m, name in enumerate(method_names):
        present = ~np.isnan(t.values[method_codes == m]).all(axis=0)
        counts[name] = int(np.flatnonzero(present)[-1]) + 1 if present.any() else 0
    check_class_counts(t.source, counts, f" with values in {t.prefix} columns")


def _drop_non_finite(t: Table, rows, method_codes, sample, id_rank, drop_invalid):
    """Rows to keep (bool (R,)) and the warnings; raises when not dropping."""
    found = first_non_finite(t.values)
    if found is None:
        return None, []
    bad, r, c = found
    shown = "empty or NaN" if np.isnan(t.values[r, c]) else number_text(t.values[r, c])
    n_bad = int(bad.sum())
    if not drop_invalid:
        raise file_error(t.source, f"value is {shown}, not a number; {n_bad} row(s) have NaN, inf "
                     f"or empty values in {t.prefix} columns; {DROP_HINT}",
                     cell_place(rows[r], t.class_columns[c]))
    if id_rank is not None:
        example = id_rank
    else:
        order, sorted_block, _ = grouping(method_codes, sample)
        example = positions(order, sorted_block)
    key = method_codes * (int(example.max()) + 1) + example
    drop = np.isin(key, np.unique(key[bad]))
    n_drop = int(drop.sum())
    message = (f"dropped {n_bad} row(s) with NaN, inf or empty values in {t.prefix} columns "
               f"(first at {row_place(rows[r])})")
    if n_drop > n_bad:
        message += f" and {n_drop - n_bad} other sample row(s) of the same examples"
    return ~drop, [message]


def assemble(t: Table, drop_invalid: bool, logits_to_probs: bool):
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
            r = first_true(method_codes < 0)
            raise file_error(t.source,
                             f"empty method name{and_more(int((method_codes < 0).sum()))}",
                             cell_place(rows[r], "method"))
    else:
        method_codes, method_names = np.zeros(num_rows, dtype=np.int64), [DEFAULT_METHOD]
    sample = (np.zeros(num_rows, dtype=np.int64) if t.sample is None
              else _integers(t.source, t.sample, "sample", rows))
    _check_table_class_counts(t, method_codes, method_names)
    id_rank = t.id_rank

    keep, dropped = _drop_non_finite(t, rows, method_codes, sample, id_rank, drop_invalid)
    warnings += dropped
    values, label, ids, is_ood_raw = t.values, t.label, t.ids, t.is_ood
    group_codes, group_names = t.group if t.group is not None else (
        np.zeros(num_rows, dtype=np.int64), [TEST_GROUP])
    if keep is not None:
        if not keep.any():
            raise file_error(t.source, "no rows left after dropping rows with NaN, inf or empty "
                         "values")
        rows, values, label, method_codes, sample, group_codes = (
            a[keep] for a in (rows, values, label, method_codes, sample, group_codes))
        id_rank = None if id_rank is None else id_rank[keep]
        is_ood_raw = None if is_ood_raw is None else is_ood_raw[keep]

    labels = check_labels(t.source, label, num_classes, lambda r: cell_place(rows[r], "label"))
    if (group_codes < 0).any():
        n_empty = int((group_codes < 0).sum())
        warnings.append(f"{n_empty} row(s) with an empty group were put in group "
                        f"{TEST_GROUP!r} (first at {row_place(rows[first_true(group_codes < 0)])})")
        if TEST_GROUP not in group_names:
            group_names = [*group_names, TEST_GROUP]
        group_codes = np.where(group_codes < 0, group_names.index(TEST_GROUP), group_codes)
    if is_ood_raw is not None:
        is_ood = check_flags(t.source, is_ood_raw, lambda r: cell_place(rows[r], "is_ood"))
    else:
        is_ood = ood_from_groups(group_names)[group_codes]

    probs, converted = checked_probabilities(
        t.source, values, logits=t.prefix == LOGIT_PREFIX, logits_to_probs=logits_to_probs,
        what=f"the {PROB_PREFIX} columns",
        where_cell=lambda r, c: cell_place(rows[r], t.class_columns[c]),
        where_row=lambda r: f"{row_place(rows[r])}, columns {t.class_columns[0]}…"
                            f"{t.class_columns[-1]}",
    )
    warnings += converted

    order, sorted_block, stride = grouping(method_codes, sample, id_rank)
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
    starts, ends, keys = block_bounds(sorted_block)
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


def _repeated_id(source, rows, ids, id_rank, method_names, method_codes,
                 sample) -> PredictionsFileError:
    """The error for an id listed twice in one sample of a method (arrays in file order).

    It names the first row in the file that repeats an earlier (method, sample, id).
    """
    import pandas as pd  # lazily: a plain file is read without pandas (CLI start-up)

    repeat = pd.DataFrame({"m": method_codes, "s": sample, "r": id_rank}).duplicated()
    repeat = repeat.to_numpy()
    k = first_true(repeat)
    first = first_true((method_codes == method_codes[k]) & (sample == sample[k])
                   & (id_rank == id_rank[k]))
    count = int(repeat.sum())
    return file_error(source, f"id {ids[id_rank[k]]!s} appears twice in method "
                  f"{method_names[method_codes[k]]!r}, sample {sample[k]} (first at "
                  f"{row_place(rows[first])}); each sample of a method must list an id once"
                  + (f" ({count} rows repeat an earlier one)" if count > 1 else ""),
                  cell_place(rows[k], "id"))


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
                   f"sample {s}{and_more(missing.size, 'ids')}")
    else:
        problem = (f"id {col.ids[col.id_rank[k]]!s} of method {name!r} is in sample {s} but "
                   f"not in sample 0"
                   f"{and_more(extra.size, 'ids')}")
    return file_error(col.source, f"{problem}; {SAME_IDS}", cell_place(col.rows[k], "id"))


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
        raise file_error(col.source,
                         f"method {name!r} has samples {listing_of(found)}; samples must "
                     f"be numbered 0..S-1 without gaps (missing {listing_of(missing)})",
                     cell_place(first_row, "sample"))
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
            raise file_error(col.source,
                             f"method {name!r}: sample {s} has {row_count(size)} but sample "
                         f"0 has {row_count(n)}; every sample must cover the same examples; "
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
                raise file_error(col.source, f"{column} {a} differs from {column} {b} of the same "
                             f"example ({example}) in sample 0 at {row_place(col.rows[base][k])}"
                             f"{hint}", cell_place(col.rows[other][k], column))
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
    labels = col.labels[rows]
    conflict = label_conflict(col.id_rank[rows], labels)
    if conflict is not None:
        k, j = rows[conflict[0]], rows[conflict[1]]
        raise file_error(col.source, f"id {col.ids[col.id_rank[k]]!s} has label {col.labels[k]} "
                     f"here but label {col.labels[j]} at {row_place(col.rows[j])}; {SAME_LABEL}",
                     cell_place(col.rows[k], "label"))
