"""Your model: upload a classifier file and images, then analyse it on every page."""

from uqviz.ui.frame import require_frame

require_frame()  # before the heavy imports: see uqviz/ui/frame.py

import pandas as pd
import streamlit as st

from uqviz.labels import method_label
from uqviz.ui.models import (
    USER_METHODS,
    add_from_page,
    data_folders,
    form_overrides,
    model_source,
    model_uploader,
    public_message,
    session_models,
    unreadable_images,
    upload_policy,
)
from uqviz.ui.state import select_dataset

LAST_KEY = "your_model_last"
ADD_KEY = "your_model_add_pressed"  # set by the button's callback: survives the frame's rerun
ZIP, FOLDER = "a .zip of class folders", "a folder on the server"

uploader = model_uploader()  # the file types this server takes (the operator's policy)
st.title("Your model")
st.markdown(
    "Bring your own trained classifier and your own labelled images: every analysis page "
    "(compare, referral, conformal, dataset shift, out-of-distribution) then works on them. "
    f"Models: {uploader.formats}; several files with the same classes form an ensemble. "
    "Images: one sub-folder per class, named as in `classes`.")
st.caption(upload_policy())

left, right = st.columns(2)
models = left.file_uploader(uploader.label, type=list(uploader.types), help=uploader.help,
                            accept_multiple_files=True, key="model_files")
sidecar = right.file_uploader("model.json (optional when the form below is filled)",
                              type=["json"], key="model_sidecar")
with st.expander("Describe the model (these fields win over model.json)",
                 expanded=False):
    c1, c2, c3 = st.columns(3)
    input_size = c1.text_input("Input size (H x W)", key="model_input_size",
                               placeholder="32 x 32")
    channels = c2.selectbox("Channels", [None, 1, 3], key="model_channels",
                            format_func=lambda c: "from model.json" if c is None else str(c))
    outputs = c3.selectbox("Outputs", ["", "logits", "probabilities"], key="model_outputs",
                           format_func=lambda o: o or "from model.json")
    mean = c1.text_input("Mean per channel", key="model_mean", placeholder="0.5, 0.5, 0.5")
    std = c2.text_input("Std per channel", key="model_std", placeholder="0.25, 0.25, 0.25")
    features = c3.text_input("Features output (index or name)", key="model_features",
                             placeholder="1")
    classes = st.text_input("Classes, in output order (comma-separated)", key="model_classes",
                            placeholder="cat, dog, bird")
    flips = st.selectbox("A horizontal flip keeps the label", ["", "yes", "no"],
                         key="model_flips", format_func=lambda f: f or "from model.json")

folders = [str(p) for p in data_folders()]
st.subheader("Images")
i1, i2 = st.columns(2)
how = i1.radio("Labelled images from", [ZIP, FOLDER], key="model_images_how",
               horizontal=True)
images_zip = images_dir = None
if how == ZIP:
    images_zip = i1.file_uploader("Images (.zip of class folders)", type=["zip"],
                                  key="model_images_zip")
elif folders:
    images_dir = i1.selectbox("Image folder", folders, key="model_images_dir")
else:
    i1.info("No folder is offered: the operator lists them with UQVIZ_DATA_ROOTS.")
ood_zip = i2.file_uploader("Out-of-distribution images (optional .zip)", type=["zip"],
                           key="model_ood_zip")
ood_dir = i2.selectbox("…or an OOD folder on the server", ["", *folders], key="model_ood_dir",
                       format_func=lambda f: f or "none") if folders else ""

st.button("Add the model", type="primary", key="model_add",
          on_click=lambda: st.session_state.update({ADD_KEY: True}))
if st.session_state.pop(ADD_KEY, False):
    try:
        with st.spinner("Loading the model and reading the images…"):
            st.session_state[LAST_KEY] = add_from_page(
                models, sidecar, images_zip, images_dir, ood_zip, ood_dir,
                form_overrides(input_size=input_size, channels=channels, mean=mean, std=std,
                               classes=classes, outputs=outputs, features_output=features,
                               flips=flips))
    except Exception as err:  # noqa: BLE001 - every problem is one line, never a traceback
        st.error(public_message(err))

key = st.session_state.get(LAST_KEY)
if key is None or key not in session_models():
    if not session_models():
        st.info("No model added in this session yet (models the operator offers through "
                "`UQVIZ_MODELS` are already in the sidebar's dataset list). The command line "
                "does the same: `python -m uqviz evaluate --model net.pt --dataset folder:DIR`.")
    st.stop()

source = model_source(key)
sizes = source.sizes
st.success(f"Added {source.label}: {sizes['calibration']:,} calibration and "
           f"{sizes['test']:,} test images" +
           (f", {sizes['ood']:,} out-of-distribution images." if sizes["ood"] else "."))
try:
    for warning, title, table in unreadable_images(source):  # as the command line warns
        st.warning(warning)
        with st.expander(title):
            st.dataframe(table, hide_index=True, width="stretch")
except ValueError as err:  # UserModelError: no image of the folder can be read
    st.error(public_message(err))
rows = [{"method": method_label(m), "applies": source.why_not(m) is None,
         "why not": source.why_not(m) or ""} for m in USER_METHODS]
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
why_mahalanobis = source.why_no_mahalanobis()
st.caption("Mahalanobis OOD score: " + (why_mahalanobis or "computed from the features."))
st.button(f"Analyse {source.label}", type="primary", on_click=select_dataset, args=(key,),
          key="model_use")
st.caption("The model becomes a dataset in the sidebar; the first analysis page predicts every "
           "method once (then it is cached on disk).")
