"""Command line: ``monitor`` (a stream of predictions watched batch by batch, with the drift and
accuracy alarms of ``uqviz.monitor``) and ``estimate`` (the accuracy of an unlabelled
predictions file estimated from a labelled reference, ``uqviz.metrics.label_free``).

Both read predictions files in the exchange format (``uqviz.exchange``) and import no torch.
The batch of each row comes from ``--batch-size`` (file order) or ``--batch-column``:
``group`` (the format's own column), or any other column of a CSV or Parquet file (e.g.
``batch`` or ``time``; read here, the exchange reader ignores it) or array of an NPZ file,
matched to the rows by ``id`` when the file has ids, else by position.
``--score`` takes a probability score or a logit or feature score (``energy``, ``knn`` …, from
an NPZ file's ``logits`` and ``features``); a score the files cannot give is one line saying
what is missing (``uqviz.monitor.score_unavailable``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np


class MonitorInputError(ValueError):
    """A user error in ``monitor`` or ``estimate``: ``uqviz.__main__.main`` prints it as one
    line and exits with code 2, like its ``CliError`` (not imported here: no import cycle)."""


def _cli_error(message: str) -> Exception:
    return MonitorInputError(message)


def _note(text: str) -> None:
    """One line on stderr (these commands draw no progress bar)."""
    print(text, file=sys.stderr)


def _read_file(path: str, *, drop_invalid: bool = False, softmax: bool = False,
               quiet_columns: tuple[str, ...] = ()):
    """``read_predictions`` as the other file commands read it (``uqviz.__main__._read``),
    the warning about a column read here (the batch column) left out."""
    from uqviz.exchange import read_predictions

    loaded = read_predictions(path, drop_invalid=drop_invalid, logits_to_probs=softmax)
    for warning in loaded.warnings:
        if quiet_columns and warning.startswith("ignored columns") and all(
                c in warning for c in quiet_columns) and warning.count(",") == 0:
            continue
        _note(f"warning: {warning}")
    return loaded


def _pick_method(loaded, method: str | None, flag: str, file: str):
    name = method or next(iter(loaded.by_method))
    if name not in loaded.by_method:
        raise _cli_error(f"{file}: no method {name!r} ({flag}); methods: "
                         f"{', '.join(loaded.by_method)}")
    return loaded.by_method[name]


def _reference(path: str, method: str | None, args):
    loaded = _read_file(path, drop_invalid=args.drop_invalid, softmax=args.softmax)
    reference = _pick_method(loaded, method, "--method", Path(path).name)
    labelled = reference.labels >= 0
    if labelled.sum() < 2:
        raise _cli_error(f"--reference {Path(path).name}: needs at least 2 rows with a label "
                         f"(0..C-1), found {int(labelled.sum())}")
    return reference


def _truth(predictions) -> np.ndarray:
    """(N,) float: 1/0 where correctness is known (a label, or an OOD row: wrong), NaN else."""
    known = (predictions.labels >= 0) | predictions.is_ood
    correct = (predictions.predicted == predictions.labels).astype(float)
    return np.where(known, np.where(predictions.labels >= 0, correct, 0.0), np.nan)


def _clean(value):
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def cmd_estimate(args: argparse.Namespace) -> int:
    """``estimate FILE --reference REF``: every label-free estimator with its interval."""
    from uqviz.metrics.label_free import ESTIMATORS, estimate_accuracy, fit_reference

    if not 0 < args.level < 1:
        raise _cli_error(f"--level must be between 0 and 1, got {args.level}")
    if args.n_boot < 2:
        raise _cli_error(f"--n-boot must be at least 2, got {args.n_boot}")
    names = [e.strip() for e in args.estimators.split(",") if e.strip()]
    unknown = [e for e in names if e not in ESTIMATORS]
    if unknown or not names:
        raise _cli_error(f"--estimators: unknown {', '.join(unknown) or '(none given)'}; "
                         f"valid: {', '.join(ESTIMATORS)}")
    reference = _reference(args.reference, args.method, args)
    target = _pick_method(_read_file(args.file, drop_invalid=args.drop_invalid,
                                     softmax=args.softmax), args.method, "--method",
                          Path(args.file).name)
    if target.num_classes != reference.num_classes:
        raise _cli_error(f"{Path(args.file).name} has {target.num_classes} classes and "
                         f"--reference {Path(args.reference).name} {reference.num_classes}")
    labelled = reference.select(reference.labels >= 0)
    fitted = fit_reference(labelled.mean_probs, labelled.labels, n_boot=args.n_boot,
                           seed=args.seed,
                           with_temperature=any(ESTIMATORS[e].temperature for e in names))
    result = estimate_accuracy(fitted, target.mean_probs, estimators=names, level=args.level,
                               seed=args.seed + 1, target_correct=_truth(target))
    doc = {"file": Path(args.file).name, "reference": Path(args.reference).name,
           "method": target.method, **result.to_dict()}
    if args.json:
        print(json.dumps(_clean(doc)))
        return 0
    truth = ("" if result.n_true == 0 else
             f"; true accuracy {result.true_accuracy:.4f} on {result.n_true} rows")
    print(f"{doc['file']} ({result.n_target} rows) against {doc['reference']} "
          f"({result.n_reference} labelled rows, accuracy {result.reference_accuracy:.4f})"
          f"{truth}")
    for e in result.estimates:
        print(f"  {ESTIMATORS[e.estimator].label:<13} {e.estimate:.4f}  "
              f"[{e.low:.4f}, {e.high:.4f}]  ({100 * e.level:.0f}% interval)")
    return 0


def _policy(path: str) -> dict:
    """The fields ``monitor`` takes from a referral policy (``referral --out``): method,
    score, threshold and the guarantee's target accuracy."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _cli_error(f"--policy {Path(path).name}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _cli_error(f"--policy {Path(path).name}: not a readable JSON policy "
                         f"({' '.join(str(err).split())})") from None
    if not isinstance(doc, dict):
        raise _cli_error(f"--policy {Path(path).name}: must hold a JSON object, got "
                         f"{type(doc).__name__}")
    threshold = doc.get("threshold")
    if threshold is not None and not isinstance(threshold, int | float):
        raise _cli_error(f"--policy {Path(path).name}: threshold must be a number, got "
                         f"{threshold!r}")
    guarantee = doc.get("guarantee") if isinstance(doc.get("guarantee"), dict) else {}
    return {"method": doc.get("method"), "score": doc.get("score"), "threshold": threshold,
            "target_accuracy": guarantee.get("target_accuracy", doc.get("target_accuracy"))}


