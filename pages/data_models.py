"""Data & models: sample images per class, split sizes, train or load the methods."""

from uqviz.ui.frame import require_frame

require_frame()  # before the heavy imports: see uqviz/ui/frame.py

import pandas as pd
import streamlit as st

from uqviz.ui.backend import (
    PREDICTIONS_FILE,
    YOUR_MODEL,
    DatasetUnavailable,
    dataset_spec,
    dataset_splits,
    ensure_comparison,
    missing_methods,
)
from uqviz.ui.catalog import METHODS
from uqviz.ui.images import tile_images, upscale_for_display
from uqviz.ui.state import current_dataset, current_methods, current_source, method_label

PER_CLASS = 10

st.title("Data & models")
dataset, methods, src = current_dataset(), current_methods(), current_source()
if src.kind == PREDICTIONS_FILE:
    st.info(f"{src.label} holds a model's predictions only, so there are no images "
            "to show or models to train. The analysis pages work on it.")
    st.stop()
if src.kind == YOUR_MODEL:
    st.info(f"{src.label} is your own model: nothing to train here. Its images, "
            "sizes and methods are on the 'Your model' page; the analysis pages work on it.")
    st.stop()
spec = dataset_spec(dataset)
st.markdown(f"**{dataset}** — {spec.description}  \nSource: {spec.source}; input "
            f"{spec.input_shape[0]}×{spec.input_shape[1]}×{spec.input_shape[2]}, "
            f"{spec.num_classes} classes.")
try:
    data = dataset_splits(dataset)
except DatasetUnavailable as err:
    st.error(f"{err}\n\nPick digits or mnist5k in the sidebar to work offline.")
    st.stop()

sizes = data.sizes
cols = st.columns(3)
for col, (name, n) in zip(cols, sizes.items(), strict=True):
    col.metric(f"{name} images", f"{n:,}")

st.subheader("Samples per class")
st.caption(f"Each row shows {PER_CLASS} training images of one class, as the model sees them.")
grid = tile_images(data.examples_per_class(PER_CLASS, spec.num_classes), PER_CLASS,
                   scale=upscale_for_display(spec.input_shape[1]))
st.image(grid, caption=" · ".join(f"row {i + 1}: {n}" for i, n in enumerate(spec.class_names)))

st.subheader("Methods")
st.dataframe(pd.DataFrame([{"method": method_label(m), "samples": "S > 1" if METHODS[m].stochastic
                            else "S = 1", "what it does": METHODS[m].description}
                           for m in methods]), hide_index=True, width="stretch")
todo = missing_methods(dataset, methods)
if todo:
    st.info(f"Not trained yet: {', '.join(method_label(m) for m in todo)}.")
    if st.button("Train now", type="primary"):
        if ensure_comparison(dataset, methods) is not None:
            st.success("Trained and cached: the analysis pages open instantly now.")
else:
    st.success("Every selected method is trained and its predictions are cached on disk; "
               "a second visit loads them instantly.")
