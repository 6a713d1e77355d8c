"""Checks that table and NPZ files share.

The caller says how to name a place (a row and column of a table, an index of an array), so
both kinds of file get the same words for the same problem. The checks of values that are not
tied to a place in a file live in ``uqviz.validation``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from uqviz.exchange.messages import LOGITS_HINT, and_more, file_error, number_text, shown_value
from uqviz.numerics import softmax
from uqviz.predictions import OOD_PREFIX, PROB_SUM_TOLERANCE


def first_true(mask: np.ndarray) -> int:
    return int(np.argmax(mask))


def first_non_finite(values: np.ndarray) -> tuple[np.ndarray, int, int] | None:
    """For (R, C) values: the (R,) rows holding NaN or inf and the first such cell (row, column);
    None when every value is finite."""
    finite = np.isfinite(values)
    bad = ~finite.all(axis=1)
    if not bad.any():
        return None
    r = first_true(bad)
    return bad, r, first_true(~finite[r])


def checked_probabilities(
    source: str,
    values: np.ndarray,
    *,
    logits: bool,
    logits_to_probs: bool,
    what: str,
    where_cell: Callable[[int, int], str],
    where_row: Callable[[int], str],
    skip: np.ndarray | None = None,
) -> tuple[np.ndarray, list[str]]:
    """(probabilities, warnings) from ``values`` with the classes on the last axis.

    Logits (``logits``: the file says so; ``logits_to_probs``: the caller does, which is warned
    about, naming ``what``) get a softmax. Otherwise the values are the probabilities, checked
    row by row (``_check_probability_rows``, places named on the rows of
    ``values.reshape(-1, C)``) but for the rows where ``skip`` is true (they are dropped later).
    """
    if logits or logits_to_probs:
        warnings = [] if logits else [f"applied a softmax to {what} (logits_to_probs=True)"]
        return softmax(values, axis=-1), warnings
    rows = values.reshape(-1, values.shape[-1])
    if skip is not None:
        rows = np.where(skip[:, None], 1.0 / rows.shape[1], rows)
    _check_probability_rows(source, rows, where_cell, where_row)
    return values, []


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
        r = first_true(bad_rows)
        c = first_true(outside[r])
        raise file_error(source, f"probability {number_text(values[r, c])} outside [0, 1]"
                     f"{and_more(int(bad_rows.sum()))}{hint}", where_cell(r, c))
    if off.any():
        r = first_true(off)
        if not hint:
            hint = ("; round-off? write probabilities with more decimals or divide each row by "
                    "its sum")
        raise file_error(source, f"probabilities sum to {sums[r]:.6g}, not 1 (tolerance "
                     f"{PROB_SUM_TOLERANCE:g}){and_more(int(off.sum()))}{hint}", where_row(r))


def check_labels(source, labels, num_classes, where) -> np.ndarray:
    """(R,) float64 labels, NaN = unknown -> int64 with -1; integers in -1..C-1."""
    labels = np.where(np.isnan(labels), -1.0, labels)
    if np.isinf(labels).any():
        r = first_true(np.isinf(labels))
        raise file_error(source, f"label {number_text(labels[r])} is not a class index", where(r))
    fractional = labels != np.round(labels)
    if fractional.any():
        r = first_true(fractional)
        raise file_error(source,
                         f"label {number_text(labels[r])} is not an integer (labels are class "
                     f"indices 0..{num_classes - 1}, -1 or empty when unknown)"
                     f"{and_more(int(fractional.sum()))}", where(r))
    outside = (labels < -1) | (labels > num_classes - 1)
    if outside.any():
        r = first_true(outside)
        hint = ""
        known = labels[labels >= 0]
        if known.size and known.min() >= 1 and known.max() == num_classes:
            hint = "; the labels look 1-based: subtract 1"
        raise file_error(source, f"label {labels[r]:.0f} outside -1..{num_classes - 1} "
                     f"({num_classes} classes){and_more(int(outside.sum()))}{hint}", where(r))
    return labels.astype(np.int64)


def check_flags(source, values, where) -> np.ndarray:
    """(R,) float64 is_ood -> bool; each must be 0 or 1."""
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        r = first_true(bad)
        raise file_error(source, f"is_ood must be 0 or 1, got {shown_value(values[r])}"
                     f"{and_more(int(bad.sum()))}", where(r))
    return values == 1.0


def ood_from_groups(group_names: list[str]) -> np.ndarray:
    return np.array([g.startswith(OOD_PREFIX) for g in group_names], dtype=bool)


def check_class_counts(source: str, counts: Mapping[str, int], detail: str = "") -> None:
    """Every method (name -> number of classes) has the same number of classes."""
    if len(set(counts.values())) > 1:
        shown = ", ".join(f"{name!r} has {count}" for name, count in counts.items())
        raise file_error(source, f"class counts differ between methods ({shown} classes{detail}); "
                     f"every method needs the same classes")


def label_conflict(keys: np.ndarray, labels: np.ndarray) -> tuple[int, int] | None:
    """The first position whose label differs from the label where its key (an id) first
    appears, and that first position; None when each key has one label.

    ``keys`` are integer codes of the ids (``pd.factorize``, or id ranks), in the order the
    messages should follow.
    """
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    first_of = first[inverse]  # per position: where its key first appears
    differ = labels != labels[first_of]
    if not differ.any():
        return None
    k = first_true(differ)
    return k, int(first_of[k])


def first_duplicate(ids: np.ndarray) -> int | None:
    if ids.dtype.kind in "iu" and (ids.size < 2 or bool((ids[1:] > ids[:-1]).all())):
        return None
    import pandas as pd  # lazily: a plain file is read without pandas (CLI start-up)

    duplicated = pd.Series(ids).duplicated().to_numpy()
    return first_true(duplicated) if duplicated.any() else None
