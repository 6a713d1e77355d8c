"""Out-of-distribution: does the uncertainty rise on inputs unlike the training data?"""

from uqviz.ui.frame import require_frame

require_frame()  # before the heavy imports: see uqviz/ui/frame.py

import streamlit as st

from uqviz.plots import in_out_histogram_figure
from uqviz.ui.backend import (
    NoImages,
    display_rows,
    ensure_comparison,
    ood_images,
    source_label,
    test_images,
)
from uqviz.ui.catalog import OOD_PREFIX, OOD_SETS, OOD_SUMMARY_SCORES, UNCERTAINTY_SCORES
from uqviz.ui.state import current_dataset, current_methods, method_label
from uqviz.ui.tables import ood_column_config, ood_frame
from uqviz.ui.widgets import case_captions, show_cases


def ood_label(group: str) -> str:
    """``ood:gaussian_noise`` -> ``Gaussian noise``; unknown names as they are."""
    name = group.removeprefix(OOD_PREFIX)
    return OOD_SETS[name].label if name in OOD_SETS else name


st.title("Out-of-distribution inputs")
st.caption("Images unlike anything in training (noise, photos, other digit sets) should get "
           "high uncertainty. Here: how well each score separates them from the clean test "
           "images.")
dataset, methods = current_dataset(), current_methods()
comp = ensure_comparison(dataset, methods)
if comp is None:
    st.stop()
groups = comp.ood_groups
if not groups:
    st.info(f"{source_label(dataset)} has no out-of-distribution rows (is_ood=1, or a group "
            "starting with 'ood:'), so there is nothing to compare here. Add such rows to the "
            "file to use this page.")
    st.stop()

c1, c2 = st.columns(2)
group = c1.selectbox("Out-of-distribution set", groups, key="ood_set", format_func=ood_label)
score = c2.selectbox("Uncertainty score", list(OOD_SUMMARY_SCORES), key="ood_score",
                     index=list(OOD_SUMMARY_SCORES).index("entropy"),
                     format_func=lambda k: UNCERTAINTY_SCORES[k].label,
                     help=" ".join(f"{UNCERTAINTY_SCORES[s].label}: "
                                   f"{UNCERTAINTY_SCORES[s].meaning}" for s in OOD_SUMMARY_SCORES))
name = group.removeprefix(OOD_PREFIX)
first = comp.studies[methods[0]]
st.caption(f"{OOD_SETS[name].description if name in OOD_SETS else ''} In-distribution: "
           f"{first.n:,} clean test images; out-of-distribution: "
           f"{first.group_uncertainty(group, 'entropy').size:,} images.".strip())

st.subheader("Scores in and out of distribution")
score_label = UNCERTAINTY_SCORES[score].label
st.caption(f"Share of images per bin of {score_label.lower()}: blue are clean test images, "
           "orange the OOD set. Little overlap means the score tells them apart.")
for start in range(0, len(methods), 3):
    cols = st.columns(3)
    for col, m in zip(cols, methods[start:start + 3], strict=False):
        s = comp.studies[m]
        if s.applicable_score(score) != score:
            col.caption(f"**{method_label(m)}**: one sample per image, so {score_label.lower()} "
                        "is zero everywhere; pick another score.")
            continue
        u_in, u_out = s.uncertainty(score), s.group_uncertainty(group, score)
        col.plotly_chart(in_out_histogram_figure(
            u_in[display_rows(u_in.size)], u_out[display_rows(u_out.size)],
            score_label=score_label, method=m, in_name="Clean test", out_name=ood_label(group),
            title=method_label(m), height=360, legend_below=True,
            y_title="Share of its group"), theme=None, key=f"ood_hist_{m}")

st.subheader("Detection quality")
st.caption("Each row uses one score as an OOD detector (high score = flag as OOD). Hover a "
           "column name for its meaning; ★ marks the best AUROC.")
table = ood_frame(*comp.ood_table(group))
st.dataframe(table, hide_index=True, width="stretch", height=35 * (len(table) + 1) + 3,
             key="ood_table", column_config=ood_column_config())

try:
    clean_images = test_images(dataset)
except NoImages as err:
    st.info(f"{err}: the most and least uncertain images and the galleries of confidently "
            "wrong predictions need the images, so they are not shown.")
    st.stop()

st.subheader("Which OOD images fool the model?")
method = st.selectbox("Method", methods, key="ood_image_method", format_func=method_label)
study = comp.studies[method]
image_score = study.applicable_score(score)
if image_score != score:
    st.caption(f"{method_label(method)} has one sample per image: showing predictive entropy.")
u_out, pred_out = study.group_uncertainty(group, image_score), study.group_predicted(group)
images = ood_images(dataset, group)
if len(images) != u_out.size:
    st.warning(f"The regenerated OOD set has {len(images):,} images for {u_out.size:,} rows; "
               "the images cannot be matched to their rows.")
else:
    most, least = study.group_extremes(group, image_score)
    st.caption(f"Sorted by {UNCERTAINTY_SCORES[image_score].label.lower()} "
               f"({method_label(method)}). Each caption: the class the model predicts and the "
               "score u.")
    for title, rows in [("Most uncertain (flagged as unfamiliar)", most),
                        ("Least uncertain (taken for a known class)", least)]:
        st.markdown(f"**{title}**")
        show_cases(images, rows,
                   [f"pred {study.rows.names[pred_out[i]]} · u={u_out[i]:.3f}" for i in rows])

st.subheader("Clean test images: most uncertain and confidently wrong")
fallback = (" (predictive entropy for one-sample methods)"
            if UNCERTAINTY_SCORES[score].needs_samples else "")
st.caption(f"Per method, by {score_label.lower()}{fallback}. "
           "Confidently wrong: wrong predictions with the lowest uncertainty, the ones a "
           "threshold would not catch. ✓/✗: prediction right or wrong.")
tabs = st.tabs([method_label(m) for m in methods])
for tab, s in zip(tabs, comp.studies.values(), strict=True):
    with tab:
        if len(clean_images) != s.n:
            st.warning(f"{len(clean_images):,} test images for {s.n:,} rows: cannot match them.")
            continue
        shown = s.applicable_score(score)
        wrong = s.confidently_wrong(shown)
        for title, gallery in [("Most uncertain", s.most_uncertain(shown)),
                               (f"Confidently wrong ({wrong.total:,} wrong of {s.n:,}; least "
                                "uncertain first)", wrong)]:
            st.markdown(f"**{title}**")
            show_cases(clean_images, gallery.rows, case_captions(s, shown, gallery.rows))
