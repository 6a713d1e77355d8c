"""Checks that table and NPZ files share.

The caller says how to name a place (a row and column of a table, an index of an array), so
both kinds of file get the same words for the same problem. The checks of values that are not
tied to a place in a file live in ``uqviz.validation``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from uqviz.exchange.messages import LOGITS_HINT, _error, _more, _number, _shown
from uqviz.numerics import softmax
from uqviz.predictions import OOD_PREFIX, PROB_SUM_TOLERANCE


def _first(mask: np.ndarray) -> int:
    return int(np.argmax(mask))


def _first_non_finite(values: np.ndarray) -> tuple[np.ndarray, int, int] | None:
    """For (R, C) values: the (R,) rows holding NaN or inf and the first such cell (row, column);
    None when every value is finite."""
    finite = np.isfinite(values)
    bad = ~finite.all(axis=1)
    if not bad.any():
        return None
    r = _first(bad)
    return bad, r, _first(~finite[r])


def _probabilities(
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
        raise _error(source, f"is_ood must be 0 or 1, got {_shown(values[r])}"
                     f"{_more(int(bad.sum()))}", where(r))
    return values == 1.0


def _ood_from_groups(group_names: list[str]) -> np.ndarray:
    return np.array([g.startswith(OOD_PREFIX) for g in group_names], dtype=bool)


def _check_class_counts(source: str, counts: Mapping[str, int], detail: str = "") -> None:
    """Every method (name -> number of classes) has the same number of classes."""
    if len(set(counts.values())) > 1:
        shown = ", ".join(f"{name!r} has {count}" for name, count in counts.items())
        raise _error(source, f"class counts differ between methods ({shown} classes{detail}); "
                     f"every method needs the same classes")


def _label_conflict(keys: np.ndarray, labels: np.ndarray) -> tuple[int, int] | None:
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
    k = _first(differ)
    return k, int(first_of[k])


def _first_duplicate(ids: np.ndarray) -> int | None:
    if ids.dtype.kind in "iu" and (ids.size < 2 or bool((ids[1:] > ids[:-1]).all())):
        return None
    duplicated = pd.Series(ids).duplicated().to_numpy()
    return _first(duplicated) if duplicated.any() else None