def _column_values(path: str, column: str, predictions) -> np.ndarray:
    """(N,) values of a file's ``column`` for the rows of ``predictions`` (module docstring)."""
    name, suffix = Path(path).name, Path(path).suffix.lower()
    if column == "group":
        return predictions.group.astype(str)
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            if column not in data.files:
                raise _cli_error(f"--batch-column {column}: {name} has no array {column!r} "
                                 f"(arrays: {', '.join(data.files)})")
            values = np.asarray(data[column])
        if values.shape != (predictions.n,):
            raise _cli_error(f"--batch-column {column}: {name} array {column} has shape "
                             f"{values.shape}, expected ({predictions.n},)")
        return values
    import pandas as pd

    try:
        if suffix == ".csv":
            header = pd.read_csv(path, nrows=0).columns.str.strip().tolist()
        else:
            import pyarrow.parquet as pq

            header = [c.strip() for c in pq.ParquetFile(path).schema_arrow.names]
    except Exception as err:  # the reader already opened it: this is unexpected
        raise _cli_error(f"{name}: cannot read its header ({err})") from None
    if column not in header:
        raise _cli_error(f"--batch-column {column}: {name} has no column {column!r} "
                         f"(columns: {', '.join(header)})")
    wanted = [c for c in ("id", "method", "sample", column) if c in header]
    table = (pd.read_csv(path, usecols=lambda c: c.strip() in wanted, dtype=str,
                         keep_default_na=False) if suffix == ".csv"
             else pd.read_parquet(path, columns=wanted).astype(str))
    table.columns = [c.strip() for c in table.columns]
    if "method" in table:
        table = table[table["method"].str.strip() == predictions.method]
    if "sample" in table:
        table = table[pd.to_numeric(table["sample"], errors="coerce").fillna(0) == 0]
    raw = table[column].str.strip()
    if (raw == "").any() or (raw.str.lower() == "nan").any():
        raise _cli_error(f"--batch-column {column}: {name} has empty {column} values")
    numbers = pd.to_numeric(raw, errors="coerce")
    values = numbers.to_numpy(float) if numbers.notna().all() else raw.to_numpy(str)
    if predictions.ids is not None and "id" in table:
        by_id = dict(zip(table["id"].str.strip(), values, strict=True))
        try:
            return np.array([by_id[str(i)] for i in predictions.ids])
        except KeyError as err:
            raise _cli_error(f"--batch-column {column}: no {column} for id {err}") from None
    if len(values) != predictions.n:
        raise _cli_error(f"--batch-column {column}: {len(values)} values for {predictions.n} "
                         "rows (rows dropped? give the file an id column)")
    return values


