"""``write_predictions``: Predictions -> a table file (long format, one row per method × sample ×
example) or an NPZ file, written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from uqviz.exchange.checks import first_duplicate, label_conflict
from uqviz.exchange.layout import CLASSES_SIDECAR_SUFFIX, FILE_SUFFIXES, PROB_PREFIX
from uqviz.predictions import Predictions


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
        if p.ids is not None and first_duplicate(np.asarray(p.ids)) is not None:
            dup = np.asarray(p.ids)[first_duplicate(np.asarray(p.ids))]
            raise ValueError(f"by_method[{key!r}].ids repeats id {dup!s}; ids must be unique")
        if p.class_names is not None:
            if names is not None and tuple(p.class_names) != names:
                raise ValueError(f"methods disagree on class names: {names} vs "
                                 f"{tuple(p.class_names)}")
            names = tuple(p.class_names)
    if len(set(counts.values())) > 1:
        raise ValueError(f"every method needs the same number of classes, got {counts}")
    if len(by_method) > 1:
        import pandas as pd  # lazily: a plain file is read without pandas (CLI start-up)

        ids = [_ids_of(p) for p in by_method.values()]
        text = any(i.dtype.kind not in "iu" for i in ids)
        ids = np.concatenate([i.astype(str) if text else i for i in ids])
        labels = np.concatenate([p.labels for p in by_method.values()])
        method = np.repeat(np.arange(len(by_method)), [p.n for p in by_method.values()])
        conflict = label_conflict(pd.factorize(ids)[0], labels)
        if conflict is not None:
            k = conflict[0]
            raise ValueError(
                f"id {ids[k]} has label {labels[k]} in method {list(by_method)[method[k]]!r} but "
                f"another label in an earlier method; methods without ids are matched by "
                f"position (ids 0..N-1): give the Predictions ids"
            )
    return next(iter(counts.values())), names


def _ids_of(p: Predictions) -> np.ndarray:
    return np.arange(p.n, dtype=np.int64) if p.ids is None else np.asarray(p.ids)


def _long_table(by_method: Mapping[str, Predictions], num_classes: int) -> pa.Table:
    import pandas as pd  # lazily: a plain file is read without pandas (CLI start-up)

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
        if p.logits is not None:
            arrays[f"logits{suffix}"] = p.logits.astype(np.float32)
        if p.features is not None:
            arrays[f"features{suffix}"] = p.features.astype(np.float32)
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
    renamed (``os.replace``), so a reader never sees half a file. NPZ files also carry the
    logits and features when the Predictions have them; table files do not; extra scores are
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
        import pyarrow.parquet as pq  # lazily: a CSV is read without it (CLI start-up)

        _atomic_write(path, lambda f: pq.write_table(table, f))
    if names is not None:
        sidecar = path.with_name(path.name + CLASSES_SIDECAR_SUFFIX)
        text = json.dumps(list(names), ensure_ascii=False).encode("utf-8")
        _atomic_write(sidecar, lambda f: f.write(text))
    return path
