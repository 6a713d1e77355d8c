"""Embedding map: where do uncertain, wrong, corrupted and unfamiliar images lie?"""

from uqviz.ui.frame import require_frame

require_frame()  # before the heavy imports: see uqviz/ui/frame.py

import streamlit as st

from uqviz.plots.embedding import COLORINGS, selected_rows
from uqviz.ui.backend import ensure_comparison, source
from uqviz.ui.catalog import UNCERTAINTY_SCORES
from uqviz.ui.embedding_backend import (
    MAP_KINDS,
    listing_column_config,
    map_caption,
    map_figure,
    methods_sharing_map,
    no_features_message,
    pca_map,
    selection_caption,
    selection_listing,
    shared_map_caption,
    table_scores,
    umap_file,
    umap_ready,
    umap_status,
)
from uqviz.ui.state import current_dataset, current_methods, method_label

LIST_LIMIT = 200

st.title("Embedding map")
st.caption("Each dot is one image placed by the network's penultimate-layer features: images "
           "the network sees as alike lie close together.")
st.markdown("Clean test images of one class form a cluster; corrupted and out-of-distribution "
            "images drift between clusters or into their own region. Colour by uncertainty "
            "to see whether the method flags exactly those regions, then box- or "
            "lasso-select dots to list their images.")
dataset, methods = current_dataset(), current_methods()
comp = ensure_comparison(dataset, methods)
if comp is None:
    st.stop()
with_features = [m for m in methods if comp.studies[m].predictions.features is not None]
if not with_features:
    src = source(dataset)
    st.info(no_features_message(src.label, src.kind))
    st.stop()

c1, c2, c3 = st.columns(3)
method = c1.selectbox("Method", with_features, key="embed_method", format_func=method_label)
coloring = c2.selectbox("Colour by", list(COLORINGS), key="embed_color",
                        format_func=lambda k: COLORINGS[k].label)
scores = table_scores(comp.studies[method].num_samples)
score = c3.selectbox("Uncertainty score", scores, key="embed_score",
                     index=scores.index("entropy"),
                     format_func=lambda k: UNCERTAINTY_SCORES[k].label,
                     help="Colours the map when colouring by uncertainty; orders and scores "
                          "the list of selected images.")

path = str(umap_file(dataset, method))
if (shared := shared_map_caption(method, methods_sharing_map(dataset, method, with_features))):
    st.caption(shared)
umap = umap_ready(path)
try:
    if umap is None:
        emb = pca_map(dataset, method)  # checks the features first: no job for bad features
        umap_status(dataset, method, path)
    else:
        kind = st.radio("Map", ["umap", "pca"], key="embed_kind", horizontal=True,
                        format_func=MAP_KINDS.get)
        emb = umap if kind == "umap" else pca_map(dataset, method)
except ValueError as err:
    st.error(f"Cannot map {method_label(method)}'s features: {err}")
    st.stop()

fig = map_figure(dataset, method, emb, coloring, score)
st.caption(map_caption(coloring))
event = st.plotly_chart(fig, theme=None, key=f"embed_chart_{method}_{emb.kind}",
                        on_select="rerun", selection_mode=("box", "lasso"))

chosen = selected_rows(((event or {}).get("selection") or {}).get("points", []), fig)
if len(chosen) == 0:
    st.caption("Select dots on the map (box or lasso) to list their images here.")
    st.stop()
st.subheader(f"{len(chosen):,} selected images")
st.caption(selection_caption(len(chosen), score, LIST_LIMIT))
listing, no_thumbnails = selection_listing(dataset, method, chosen, score, LIST_LIMIT)
if no_thumbnails:
    st.info(no_thumbnails)
st.dataframe(listing, hide_index=True, width="stretch", key="embed_selection",
             row_height=None if no_thumbnails else 40,
             column_config=listing_column_config(score))