def cmd_monitor(args: argparse.Namespace) -> int:
    """``monitor FILE --reference REF``: one row per batch and the first alarm."""
    from uqviz.metrics.label_free import ESTIMATORS
    from uqviz.metrics.ood_scores import LOGIT_FEATURE_SCORES
    from uqviz.metrics.scores import UNCERTAINTY_SCORES
    from uqviz.monitor import monitor_stream, score_unavailable

    if not 0 < args.alpha < 1:
        raise _cli_error(f"--alpha must be between 0 and 1, got {args.alpha}")
    if (args.batch_size is None) == (args.batch_column is None):
        raise _cli_error("give --batch-size B or --batch-column C (one of the two)")
    if args.batch_size is not None and args.batch_size < 1:
        raise _cli_error(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.estimator not in ESTIMATORS:
        raise _cli_error(f"--estimator must be one of {', '.join(ESTIMATORS)}, got "
                         f"{args.estimator!r}")
    policy = _policy(args.policy) if args.policy else {}
    method = args.method or policy.get("method")
    score = args.score or policy.get("score") or "max_prob"
    if score not in UNCERTAINTY_SCORES and score not in LOGIT_FEATURE_SCORES:
        raise _cli_error(f"--score must be one of "
                         f"{', '.join([*UNCERTAINTY_SCORES, *LOGIT_FEATURE_SCORES])}, got "
                         f"{score!r}")
    threshold = args.threshold if args.threshold is not None else policy.get("threshold")
    target = (args.target_accuracy if args.target_accuracy is not None
              else policy.get("target_accuracy"))
    if target is not None and not 0 < target <= 1:
        raise _cli_error(f"--target-accuracy must be in (0, 1], got {target}")
    reference = _reference(args.reference, method, args)
    quiet = (args.batch_column,) if args.batch_column not in (None, "group") else ()
    loaded = _read_file(args.file, drop_invalid=args.drop_invalid, softmax=args.softmax,
                        quiet_columns=quiet)
    stream = _pick_method(loaded, method, "--method", Path(args.file).name)
    if stream.num_classes != reference.num_classes:
        raise _cli_error(f"{Path(args.file).name} has {stream.num_classes} classes and "
                         f"--reference {Path(args.reference).name} {reference.num_classes}")
    why = score_unavailable(reference, stream, score)
    if why is not None:
        raise _cli_error(f"--score {score}: {why} (reference {Path(args.reference).name}, "
                         f"stream {Path(args.file).name})")
    labels = (None if args.batch_column is None
              else _column_values(args.file, args.batch_column, stream))
    try:
        result = monitor_stream(reference, stream, score=score, batch_size=args.batch_size,
                                batch_labels=labels, threshold=threshold,
                                target_accuracy=target, alpha=args.alpha,
                                estimator=args.estimator, n_boot=args.n_boot, seed=args.seed)
    except ValueError as err:
        raise _cli_error(f"{Path(args.file).name}: {err}") from None
    doc = {"file": Path(args.file).name, "reference": Path(args.reference).name,
           "method": stream.method, **result.to_dict()}
    if args.json:
        print(json.dumps(_clean(doc)))
        return 0
    print(f"{doc['file']}: {len(result.batch_names)} batches, score {score}, estimator "
          f"{ESTIMATORS[args.estimator].label}, alpha {args.alpha}")
    if result.score_settings or result.n_score_fit:
        settings = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                             for k, v in result.score_settings.items())
        fitted = (f"; fitted on {result.n_score_fit} reference rows, calibrated on the other "
                  f"{result.n_calibration}" if result.n_score_fit else "")
        print(f"score settings: {settings or 'none'}{fitted}")
    print(f"{'batch':>12} {'n':>6} {'referred':>9} {'conf':>6} {'est. acc':>9} "
          f"{'interval':>15} {'true':>6} {'OOD':>6} {'log10 S':>8} {'acc. bounds':>13}")
    for row in doc["batches"]:
        def f(v, spec=".3f"):
            return "-" if v is None else format(v, spec)
        lo, hi = row["estimate_interval"]
        blo, bhi = row["accuracy_bounds"]
        flags = ("D" if row["drift_alarm"] else " ") + ("A" if row["accuracy_alarm"] else " ")
        print(f"{row['batch']:>12} {row['n']:>6} {f(row['referred_share']):>9} "
              f"{f(row['mean_confidence']):>6} {f(row['estimated_accuracy']):>9} "
              f"[{f(lo)}, {f(hi)}] {f(row['true_accuracy']):>6} {f(row['ood_share']):>6} "
              f"{f(row['drift_log10_martingale'], '.2f'):>8} [{f(blo)}, {f(bhi)}] {flags}")
    print(f"first alarm: {doc['first_alarm'] or 'none'}")
    return 0


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="predictions file: CSV, Parquet or NPZ (exchange format); "
                                "labels optional (then the true accuracy is shown too)")
    p.add_argument("--reference", required=True,
                   help="labelled predictions of the same model on reference data (the "
                        "calibration part)")
    p.add_argument("--method", default=None, help="the method (default: the file's first)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples (interval)")
    p.add_argument("--seed", type=int, default=0, help="seeds the bootstrap and p-values")
    p.add_argument("--drop-invalid", action="store_true",
                   help="drop rows with NaN/inf values (counted in a warning)")
    p.add_argument("--softmax", action="store_true",
                   help="the p_* columns hold logits: apply a softmax")


