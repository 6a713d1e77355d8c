"""The predictions exchange format: read a user's predictions file, write ours.

Table files (CSV or Parquet) hold one row per example and stochastic sample:

* ``label``: the true class 0..C-1; ``-1`` or empty when unknown (required column).
* ``p_0 … p_{C-1}`` probabilities, or ``logit_0 … logit_{C-1}`` logits (turned into
  probabilities by a softmax).
* optional ``id`` (row identifier), ``sample`` (0..S-1, default 0), ``method`` (default
  ``default``), ``group`` (default ``test``), ``is_ood`` (0/1; by default true for groups
  starting with ``ood:``).

Each method × sample must list the same examples. With an ``id`` column the rows may come in any
order (samples interleaved, rows shuffled): the samples of a method are matched on ``id`` and the
examples come back in ascending ``id`` order (see ``read_predictions``); each sample must list
every id of the method exactly once. Without an ``id`` column the samples are matched by
position, so every sample must list the examples in the same order. Other columns are ignored
with a warning.

NPZ files hold ``probs`` (N, C) or (S, N, C) (or ``logits``, turned into probabilities by a
softmax), ``labels`` (N,) and optional ``group`` (N,) strings, ``is_ood`` (N,), ``ids`` (N,),
``method`` (a string) and ``class_names`` (C,). ``logits`` (N, C) or (S, N, C) may also come
beside ``probs``, and ``features`` (N, D) penultimate-layer features: both are kept on the
``Predictions`` for the OOD scores from logits and features (``uqviz.metrics.ood_scores``);
rows of group ``fit`` are used only to fit those scores (class means, a feature bank), never
scored. Several methods: ``methods`` (M,) names and ``probs_<i>``, ``labels_<i>``,
``group_<i>``, ``is_ood_<i>``, ``ids_<i>``, ``logits_<i>``, ``features_<i>`` for the i-th
method. Strings must be saved as unicode arrays (files
are read with ``allow_pickle=False``).

Class names come from the ``class_names`` argument, else a JSON sidecar ``<file>.classes.json``
(e.g. ``preds.csv.classes.json``; ``preds.classes.json`` is also accepted) holding a list of C
names, else the NPZ ``class_names`` array.

Every problem raises ``PredictionsFileError`` with one line that names the file, the place and
the problem. Rows are numbered as in a spreadsheet: the header is row 1, the first data row is
row 2 (the line number in the CSV file when there are no blank lines or line breaks inside
quoted values). NPZ places are 0-based array indices such as ``probs[0, 16, 3]``.

The package, by job:

* ``reading``: ``read_predictions``, ``read_predictions_bytes``, ``LoadedPredictions``, class
  names (argument, sidecar, NPZ array);
* ``tables``: a CSV or Parquet file into columns (header, parsing numbers, text and ids);
* ``ordering``: the canonical id order and the sort of rows into (method, sample) blocks;
* ``alignment``: table rows into per-method arrays, the samples aligned on id;
* ``npz``: an NPZ file into per-method arrays;
* ``checks``: the checks that table and NPZ files share (probabilities, non-finite values, labels,
  is_ood flags, class counts and labels across methods, repeated ids);
* ``messages``: ``PredictionsFileError`` and the words that name a place in a file;
* ``writing``: ``write_predictions``;
* ``arrow``: Arrow columns of numbers into numpy without loading pandas;
* ``layout``, ``source``: the format's names; the file being read.

The package imports numpy, pandas and pyarrow only; pandas lazily, in the few places that need
it (a bad value, a repeated id, unsorted NPZ ids, writing), so that reading a file, as the
command line does, loads no pandas (its start-up: ``benchmarks/bench_cli_startup.py``).
"""

from uqviz.exchange.layout import CLASSES_SIDECAR_SUFFIX, DEFAULT_METHOD, FILE_SUFFIXES
from uqviz.exchange.messages import PredictionsFileError
from uqviz.exchange.reading import LoadedPredictions, read_predictions, read_predictions_bytes
from uqviz.exchange.writing import write_predictions

__all__ = [
    "CLASSES_SIDECAR_SUFFIX",
    "DEFAULT_METHOD",
    "FILE_SUFFIXES",
    "LoadedPredictions",
    "PredictionsFileError",
    "read_predictions",
    "read_predictions_bytes",
    "write_predictions",
]
