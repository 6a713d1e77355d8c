"""Reading an NPZ file: one method's arrays (``probs``, ``labels``, …) or several (``methods``,
``probs_<i>``, …), with messages that name the array and its 0-based index."""

from __future__ import annotations

import zipfile

import numpy as np

from uqviz.exchange.checks import (
    check_class_counts,
    check_flags,
    check_labels,
    checked_probabilities,
    first_duplicate,
    first_non_finite,
    first_true,
    label_conflict,
    ood_from_groups,
)
from uqviz.exchange.layout import DEFAULT_METHOD
from uqviz.exchange.messages import DROP_HINT, SAME_LABEL, file_error, listing_of, number_text
from uqviz.exchange.source import SourceFile
from uqviz.predictions import TEST_GROUP


def _npz_array(source: str, npz, key: str) -> np.ndarray:
    try:
        return npz[key]
    except ValueError as err:
        raise file_error(source, f"array {key!r} holds Python objects (allow_pickle is off); save "
                     f"strings as a unicode array, e.g. np.asarray(x, dtype=str)") from err
    except (OSError, zipfile.BadZipFile) as err:
        raise file_error(source, f"cannot read array {key!r} ({err})") from err


def _check_kind(source: str, key: str, array: np.ndarray, kinds: str, holds: str) -> None:
    """The array's dtype is one of ``kinds`` (numpy dtype kind letters); ``holds`` says what."""
    if array.dtype.kind not in kinds:
        raise file_error(source, f"array {key!r} must hold {holds}, got dtype {array.dtype}")


