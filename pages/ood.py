"""Out-of-distribution: does the uncertainty rise on inputs unlike the training data?"""

from uqviz.ui.frame import require_frame

require_frame()  # before the heavy imports: see uqviz/ui/frame.py

import numpy as np
import pandas as pd
import streamlit as st

from uqviz.data.ood import OOD_SETS, load_ood
from uqviz.metrics.bootstrap import bootstrap_ood_auroc_ci
from uqviz.metrics.ood import ood_detection
from uqviz.metrics.scores import UNCERTAINTY_SCORES, uncertainty
from uqviz.metrics.summary import OOD_SUMMARY_SCORES
from uqviz.plots import in_out_histogram_figure
from uqviz.predictions import OOD_PREFIX
from uqviz.ui.backend import (
    APP_PLAN,
    NoImages,
    bootstrap_resamples,
    dataset_spec,
    dataset_splits,
    display_sample,
    ensure_predictions,
    evaluation_rows,
    method_predictions,
    uncertainty_scores,
)
from uqviz.ui.files import display_name
from uqviz.ui.state import current_dataset, current_methods, method_label
from uqviz.ui.tables import format_cell

GALLERY_SIZE = 8
IMAGE_WIDTH = 110
PAD = 3  # px of white around each picture
TABLE_HELP = {
    "AUROC [95% CI]": "Chance that a random in-distribution image gets a lower score than a "
                      "random OOD image (0.5 = chance, 1 = perfect; higher is better). 95% "
                      "bootstrap interval; ★ marks the best.",
    "AUPR-in": "Average precision of finding the in-distribution images by low score "
               "(higher is better).",
    "AUPR-out": "Average precision of finding the OOD images by high score (higher is better).",
    "FPR95": "Share of OOD images let through when the threshold keeps 95% of the "
             "in-distribution images (lower is better).",
}


def ood_label(group: str) -> str:
    """``ood:gaussian_noise`` -> ``Gaussian noise``; unknown names as they are."""
    name = group.removeprefix(OOD_PREFIX)
    return OOD_SETS[name].label if name in OOD_SETS else name


def ood_groups(preds) -> list[str]:
    """The groups of OOD rows present in every method's predictions, in order of appearance."""
    first = next(iter(preds.values()))
    groups = [g for g in first.groups if first.is_ood[first.group == g].all()]
    return [g for g in groups if all(g in p.groups for p in preds.values())]


def table_scores(num_samples: int) -> list[str]:
    """max_prob and entropy; mutual information too when there are several samples."""
    return [s for s in OOD_SUMMARY_SCORES
            if num_samples > 1 or not UNCERTAINTY_SCORES[s].needs_samples]


@st.cache_resource(show_spinner=False, max_entries=64)
def ood_scores(dataset: str, method: str, group: str, score: str) -> np.ndarray:
    """(N_out,) uncertainty of the rows of ``group``, in their order in the predictions."""
    p = method_predictions(dataset, method)
    return uncertainty(p.probs[:, p.group == group], score)


@st.cache_resource(show_spinner=False, max_entries=16)
def ood_predicted(dataset: str, method: str, group: str) -> np.ndarray:
    p = method_predictions(dataset, method)
    return p.probs[:, p.group == group].mean(axis=0).argmax(axis=1)


@st.cache_data(show_spinner="Computing OOD detection metrics and bootstrap intervals…",
               max_entries=16)
def detection_table(dataset: str, methods: tuple[str, ...], group: str) -> pd.DataFrame:
    """One row per method × score: AUROC [95% CI] (★ on the best), AUPR-in/out, FPR95."""
    rows, aurocs = [], []
    for m in methods:
        for score in table_scores(method_predictions(dataset, m).num_samples):
            u_in = uncertainty_scores(dataset, m, score)
            u_out = ood_scores(dataset, m, group, score)
            result = ood_detection(u_in, u_out)
            lower, upper = bootstrap_ood_auroc_ci(
                u_in, u_out, n_resamples=bootstrap_resamples(u_in.size + u_out.size), seed=0)
            rows.append({"Method": method_label(m), "Score": UNCERTAINTY_SCORES[score].label,
                         "AUROC [95% CI]": (result.auroc, lower, upper),
                         "AUPR-in": result.aupr_in, "AUPR-out": result.aupr_out,
                         "FPR95": result.fpr95})
            aurocs.append(result.auroc)
    best = int(np.argmax(aurocs)) if len(rows) > 1 else -1
    for i, row in enumerate(rows):
        row["AUROC [95% CI]"] = format_cell(*row["AUROC [95% CI]"], best=i == best)
    return pd.DataFrame(rows)


