"""The story in a minute: six steps, each one chart and one sentence computed on the stream.

Step 1 needs only the clean test rows: on a cold start they are predicted first and the step is
shown while the other rows are predicted (the stream's control and caption then fill the place
kept for them above it)."""

from uqviz.ui.frame import require_frame

require_frame()  # before the heavy imports: see uqviz/ui/frame.py

import streamlit as st

from uqviz.ui.backend import (
    comparison,
    ensure_comparison,
    ensure_stream_comparison,
    first_view_plan,
    source_label,
    story,
)
from uqviz.ui.monitor import DEMO, stream_kind
from uqviz.ui.state import current_dataset, current_methods
from uqviz.ui.story import StoryStep, first_step, later_steps, story_caption


def show(step: StoryStep) -> None:
    st.subheader(step.heading)
    st.markdown(step.text)
    st.plotly_chart(step.figure, theme=None, key=step.chart_key)
    st.page_link(step.link_page, label=step.link_label)


st.title("When does the model not know? The story in a minute")
dataset, methods = current_dataset(), current_methods()
header = st.container()  # the stream's control and the caption, once every row is predicted
clean_first = ensure_comparison(dataset, methods, first_view_plan(dataset, methods))
if clean_first is None:
    st.stop()
show(first_step(clean_first))
with header:
    stream = ensure_stream_comparison(dataset, methods)
if stream is None:
    st.stop()
clean = comparison(dataset, tuple(methods))
s = story(clean, stream, demo_drift=stream_kind(dataset) == DEMO)
header.caption(story_caption(source_label(dataset), s))
for step in later_steps(s, stream):
    show(step)
