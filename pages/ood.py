"""Out-of-distribution: does the uncertainty rise on inputs unlike the training data?"""

from uqviz.ui.frame import require_frame

require_frame()  # before the heavy imports: see uqviz/ui/frame.py

import streamlit as st

from uqviz.ui.backend import (
    NoImages,
    ensure_comparison,
    ood_images,
    source,
    source_label,
    test_images,
)
from uqviz.ui.ood import (
    detection_table,
    gallery_score,
    histogram_grid,
    ood_description,
    ood_gallery,
    ood_label,
    score_label,
    score_needs_note,
    score_select,
)
from uqviz.ui.state import current_dataset, current_methods, method_label
from uqviz.ui.widgets import case_captions, show_cases

st.title("Out-of-distribution inputs")
st.caption("Images unlike anything in training (noise, photos, other digit sets) should get "
           "high scores. Here: how well each score separates them from the clean test images.")
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
score = score_select(c2, comp)
first = comp.studies[methods[0]]
st.caption(f"{ood_description(group)} In-distribution: {first.n:,} clean test images; "
           f"out-of-distribution: {first.group_predicted(group).size:,} images.".strip())
score_needs_note(comp, source(dataset).kind)

st.subheader("Scores in and out of distribution")
st.caption(f"Share of images per bin of {score_label(score).lower()}: blue are clean test "
           "images, orange the OOD set. Little overlap means the score tells them apart.")
histogram_grid(comp, group, score)

st.subheader("Detection quality")
st.caption("Each row uses one score as an OOD detector (high score = flag as OOD), for every "
           "score and method; click a column name to sort, hover it for its meaning. ★ marks "
           "the best AUROC.")
detection_table(comp, group)

try:
    clean_images = test_images(dataset)
except NoImages as err:
    st.info(f"{err}: the most and least suspicious images and the galleries of confidently "
            "wrong predictions need the images, so they are not shown.")
    st.stop()

st.subheader("Which OOD images fool the model?")
method = st.selectbox("Method", methods, key="ood_image_method", format_func=method_label)
ood_gallery(comp.studies[method], ood_images(dataset, group), group, score)

st.subheader("Clean test images: most uncertain and confidently wrong")
probability_score = gallery_score(score)
st.caption(f"Per method, by {score_label(probability_score).lower()} (a probability score; "
           "predictive entropy for one-sample methods). Confidently wrong: wrong predictions "
           "with the lowest uncertainty, the ones a threshold would not catch. ✓/✗: "
           "prediction right or wrong.")
tabs = st.tabs([method_label(m) for m in methods])
for tab, s in zip(tabs, comp.studies.values(), strict=True):
    with tab:
        if len(clean_images) != s.n:
            st.warning(f"{len(clean_images):,} test images for {s.n:,} rows: cannot match them.")
            continue
        shown = s.applicable_score(probability_score)
        wrong = s.confidently_wrong(shown)
        for title, gallery in [("Most uncertain", s.most_uncertain(shown)),
                               (f"Confidently wrong ({wrong.total:,} wrong of {s.n:,}; least "
                                "uncertain first)", wrong)]:
            st.markdown(f"**{title}**")
            show_cases(clean_images, gallery.rows, case_captions(s, shown, gallery.rows))
