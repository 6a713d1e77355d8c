"""Triage new images: the policy set on the Referral page applied to unlabelled images, the
review queue for people, and the team's accuracy once their labels come back."""

from uqviz.ui.frame import require_frame

require_frame()  # before the heavy imports: see uqviz/ui/frame.py

import streamlit as st

from uqviz.ui.backend import ensure_comparison
from uqviz.ui.models import data_folders
from uqviz.ui.state import current_dataset, current_methods
from uqviz.ui.triage import (
    OUTPUTS,
    last_result,
    output_bytes,
    policy_control,
    public_message,
    queue_gallery,
    reviewer_accuracy,
    run_triage,
    runs_on,
    share_sentence,
    team_table,
    triage_methods,
)

ZIP, FOLDER = "a .zip of images", "a folder on the server"
RUN_KEY = "triage_run_pressed"

st.title("Triage new images")
st.caption("Your model decides the new images it is sure of and refers the rest to people, "
           "most uncertain first. Labels need not exist: a flat or nested folder or zip.")
dataset = current_dataset()
if not runs_on(dataset):
    st.info("Triage runs your own model on new images: add it on the Your model page and "
            "choose it in the sidebar (the built-in datasets have no new images to triage).")
    st.stop()
methods = triage_methods(current_methods())
if not methods:
    st.info("Choose softmax, temperature, TTA or the ensemble in the sidebar: triage runs "
            "deterministic methods only.")
    st.stop()
comp = ensure_comparison(dataset, methods)
if comp is None:
    st.stop()

doc = policy_control(dataset, comp, methods)

i1, _ = st.columns(2)
where = i1.radio("New images from", [ZIP, FOLDER], key="triage_images_how", horizontal=True)
images_zip = folder = None
if where == ZIP:
    upload = i1.file_uploader("Images (.zip)", type=["zip"], key="triage_zip")
    images_zip = None if upload is None else (upload.name, upload.getvalue())
elif folders := [str(p) for p in data_folders()]:
    folder = i1.selectbox("Image folder", folders, key="triage_folder")
else:
    i1.info("No folder is offered: the operator lists them with UQVIZ_DATA_ROOTS.")
st.button("Triage", type="primary", key="triage_run", disabled=doc is None,
          on_click=lambda: st.session_state.update({RUN_KEY: True}))  # survives the frame's rerun
if st.session_state.pop(RUN_KEY, False) and doc is not None:
    try:
        with st.spinner("Deciding image by image…"):
            run_triage(dataset, doc, images_zip=images_zip, folder=folder)
    except (ValueError, OSError) as err:
        st.error(public_message(err))
        st.stop()  # no earlier run's results under this run's error

result = last_result()
if result is None or doc is None:  # a refused policy: no earlier run's results under its error
    st.stop()
summary = result.summary
st.subheader("Referred share")
st.markdown(share_sentence(summary))
if summary["shift_warning"]:
    st.warning(summary["shift_warning"])
if summary.get("guarantee_warning"):
    st.warning(summary["guarantee_warning"])
if summary["skipped"]:
    first = summary["skipped"][0]
    st.warning(f"{len(summary['skipped'])} file(s) could not be read and were skipped (first: "
               f"{first['id']}: {first['why']}); the rest were decided.")
for column, (name, data) in zip(st.columns(3), output_bytes(result).items(), strict=True):
    column.download_button(f"Download {name}", data, file_name=name, mime=OUTPUTS[name],
                           key=f"triage_download_{name}")

st.subheader("Review queue, most uncertain first")
gallery = queue_gallery(result)
st.caption("" if gallery else "Nothing was referred.")
for start in range(0, len(gallery), 6):
    for column, (image, caption) in zip(st.columns(6), gallery[start:start + 6], strict=False):
        column.image(image, caption=caption, width="stretch")

st.subheader("Reviewed labels")
labels = st.file_uploader("Labels (CSV id,label: review.zip's labels.csv filled in, plus any "
                          "audit sample of automated cases)", type=["csv"], key="triage_labels")
if labels is not None:
    try:
        table, sentence = team_table(result, labels.name, labels.getvalue(),
                                     reviewer_accuracy=reviewer_accuracy() / 100)
    except ValueError as err:
        st.error(str(err))
    else:
        st.dataframe(table, hide_index=True)
        st.markdown(sentence)