def add_estimate_parser(sub) -> None:
    p = sub.add_parser("estimate", help="accuracy of a predictions file without its labels, "
                                        "from a labelled reference: AC, DoC, ATC and the same "
                                        "after temperature scaling, each with an interval")
    _add_common(p)
    p.add_argument("--estimators", default="ac,doc,atc_mc,atc_ne,ac_ts,doc_ts,atc_mc_ts,"
                                           "atc_ne_ts", help="comma-separated")
    p.add_argument("--level", type=float, default=0.95, help="the intervals' level")
    p.set_defaults(func=cmd_estimate)


def add_monitor_parser(sub) -> None:
    p = sub.add_parser("monitor", help="watch a stream of predictions batch by batch: referred "
                                       "share, confidence, estimated accuracy, OOD share, a "
                                       "drift alarm and an accuracy alarm (false alarm "
                                       "probability <= alpha over the whole stream)")
    _add_common(p)
    p.add_argument("--score", default=None,
                   help="the score for referral, OOD flags and the drift test: a probability "
                        "score (max_prob, margin, entropy, …) or, from an NPZ file's 'logits' "
                        "and 'features', max_logit, energy, gen, knn, vim, mahalanobis, "
                        "relative_mahalanobis (the fitted ones fitted on half the reference's "
                        "labelled rows, never on the stream); default: the policy's, else "
                        "max_prob")
    p.add_argument("--policy", default=None,
                   help="a referral policy JSON (referral --out): method, score, threshold "
                        "and target accuracy")
    p.add_argument("--threshold", type=float, default=None,
                   help="refer uncertainty > threshold (overrides the policy's)")
    p.add_argument("--target-accuracy", type=float, default=None,
                   help="the accuracy alarm's target (overrides the policy's)")
    p.add_argument("--batch-size", type=int, default=None, help="rows per batch (file order)")
    p.add_argument("--batch-column", default=None,
                   help="one batch per value of this column (group, batch, time…), sorted")
    p.add_argument("--alpha", type=float, default=0.05,
                   help="probability of ever raising a false alarm (each alarm)")
    p.add_argument("--estimator", default="atc_mc", help="label-free estimator (default "
                                                         "atc_mc)")
    p.set_defaults(func=cmd_monitor)