def read_npz(source: SourceFile, drop_invalid: bool, logits_to_probs: bool):
    if source.head(4) != b"PK\x03\x04":
        what = "a single .npy array" if source.head(6) == b"\x93NUMPY" else "a zip archive"
        raise file_error(source.name, f"not a valid NPZ file (not {what}; save with np.savez)"
                     if what != "a single .npy array" else
                     "not a valid NPZ file (it holds a single .npy array; save with np.savez)")
    try:
        npz = np.load(source.open(), allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise file_error(source.name, f"not a valid NPZ file ({err})") from err
    with npz:
        keys = list(npz.files)
        if not keys:
            raise file_error(source.name, "empty NPZ file (no arrays)")
        warnings: list[str] = []
        if "methods" in keys:
            names = _npz_array(source.name, npz, "methods")
            if names.ndim != 1 or names.dtype.kind not in "US" or names.size == 0:
                raise file_error(source.name, f"array 'methods' must be a non-empty 1-D array of "
                             f"names, got {names.dtype} shape {names.shape}")
            names = [str(x) for x in names]
            if len(set(names)) != len(names):
                raise file_error(source.name,
                                 f"array 'methods' repeats a name: {listing_of(names)}")
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
            warnings.append(f"ignored arrays: {listing_of(ignored)}")
        check_class_counts(source.name, {name: parts["probs"].shape[2]
                                          for name, parts in methods.items()})
        embedded = None
        if "class_names" in keys:
            embedded = [str(x) for x in np.atleast_1d(_npz_array(source.name, npz,
                                                                  "class_names"))]
    _check_npz_labels_across_methods(source.name, methods, suffixes)
    return methods, warnings, num_rows, embedded


def _npz_method(source, npz, keys, name, suffix, drop_invalid, logits_to_probs):
    probs_key, logits_key = f"probs{suffix}", f"logits{suffix}"
    if probs_key not in keys and logits_key not in keys:
        raise file_error(source, f"no {probs_key!r} array (or {logits_key!r}) for method {name!r}; "
                     f"arrays: {listing_of(keys)}")
    key = probs_key if probs_key in keys else logits_key
    values = _npz_array(source, npz, key)
    _check_kind(source, key, values, "iuf", "numbers")
    if values.ndim not in (2, 3):
        raise file_error(source, f"array {key!r} must be (N, C) or (S, N, C), got shape "
                     f"{values.shape}")
    was_2d = values.ndim == 2
    values = np.asarray(values, dtype=np.float64)
    values = values[None] if was_2d else values
    n_samples, n, num_classes = values.shape
    if n_samples == 0 or n == 0:
        raise file_error(source, f"array {key!r} has no rows (shape {values.shape})")
    if num_classes < 2:
        raise file_error(source, f"array {key!r} needs at least 2 classes, got shape "
                     f"{values.shape}")
    used = {key}

    def optional(base: str, alt: str | None = None):
        for k in (f"{base}{suffix}", None if alt is None else f"{alt}{suffix}"):
            if k is not None and k in keys:
                used.add(k)
                arr = _npz_array(source, npz, k)
                if arr.shape != (n,):
                    raise file_error(source, f"array {k!r} has shape {arr.shape} but {key!r} has "
                                 f"{n} examples; expected ({n},)")
                return k, arr
        return None, None

    extra_logits, extra_logits_key = None, None
    if key == probs_key and logits_key in keys:  # logits kept beside the probabilities
        extra_logits_key = logits_key
        used.add(logits_key)
        extra_logits = _npz_array(source, npz, logits_key)
        _check_kind(source, logits_key, extra_logits, "iuf", "numbers")
        lead = extra_logits.shape[0] if extra_logits.ndim == 3 else 1
        if extra_logits.shape[-2:] != (n, num_classes) or extra_logits.ndim not in (2, 3) or (
                lead not in (1, n_samples)):
            raise file_error(source, f"array {logits_key!r} must be ({n}, {num_classes}) or "
                             f"(S, {n}, {num_classes}) with S = 1 or {n_samples} like "
                             f"{probs_key!r}, got shape {extra_logits.shape}")
        extra_logits = np.asarray(extra_logits, dtype=np.float64).reshape(lead, n, num_classes)
    features_key = f"features{suffix}"
    features = None
    if features_key in keys:
        used.add(features_key)
        features = _npz_array(source, npz, features_key)
        _check_kind(source, features_key, features, "iuf", "numbers")
        if features.ndim != 2 or features.shape[0] != n or features.shape[1] < 1:
            raise file_error(source, f"array {features_key!r} must be ({n}, D) like "
                             f"{key!r}'s {n} examples, got shape {features.shape}")
        features = np.asarray(features, dtype=np.float64)
    labels_key, labels = optional("labels", "label")
    if labels is None:
        raise file_error(source, f"no 'labels{suffix}' array (N,) for method {name!r} (use -1 for "
                     f"unknown labels)")
    _check_kind(source, labels_key, labels, "iuf", "integer class indices")
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
    flat = values.reshape(-1, num_classes)
    found = first_non_finite(flat)
    keep = None
    for extra_key, extra in ((extra_logits_key, extra_logits), (features_key, features)):
        extra_found = None if extra is None else first_non_finite(
            extra.reshape(-1, extra.shape[-1]))
        if extra_found is None:
            continue
        bad, r, c = extra_found
        s, i = divmod(r, n)
        place = f"{extra_key}[{i}, {c}] (0-based)" if extra.ndim == 2 or extra_key == (
            features_key) else f"{extra_key}[{s}, {i}, {c}] (0-based)"
        bad_example = bad.reshape(-1, n).any(axis=0)
        if not drop_invalid:
            bad_value = number_text(extra.reshape(-1, extra.shape[-1])[r, c])
            raise file_error(source, f"value {bad_value} is not a finite number; "
                             f"{int(bad_example.sum())} example(s) have NaN or inf values; "
                             f"{DROP_HINT}", place)
        keep = ~bad_example if keep is None else keep & ~bad_example
        warnings.append(f"dropped {int(bad_example.sum())} example(s) of method {name!r} with "
                        f"NaN or inf values in {extra_key!r} (first at {place})")
    if found is not None:
        bad, r, c = found
        bad_example = bad.reshape(n_samples, n).any(axis=0)
        if not drop_invalid:
            raise file_error(source, f"value {number_text(flat[r, c])} is not a finite number; "
                         f"{int(bad_example.sum())} example(s) have NaN or inf values; "
                         f"{DROP_HINT}", where_cell(r, c))
        keep = ~bad_example if keep is None else keep & ~bad_example
        warnings.append(f"dropped {int(bad_example.sum())} example(s) of method {name!r} with "
                        f"NaN or inf values in {key!r} (first at {where_cell(r, c)})")
    if keep is not None and not keep.any():
        raise file_error(source, f"no examples left in {key!r} after dropping those with NaN "
                         f"or inf values")
    probs, converted = checked_probabilities(
        source, values, logits=key == logits_key, logits_to_probs=logits_to_probs,
        what=repr(key), where_cell=where_cell, where_row=where_row,
        skip=None if keep is None else np.tile(~keep, n_samples),
    )
    warnings += converted

    labels = check_labels(source, labels.astype(np.float64), num_classes,
                           lambda i: f"{labels_key}[{i}] (0-based)")
    if group is not None:
        _check_kind(source, group_key, group, "US", "strings")
        group = np.asarray([g.decode() if isinstance(g, bytes) else str(g) for g in group]
                           if group.dtype.kind == "S" else group.astype(str), dtype=object)
    else:
        group = np.full(n, TEST_GROUP, dtype=object)
    if is_ood is not None:
        _check_kind(source, ood_key, is_ood, "biuf", "0/1")
        is_ood = check_flags(source, is_ood.astype(np.float64),
                              lambda i: f"{ood_key}[{i}] (0-based)")
    else:
        names, codes = np.unique(group.astype(str), return_inverse=True)
        is_ood = ood_from_groups([str(x) for x in names])[codes]
    if ids is not None:
        _check_kind(source, ids_key, ids, "iuUS", "integers or strings")
        ids = ids.astype(np.int64) if ids.dtype.kind in "iu" else ids.astype(str).astype(object)
        dup = first_duplicate(ids)
        if dup is not None:
            raise file_error(source, f"id {ids[dup]!s} appears twice (first at index "
                         f"{first_true(ids == ids[dup])})", f"{ids_key}[{dup}] (0-based)")
    logits = values if key == logits_key else extra_logits
    parts = {"probs": probs.astype(np.float32), "labels": labels, "group": group,
             "is_ood": is_ood, "ids": ids,
             "logits": None if logits is None else logits.astype(np.float32),
             "features": None if features is None else features.astype(np.float32)}
    if keep is not None:
        parts = {k: None if v is None else (v[:, keep] if k in ("probs", "logits") else v[keep])
                 for k, v in parts.items()}
    return parts, n_samples * n, warnings, used


def _check_npz_labels_across_methods(source, methods, suffixes) -> None:
    with_ids = [(name, parts, sfx) for (name, parts), sfx in zip(methods.items(), suffixes,
                                                                  strict=True)
                if parts["ids"] is not None]
    if len(with_ids) < 2:
        return
    import pandas as pd  # lazily: a plain file is read without pandas (CLI start-up)

    ids = np.concatenate([parts["ids"].astype(object) for _, parts, _ in with_ids])
    labels = np.concatenate([parts["labels"] for _, parts, _ in with_ids])
    where = [(sfx, i) for _, parts, sfx in with_ids for i in range(parts["labels"].size)]
    conflict = label_conflict(pd.factorize(ids)[0], labels)
    if conflict is not None:
        k, j = conflict
        raise file_error(source, f"id {ids[k]!s} has label {labels[k]} in labels{where[k][0]}"
                     f"[{where[k][1]}] but label {labels[j]} in labels{where[j][0]}"
                     f"[{where[j][1]}]; {SAME_LABEL}")