@st.cache_resource(show_spinner="Regenerating the OOD images…", max_entries=4)
def ood_images(dataset: str, group: str) -> np.ndarray:
    """The images of an OOD group in the order of its rows (the run's seed and size)."""
    spec = dataset_spec(dataset)
    n = APP_PLAN.ood_size or len(dataset_splits(dataset).test_y)
    return load_ood(group.removeprefix(OOD_PREFIX), spec, n, APP_PLAN.seed).numpy()


def show_images(images: np.ndarray, index: np.ndarray, captions: list[str]) -> None:
    """One st.image element: the chosen images, nearest-neighbour upscaled."""
    if len(index) == 0:
        st.caption("none")
        return
    scale = max(1, (IMAGE_WIDTH - 2 * PAD) // images.shape[2])
    pictures = [np.clip(images[i], 0, 1).transpose(1, 2, 0).repeat(scale, 0).repeat(scale, 1)
                for i in index]
    pictures = [np.pad(p, ((PAD, PAD), (PAD, PAD), (0, 0)), constant_values=1.0)
                for p in pictures]  # a white frame keeps neighbouring tiles apart
    pictures = [p[..., 0] if p.shape[2] == 1 else p for p in pictures]
    st.image(pictures, caption=captions, width=IMAGE_WIDTH, clamp=True)


st.title("Out-of-distribution inputs")
st.caption("Images unlike anything in training (noise, photos, other digit sets) should get "
           "high uncertainty. Here: how well each score separates them from the clean test "
           "images.")
dataset, methods = current_dataset(), current_methods()
preds = ensure_predictions(dataset, methods)
if preds is None:
    st.stop()
groups = ood_groups(preds)
if not groups:
    st.info(f"{display_name(dataset)} has no out-of-distribution rows (is_ood=1, or a group "
            "starting with 'ood:'), so there is nothing to compare here. Add such rows to the "
            "file to use this page.")
    st.stop()

c1, c2 = st.columns(2)
group = c1.selectbox("Out-of-distribution set", groups, key="ood_set", format_func=ood_label)
score = c2.selectbox("Uncertainty score", list(OOD_SUMMARY_SCORES), key="ood_score",
                     index=list(OOD_SUMMARY_SCORES).index("entropy"),
                     format_func=lambda k: UNCERTAINTY_SCORES[k].label,
                     help=" ".join(f"{UNCERTAINTY_SCORES[s].label}: "
                                   f"{UNCERTAINTY_SCORES[s].meaning}"
                                   for s in OOD_SUMMARY_SCORES))
name = group.removeprefix(OOD_PREFIX)
n_in, n_out = evaluation_rows(dataset, methods[0]).n, int((preds[methods[0]].group == group).sum())
st.caption(f"{OOD_SETS[name].description if name in OOD_SETS else ''} In-distribution: "
           f"{n_in:,} clean test images; out-of-distribution: {n_out:,} images.".strip())

st.subheader("Scores in and out of distribution")
st.caption(f"Share of images per bin of {UNCERTAINTY_SCORES[score].label.lower()}: blue are "
           "clean test images, orange the OOD set. Little overlap means the score tells them "
           "apart.")
score_label = UNCERTAINTY_SCORES[score].label
for start in range(0, len(methods), 3):
    cols = st.columns(3)
    for col, m in zip(cols, methods[start:start + 3], strict=False):
        if score not in table_scores(preds[m].num_samples):
            col.caption(f"**{method_label(m)}**: one sample per image, so {score_label.lower()} "
                        "is zero everywhere; pick another score.")
            continue
        u_in = uncertainty_scores(dataset, m, score)
        u_out = ood_scores(dataset, m, group, score)
        fig = in_out_histogram_figure(
            u_in[display_sample(u_in.size)], u_out[display_sample(u_out.size)],
            score_label=score_label, method=m, in_name="Clean test", out_name=ood_label(group),
            title=method_label(m), height=360)
        fig.update_layout(legend=dict(orientation="h", x=0.0, y=-0.3, xanchor="left",
                                      yanchor="top"), margin=dict(b=90))
        fig.update_yaxes(title_text="Share of its group")
        col.plotly_chart(fig, theme=None, key=f"ood_hist_{m}")

st.subheader("Detection quality")
st.caption("Each row uses one score as an OOD detector (high score = flag as OOD). Hover a "
           "column name for its meaning; ★ marks the best AUROC.")
table = detection_table(dataset, tuple(methods), group)
st.dataframe(table, hide_index=True, width="stretch", height=35 * (len(table) + 1) + 3,
             key="ood_table", column_config={
                 "AUROC [95% CI]": st.column_config.TextColumn(help=TABLE_HELP["AUROC [95% CI]"]),
                 **{k: st.column_config.NumberColumn(help=v, format="%.3f")
                    for k, v in TABLE_HELP.items() if k != "AUROC [95% CI]"}})

try:
    test_x = dataset_splits(dataset).test_x.numpy()
except NoImages as err:
    st.info(f"{err}: the most and least uncertain images and the galleries of confidently "
            "wrong predictions need the images, so they are not shown.")
    st.stop()

st.subheader("Which OOD images fool the model?")
method = st.selectbox("Method", methods, key="ood_image_method", format_func=method_label)
if score not in table_scores(preds[method].num_samples):
    st.caption(f"{method_label(method)} has one sample per image: showing predictive entropy.")
image_score = score if score in table_scores(preds[method].num_samples) else "entropy"
u_out = ood_scores(dataset, method, group, image_score)
pred_out = ood_predicted(dataset, method, group)
names = preds[method].names
images = ood_images(dataset, group)
if len(images) != u_out.size:
    st.warning(f"The regenerated OOD set has {len(images):,} images for {u_out.size:,} rows; "
               "the images cannot be matched to their rows.")
else:
    order = np.argsort(u_out, kind="stable")
    label = UNCERTAINTY_SCORES[image_score].label
    st.caption(f"Sorted by {label.lower()} ({method_label(method)}). Each caption: the class "
               "the model predicts and the score u.")
    for title, index in [("Most uncertain (flagged as unfamiliar)", order[::-1][:GALLERY_SIZE]),
                         ("Least uncertain (taken for a known class)", order[:GALLERY_SIZE])]:
        st.markdown(f"**{title}**")
        show_images(images, index,
                    [f"pred {names[pred_out[i]]} · u={u_out[i]:.3f}" for i in index])

st.subheader("Clean test images: most uncertain and confidently wrong")
fallback = (" (predictive entropy for one-sample methods)"
            if UNCERTAINTY_SCORES[score].needs_samples else "")
st.caption(f"Per method, by {score_label.lower()}{fallback}. "
           "Confidently wrong: wrong predictions with the lowest uncertainty, the ones a "
           "threshold would not catch. ✓/✗: prediction right or wrong.")
tabs = st.tabs([method_label(m) for m in methods])
for tab, m in zip(tabs, methods, strict=True):
    with tab:
        rows = evaluation_rows(dataset, m)
        if len(test_x) != rows.n:
            st.warning(f"{len(test_x):,} test images for {rows.n:,} rows: cannot match them.")
            continue
        s = score if score in table_scores(rows.num_samples) else "entropy"
        u = uncertainty_scores(dataset, m, s)
        order = np.argsort(u, kind="stable")
        wrong = order[rows.predicted[order] != rows.labels[order]]
        for title, index in [("Most uncertain", order[::-1][:GALLERY_SIZE]),
                             (f"Confidently wrong ({wrong.size:,} wrong of {rows.n:,}; least "
                              "uncertain first)", wrong[:GALLERY_SIZE])]:
            st.markdown(f"**{title}**")
            show_images(test_x, index, [
                f"pred {rows.names[rows.predicted[i]]} "
                f"{'✓' if rows.predicted[i] == rows.labels[i] else '✗'} · true "
                f"{rows.names[rows.labels[i]]} · u={u[i]:.3f}" for i in index])
