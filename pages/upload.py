"""Your predictions: upload a model's outputs and analyse them on every page."""

from uqviz.ui.frame import require_frame

require_frame()  # before the heavy imports: see uqviz/ui/frame.py

import pandas as pd
import streamlit as st

from uqviz.ui.files import (
    FileSource,
    PredictionsFileError,
    read_predictions_bytes,
    register_upload,
)
from uqviz.ui.state import select_dataset

st.title("Your predictions")
st.markdown(
    "Upload your own model's outputs and every analysis page (compare, referral, conformal) "
    "works on them — no training here. One row per example (and per stochastic sample): "
    "`label` (−1 or empty when unknown), `p_0 … p_{C-1}` probabilities **or** "
    "`logit_0 … logit_{C-1}`, optional `id`, `sample`, `method`, `group`, `is_ood`. "
    "With an `id` column the rows may come in any order: the samples are aligned on it. "
    "Or NPZ with `probs` (N, C) or (S, N, C) and `labels` (N,)."
)
left, right = st.columns([2, 1])
upload = left.file_uploader("Predictions file", type=["csv", "parquet", "npz"],
                            key="upload_file",
                            help="CSV, Parquet or NPZ in the exchange format above.")
names = right.file_uploader("Class names (optional JSON list)", type=["json"],
                            key="upload_classes")
as_logits = right.checkbox("The p_* columns hold logits: apply a softmax", key="upload_softmax")
drop_invalid = right.checkbox("Drop rows with NaN or inf (they are counted)", key="upload_drop")

if upload is None:
    st.info("No file yet. Try one written by `python -m uqviz evaluate --out DIR` "
            "(DIR/predictions.parquet).")
    st.stop()

class_names = None
if names is not None:
    import json

    try:
        class_names = json.loads(names.getvalue())
        if not isinstance(class_names, list):
            raise ValueError(f"expected a JSON list of names, got {type(class_names).__name__}")
    except ValueError as err:
        st.error(f"{names.name}: {err}. Give a JSON list such as [\"cat\", \"dog\"].")
        st.stop()

data = upload.getvalue()
try:
    loaded = read_predictions_bytes(data, upload.name, drop_invalid=drop_invalid,
                                    logits_to_probs=as_logits, class_names=class_names)
except PredictionsFileError as err:
    st.error(f"{err}")
    st.caption("Nothing was loaded. Fix the file (or tick an option above if the message "
               "suggests it) and upload it again.")
    st.stop()

options = repr((as_logits, drop_invalid, class_names)).encode()
source = FileSource.from_bytes(upload.name, data + options, loaded)
name = register_upload(source)
for warning in loaded.warnings:
    st.warning(warning)
st.success(f"Read {loaded.num_rows:,} rows of {upload.name}.")
summary = []
for method, p in loaded.by_method.items():
    groups = pd.Series(p.group.astype(str)).value_counts()
    summary.append({"method": method, "examples": p.n, "samples S": p.num_samples,
                    "classes": p.num_classes, "labelled": int((p.labels >= 0).sum()),
                    "out-of-distribution": int(p.is_ood.sum()),
                    "groups": ", ".join(f"{g} ({c:,})" for g, c in groups.head(6).items())})
st.dataframe(pd.DataFrame(summary), hide_index=True, width="stretch")
st.button(f"Analyse {source.label}", type="primary", on_click=select_dataset,
          args=(name,), key="upload_use")
st.caption("The file becomes a dataset in the sidebar; pages that need images or a model say "
           "so instead.")
