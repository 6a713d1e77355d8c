"""What the exchange format calls things: the file suffixes, the class column prefixes, the
optional columns and the method name of a file without one."""

from __future__ import annotations

DEFAULT_METHOD = "default"
FILE_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".npz": "npz"}
CLASSES_SIDECAR_SUFFIX = ".classes.json"
PROB_PREFIX = "p_"
LOGIT_PREFIX = "logit_"
OPTIONAL_COLUMNS = ("id", "method", "sample", "group", "is_ood")
