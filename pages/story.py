"""The story in a minute: six steps, each one chart and one sentence computed on the stream."""

from uqviz.ui.frame import require_frame

require_frame()  # before the heavy imports: see uqviz/ui/frame.py

import streamlit as st

from uqviz.ui.backend import comparison, ensure_stream_comparison, source_label, story
from uqviz.ui.monitor import DEMO, stream_kind
from uqviz.ui.state import current_dataset, current_methods
from uqviz.ui.story import story_caption, story_steps

st.title("When does the model not know? The story in a minute")
dataset, methods = current_dataset(), current_methods()
stream = ensure_stream_comparison(dataset, methods)
if stream is None:
    st.stop()
clean = comparison(dataset, tuple(methods))
s = story(clean, stream, demo_drift=stream_kind(dataset) == DEMO)
st.caption(story_caption(source_label(dataset), s))

for step in story_steps(s, stream):
    st.subheader(step.heading)
    st.markdown(step.text)
    st.plotly_chart(step.figure, theme=None, key=step.chart_key)
    st.page_link(step.link_page, label=step.link_label)
