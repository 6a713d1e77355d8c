"""Aleatoric vs epistemic: entropy = expected entropy + mutual information."""

from uqviz.ui.frame import require_frame

require_frame()  # before the heavy imports: see uqviz/ui/frame.py

import streamlit as st

from uqviz.plots.teaching import decomposition_figure, toy_figure
from uqviz.ui.catalog import term_text
from uqviz.ui.teaching_backend import WORKED_EXAMPLE, decompose, region_means, toy

st.title("Aleatoric vs epistemic")
st.markdown(
    "The total uncertainty of an ensemble splits in two. **Aleatoric**: every member says "
    "*coin flip* — the data itself is ambiguous, and more data will not help. **Epistemic**: "
    "each member is sure but they disagree — the model has not seen enough, and more data "
    "will help.")

st.subheader("One input, worked out")
sliders = st.columns(len(WORKED_EXAMPLE))
p1 = [col.slider(f"Member {i + 1}: P(class 1)", 0.0, 1.0, value, 0.05, key=f"ale_member_{i}")
      for i, (col, value) in enumerate(zip(sliders, WORKED_EXAMPLE, strict=True))]
dec = decompose(p1)
st.plotly_chart(decomposition_figure(dec), theme=None, key="ale_worked")
terms = " + ".join(f"H({p:.2f})" for p in dec.member_probs[:, 1])
st.markdown(
    f"- **Total** = H(p̄) = H({dec.mean_probs[1]:.3f}) = **{dec.total:.3f}** nats, "
    f"the entropy of the average prediction.\n"
    f"- **Expected entropy (aleatoric)** = ({terms}) / {len(p1)} = "
    f"({' + '.join(f'{h:.3f}' for h in dec.member_entropies)}) / {len(p1)} = "
    f"**{dec.aleatoric:.3f}** nats.\n"
    f"- **Mutual information (epistemic)** = {dec.total:.3f} − {dec.aleatoric:.3f} = "
    f"**{dec.epistemic:.3f}** nats.",
    help=term_text("Mutual information"))
st.caption("H(p) = −p log p − (1 − p) log(1 − p), in nats; move the members together and the "
           "orange part vanishes, push them to 0.5 and only blue is left.")

st.subheader("Label noise vs too little data")
c1, c2 = st.columns(2)
noise = c1.slider("Label noise in the shaded block", 0.0, 0.5, 0.3, 0.05, key="ale_noise",
                  help=term_text("Aleatoric uncertainty"))
n_points = c2.slider("Training points", 6, 300, 120, 2, key="ale_points",
                     help=term_text("Epistemic uncertainty"))
result = toy(noise, n_points)
st.plotly_chart(toy_figure(result), theme=None, key="ale_toy")
means = region_means(result)
st.caption(
    "Top: labels (red = flipped) and ten members' P(class 1). Bottom: total entropy as two "
    "stacked parts. More label noise raises the blue part inside the shaded block; fewer "
    "points (try 10) raise the orange part. In the block: aleatoric "
    f"{means['noisy']['aleatoric']:.2f}, epistemic {means['noisy']['epistemic']:.2f} nats. "
    f"Trained in {result.seconds:.1f} s.")
