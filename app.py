"""uqviz: the frame. Page config, navigation with sections, the global sidebar."""

import streamlit as st

from uqviz.device import configure_threads
from uqviz.ui.frame import framed
from uqviz.ui.state import render_sidebar

configure_threads()
st.set_page_config(page_title="uqviz: when does the model not know?",
                   page_icon=":material/visibility:", layout="wide")

PAGES = {
    "Overview": [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/data_models.py", title="Data & models", icon=":material/model_training:"),
        st.Page("pages/upload.py", title="Your predictions", icon=":material/upload_file:"),
    ],
    "Analysis": [
        st.Page("pages/compare.py", title="Compare methods", icon=":material/compare:"),
        st.Page("pages/referral.py", title="Referral threshold", icon=":material/call_split:"),
        st.Page("pages/conformal.py", title="Conformal prediction", icon=":material/checklist:"),
        st.Page("pages/shift.py", title="Dataset shift", icon=":material/blur_on:"),
        st.Page("pages/ood.py", title="Out-of-distribution", icon=":material/travel_explore:"),
        st.Page("pages/your_images.py", title="Your images", icon=":material/image:"),
        st.Page("pages/embedding.py", title="Embedding map", icon=":material/scatter_plot:"),
        st.Page("pages/intervals.py", title="Confidence intervals", icon=":material/straighten:"),
    ],
    "Learn": [
        st.Page("pages/learn_regression.py", title="Ensembles in 1-D",
                icon=":material/show_chart:"),
        st.Page("pages/learn_moons.py", title="Two moons", icon=":material/dark_mode:"),
        st.Page("pages/learn_aleatoric.py", title="Aleatoric vs epistemic",
                icon=":material/call_merge:"),
        st.Page("pages/learn_active.py", title="Active learning", icon=":material/school:"),
        st.Page("pages/glossary.py", title="Glossary", icon=":material/menu_book:"),
    ],
}

page = st.navigation(PAGES)
render_sidebar()
with framed():
    page.run()
