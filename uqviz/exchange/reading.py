"""The public readers: a path or an upload's bytes -> ``LoadedPredictions``, with the class
names from the argument, a sidecar JSON file or the NPZ file."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from uqviz.exchange.alignment import assemble
from uqviz.exchange.layout import CLASSES_SIDECAR_SUFFIX
from uqviz.exchange.messages import PredictionsFileError, file_error, one_line
from uqviz.exchange.npz import read_npz
from uqviz.exchange.source import SourceFile, file_kind
from uqviz.exchange.tables import read_csv, read_parquet
from uqviz.predictions import Predictions


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
        raise file_error(name, f"file not found ({path})")
    if path.is_dir():
        raise file_error(name, f"is a folder, not a file ({path})")
    kind = file_kind(name)
    try:
        with open(path, "rb"):
            pass
    except OSError as err:
        raise file_error(name, f"cannot read the file: {err.strerror or err}") from err
    sidecar = _sidecar_names(path, name) if class_names is None else None
    return _read(SourceFile(name, path, None), kind, drop_invalid, logits_to_probs,
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
    kind = file_kind(name)
    source = SourceFile(name, None, bytes(data))
    return _read(source, kind, drop_invalid, logits_to_probs, class_names, None)


def _read(source, kind, drop_invalid, logits_to_probs, class_names, sidecar) -> LoadedPredictions:
    try:
        size = source.size()
    except OSError as err:
        raise file_error(source.name, f"cannot read the file: {err.strerror or err}") from err
    if size == 0:
        raise file_error(source.name, "empty file (0 bytes)")
    if kind == "npz":
        methods, warnings, num_rows, embedded = read_npz(source, drop_invalid, logits_to_probs)
    else:
        table = read_csv(source) if kind == "csv" else read_parquet(source)
        methods, warnings, num_rows = assemble(table, drop_invalid, logits_to_probs)
        embedded = None
    num_classes = next(iter(methods.values()))["probs"].shape[2]
    names = _resolve_class_names(source.name, class_names, sidecar, embedded, num_classes)
    by_method = {}
    for method, parts in methods.items():
        by_method[method] = Predictions(**parts, method=method, class_names=names)
    return LoadedPredictions(by_method, tuple(warnings), source.name, int(num_rows))


def _sidecar_paths(path: Path) -> list[Path]:
    return [path.with_name(path.name + CLASSES_SIDECAR_SUFFIX),
            path.with_suffix(CLASSES_SIDECAR_SUFFIX)]


def _sidecar_names(path: Path, name: str) -> tuple[str, list] | None:
    for candidate in _sidecar_paths(path):
        if candidate.is_file():
            try:
                names = json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
                raise file_error(candidate.name,
                             f"not a readable JSON list of class names ({err})") from err
            if not isinstance(names, list) or not all(
                isinstance(x, str | int) and not isinstance(x, bool) for x in names
            ):
                raise file_error(candidate.name, f"must hold a JSON list of class names, got "
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
        raise PredictionsFileError(one_line(
            f"{where}: {len(names)} class names for {num_classes} classes in {source}"))
    return tuple(str(x) for x in names)
