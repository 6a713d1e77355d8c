"""Your images: classify pictures of your own (or a digit drawn here) with every method."""

from uqviz.ui.frame import require_frame

require_frame()  # before the heavy imports: see uqviz/ui/frame.py

import pandas as pd
import streamlit as st

from uqviz.plots import predictive_distribution_figure
from uqviz.ui.backend import PREDICTIONS_FILE, YOUR_MODEL, DatasetUnavailable, ensure_comparison
from uqviz.ui.catalog import CORRUPTIONS
from uqviz.ui.images import to_uint8_hwc
from uqviz.ui.models import UserModelError
from uqviz.ui.shift_backend import (
    MAX_UPLOAD_BYTES,
    ImageRejected,
    PreparedImage,
    picture_target,
    prediction_rows,
    read_user_image,
)
from uqviz.ui.state import current_dataset, current_methods, current_source, method_label
from uqviz.ui.widgets import drawn_digit

UPLOAD_KEY = "your_images_upload"
CANVAS_KEY = "your_images_canvas"
CORRUPTION_KEY = "your_images_corruption"
SEVERITY_KEY = "your_images_severity"
IMAGE_TYPES = ["png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp"]
SHOWN_SIDE = 140  # px of the image as the model sees it

st.title("Your images")
dataset, methods, src = current_dataset(), current_methods(), current_source()
if src.kind == PREDICTIONS_FILE:
    st.info(f"{src.label} holds predictions only, with no model to run. This page "
            "needs a trained dataset: choose one (digits or mnist5k) in the sidebar.")
    st.stop()
yours = src.kind == YOUR_MODEL
try:
    target = picture_target(dataset)
except (DatasetUnavailable, UserModelError) as err:
    st.error(f"{err}\n\nChoose an offline dataset (digits or mnist5k) in the sidebar.")
    st.stop()

channels, height, width = target.input_shape
st.caption(f"Every method {'of your model' if yours else 'trained on'} **{src.label}** "
           f"({width}×{height}, {'grey' if channels == 1 else 'colour'}; classes "
           f"{', '.join(target.class_names)}) looks at your pictures. A picture unlike the "
           "training data should get a flat, uncertain prediction — watch which methods notice.")

uploads = st.file_uploader(
    "Upload images", type=IMAGE_TYPES, accept_multiple_files=True, key=UPLOAD_KEY,
    help=f"PNG, JPEG, BMP, TIFF or WebP, up to {MAX_UPLOAD_BYTES // 2**20} MiB each. They stay "
         "in this session; nothing is stored.")
prepared: dict[str, PreparedImage] = {}
for upload in uploads or []:
    try:
        image = read_user_image(upload.getvalue(), upload.name)
        prepared[upload.name] = target.prepare(image)
    except ImageRejected as err:
        st.error(str(err))


if target.is_digits:
    drawing = drawn_digit(CANVAS_KEY)
    if drawing is not None:
        prepared["your drawing"] = target.prepare(drawing)

if not prepared:
    st.info("Upload a picture" + (" or draw a digit" if target.is_digits else "") + " to see "
            "what each method predicts and how sure it is.")
    st.stop()
if not methods or ensure_comparison(dataset, methods) is None:
    st.stop()

c1, c2 = st.columns(2)
corruption = c1.selectbox(
    "Corrupt the images", list(CORRUPTIONS), key=CORRUPTION_KEY,
    format_func=lambda c: CORRUPTIONS[c].label,
    help=" ".join(f"{c.label}: {c.description}" for c in CORRUPTIONS.values()))
severity = c2.slider("Severity (0 = as prepared)", 0, 5, 0, key=SEVERITY_KEY,
                     help="Applied to the prepared images; every prediction below follows.")

names = list(prepared)
try:
    batch, outputs = target.predict([prepared[n].tensor for n in names], methods, corruption,
                                    severity)
except UserModelError as err:
    st.error(str(err))
    st.stop()
scale = max(1, SHOWN_SIDE // height)

for i, name in enumerate(names):
    st.subheader(name)
    left, right = st.columns([1, 3])
    left.image(to_uint8_hwc(batch[i], scale), width=scale * width)
    steps = list(prepared[name].steps)
    if severity:
        steps.append(f"{CORRUPTIONS[corruption].label}, severity {severity}")
    left.caption("As the model sees it: " + "; ".join(steps) + ".")
    rows = [dict(row, method=method_label(row["method"]))
            for row in prediction_rows(outputs, i, target.class_names)]
    right.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                    column_config={c: st.column_config.NumberColumn(format="%.3f")
                                   for c in ("max prob.", "entropy",
                                             "mutual info.")})
    right.caption("Max prob.: how sure the averaged prediction is. Entropy (nats): total "
                  "uncertainty (0 = certain, ln C = uniform). Mutual info. (nats): how much the "
                  "samples disagree (epistemic; empty for single-sample methods).")
    for start in range(0, len(methods), 3):
        cols = st.columns(3)
        for col, m in zip(cols, methods[start:start + 3], strict=False):
            col.plotly_chart(predictive_distribution_figure(outputs[m][:, i], target.class_names,
                                                            method=m, title=method_label(m),
                                                            height=280),
                             theme=None, key=f"your_images_dist_{i}_{m}")
    st.caption("Bars: the probability each method gives every class, averaged over its "
               "samples; error bars: the spread (standard deviation) across samples. A tall "
               "bar is a confident prediction; long error bars mean the samples disagree.")
