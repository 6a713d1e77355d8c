"""Embedding map: where do uncertain, wrong, corrupted and unfamiliar images lie?"""

from uqviz.ui.frame import require_frame

require_frame()  # before the heavy imports: see uqviz/ui/frame.py

import time

import streamlit as st

from uqviz.plots.embedding import COLORINGS, embedding_figure, selected_rows
from uqviz.ui.backend import YOUR_MODEL, ensure_comparison, source
from uqviz.ui.catalog import UNCERTAINTY_SCORES
from uqviz.ui.embedding_backend import (
    category_order,
    forget_umap_job,
    hover_texts,
    pca_map,
    points,
    selection_listing,
    start_umap,
    table_scores,
    umap_file,
    umap_ready,
)
from uqviz.ui.state import current_dataset, current_methods, method_label

POLL_SECONDS = 2.0
LIST_LIMIT = 200


@st.fragment(run_every=POLL_SECONDS)
def umap_status(dataset: str, method: str, path: str) -> None:
    """Polls until the background UMAP file appears, then reruns the page to show it."""
    if umap_ready(path) is not None:
        st.rerun()
    job = start_umap(dataset, method, path)
    code = job.returncode()
    if code not in (None, 0) or (code == 0 and umap_ready(path) is None):
        st.warning(f"The UMAP computation stopped (exit code {code}): {job.last_line()}")
        if st.button("Try again", key="embed_retry"):
            forget_umap_job(dataset, method, path)
            st.rerun()
        return
    st.info(f"Computing the UMAP map in the background: {time.time() - job.started:.0f} s so "
            "far (about a minute the first time, while numba compiles; seconds after that). "
            "The PCA map is shown meanwhile; the page switches by itself.",
            icon=":material/hourglass_top:")


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
src = source(dataset)
if not with_features and src.kind == YOUR_MODEL:
    st.info(f"{src.label}: your model gives no penultimate-layer features, so there "
            "is nothing to map. Set \"features_output\" in its model.json (or the form on the "
            "'Your model' page) and add it again.")
    st.stop()
if not with_features:
    st.info(f"{src.label} holds no penultimate-layer features, so there is "
            "nothing to map. The map needs a model's features: choose a built-in dataset "
            "(digits or mnist5k) in the sidebar.")
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
same = [m for m in with_features if m != method and str(umap_file(dataset, m)) == path]
if same:
    names = [method_label(m) for m in same]
    joined = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    st.caption(f"{joined} {'uses' if len(names) == 1 else 'use'} the same network's features "
               f"as {method_label(method)} (an ensemble shows its first member's), so the map "
               "is the same; only the colours by uncertainty and prediction differ.")
umap = umap_ready(path)
try:
    if umap is None:
        emb = pca_map(dataset, method)  # checks the features first: no job for bad features
        umap_status(dataset, method, path)
    else:
        kind = st.radio("Map", ["umap", "pca"], key="embed_kind", horizontal=True,
                        format_func={"umap": "UMAP (neighbourhoods)", "pca": "PCA (linear)"}.get)
        emb = umap if kind == "umap" else pca_map(dataset, method)
except ValueError as err:
    st.error(f"Cannot map {method_label(method)}'s features: {err}")
    st.stop()

table = points(dataset, method).iloc[emb.rows]
value_column = score if coloring == "uncertainty" else coloring
color_title = UNCERTAINTY_SCORES[score].label if coloring == "uncertainty" else \
    COLORINGS[coloring].label
axes = (("UMAP 1", "UMAP 2") if emb.explained is None else
        tuple(f"PC {i + 1} ({v:.0%} of variance)" for i, v in enumerate(emb.explained)))
fig = embedding_figure(
    emb.coords, emb.rows, values=table[value_column].to_numpy(), coloring=coloring,
    color_title=color_title, hover_text=hover_texts(dataset, method)[emb.rows],
    categories=category_order(comp.studies[method].predictions, coloring), axis_titles=axes,
    title=f"{emb.kind.upper()} of {method_label(method)}'s features · {emb.n:,} images")
st.caption(f"Colour: {COLORINGS[coloring].meaning}. Hover a dot for its set, label, "
           "prediction and scores; drag a box or lasso to list the images.")
event = st.plotly_chart(fig, theme=None, key=f"embed_chart_{method}_{emb.kind}",
                        on_select="rerun", selection_mode=("box", "lasso"))

chosen = selected_rows(((event or {}).get("selection") or {}).get("points", []), fig)
if len(chosen) == 0:
    st.caption("Select dots on the map (box or lasso) to list their images here.")
    st.stop()
st.subheader(f"{len(chosen):,} selected images")
st.caption(f"Most uncertain first by {UNCERTAINTY_SCORES[score].label.lower()}"
           + (f"; the first {LIST_LIMIT} shown." if len(chosen) > LIST_LIMIT else "."))
listing, no_thumbnails = selection_listing(dataset, method, chosen, score, LIST_LIMIT)
if no_thumbnails:
    st.info(no_thumbnails)
st.dataframe(listing, hide_index=True, width="stretch", key="embed_selection",
             row_height=None if no_thumbnails else 40, column_config={
                 "Image": st.column_config.ImageColumn("Image", width="small"),
                 "Confidence": st.column_config.ProgressColumn(format="percent", min_value=0,
                                                               max_value=1),
                 "Score": st.column_config.NumberColumn(UNCERTAINTY_SCORES[score].label,
                                                        format="%.3f")})
