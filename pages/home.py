"""Home: what uqviz shows, what is selected, three ways in."""

from uqviz.ui.frame import require_frame

require_frame()  # before the heavy imports: see uqviz/ui/frame.py

import streamlit as st

from uqviz.ui.backend import describe_dataset, missing_methods
from uqviz.ui.state import current_dataset, current_methods, dataset_label, method_label

st.title("When does the model not know?")
st.markdown(
    "uqviz trains image classifiers with several **uncertainty methods** and shows, side by "
    "side, how well each one knows its own limits. "
    "It measures calibration, ranks cases from sure to unsure, and lets you set a **referral "
    "threshold** above which cases go to a human expert. "
    "Everything runs offline on a built-in dataset, on the GPU when there is one."
)

dataset, methods = current_dataset(), current_methods()
left, right = st.columns(2)
with left:
    st.subheader("In use")
    st.markdown(f"**Dataset:** {dataset_label(dataset)} — {describe_dataset(dataset)}")
    st.markdown("**Methods:** " + (", ".join(method_label(m) for m in methods) or "none"))
    todo = missing_methods(dataset, methods)
    if todo:
        st.caption(f"Not computed yet: {', '.join(method_label(m) for m in todo)} — the first "
                   "analysis page you open computes their predictions (seconds on the default, "
                   "whose networks ship trained; a dataset without shipped networks trains "
                   "them first, minutes).")
    else:
        st.caption("The predictions of all selected methods are computed and cached.")
with right:
    st.subheader("Start here")
    st.page_link("pages/story.py", label="The story in a minute: why uncertainty matters",
                 icon=":material/slideshow:")
    st.caption("Six steps on the incoming stream, each one chart and one sentence, for a "
               "stakeholder demo: right on clean data, confidently wrong on some new cases, "
               "uncertainty that tells them apart, referral, a guarantee, and the drift alarm.")
    st.page_link("pages/compare.py", label="Demo in 5 minutes: compare the methods",
                 icon=":material/compare:")
    st.caption("Accuracy, calibration and risk–coverage of every method, with 95% CIs.")
    st.page_link("pages/referral.py", label="Tune a referral threshold",
                 icon=":material/call_split:")
    st.caption("Choose which cases a human sees: by budget, target accuracy or cost; export "
               "it, then triage new images with it and measure the team.")
    st.page_link("pages/your_model.py", label="Your model, your images",
                 icon=":material/neurology:")
    st.caption("Upload your own classifier (ONNX; TorchScript or .pt2 where the operator "
               "allows) and a zip of labelled images: every analysis page then works on them.")
    st.page_link("pages/learn_moons.py", label="Teach uncertainty: a network that knows when "
                 "it does not know", icon=":material/school:")
    st.caption("Two moons, ensembles in 1-D, aleatoric vs epistemic and active learning: each "
               "Learn page teaches one idea in a minute, in seconds on the CPU. The glossary "
               "explains every term in two sentences.")
