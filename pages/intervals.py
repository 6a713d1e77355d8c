"""Confidence intervals of the accuracy: Wald, Wilson and bootstrap, and how they shrink."""

from uqviz.ui.frame import require_frame

require_frame()  # before the heavy imports: see uqviz/ui/frame.py

import pandas as pd
import streamlit as st

from uqviz.plots.intervals import INTERVAL_KINDS, interval_comparison_figure, interval_width_figure
from uqviz.sources import file_label
from uqviz.ui.backend import ensure_comparison, interval_grid, interval_resamples, intervals_at
from uqviz.ui.state import current_dataset, current_methods, method_label

st.title("How sure is an accuracy? Confidence intervals")
dataset, methods = current_dataset(), current_methods()
comp = ensure_comparison(dataset, methods)
if comp is None:
    st.stop()
try:
    n_total = min(s.n for s in comp.studies.values())
except ValueError:  # no labelled in-distribution row
    n_total = 0
if n_total == 0:
    st.info("This dataset has no labelled clean test rows (every label is −1, or every row is "
            "out-of-distribution or corrupted): an accuracy, and so its interval, needs labels. "
            "Add a `label` column on the **Your predictions** page.")
    st.stop()
st.markdown(
    "An accuracy measured on n test images is an estimate: another test set would give another "
    "number. A **95% interval** should hold the true accuracy 19 times out of 20. Three ways to "
    "get one: the **normal approximation** (Wald, p̂ ± 1.96·√(p̂(1−p̂)/n)), the **Wilson** score "
    "interval, and the **percentile bootstrap** (resample the test rows). Use fewer test rows "
    "to see them widen like 1/√n, and where Wald breaks.")

if n_total > 20:
    size = st.slider("Test rows used (a seeded random subsample)", 20, n_total, n_total,
                     key="ci_rows", help="The same nested subsample for every method: the first "
                                         "n rows of one fixed shuffle of the test set.")
else:
    size = n_total
    st.caption(f"Only {n_total} clean labelled test rows: all are used.")

at = {m: intervals_at(dataset, m, size) for m in methods}
st.plotly_chart(interval_comparison_figure(at, size), theme=None, key="ci_compare")
st.caption(f"{file_label(dataset)}: each method's accuracy on {size:,} test rows (marker) with "
           "its three 95% intervals (bars); the dotted line is 100%. Bootstrap: "
           f"{interval_resamples(n_total):,} resamples.")

notes = []
for m, iv in at.items():
    wald, wilson, boot = iv.wald_unclipped[0], iv.wilson[0], iv.bootstrap[0]
    if iv.wald_zero_width[0]:
        which = "Wald's and the bootstrap's intervals are" if boot[0] == boot[1] else \
            "Wald's interval is"
        notes.append(f"- **{method_label(m)}** scored {iv.accuracy[0]:.0%} on all {size} rows: "
                     f"{which} [{wald[0]:.0%}, {wald[1]:.0%}], zero width, claiming certainty "
                     f"from {size} rows. Wilson: [{wilson[0]:.1%}, {wilson[1]:.1%}].")
    elif iv.wald_outside[0]:
        notes.append(f"- **{method_label(m)}**: Wald's interval [{wald[0]:.1%}, {wald[1]:.1%}] "
                     "leaves [0, 100%] (clipped in the table); Wilson stays inside: "
                     f"[{wilson[0]:.1%}, {wilson[1]:.1%}].")
if notes:
    st.warning("**Where the normal approximation fails**\n\n" + "\n".join(notes))


def _cell(lo: float, hi: float) -> str:
    return f"[{lo:.1%}, {hi:.1%}] · {100 * (hi - lo):.1f} pts"


table = pd.DataFrame([
    {"Method": method_label(m), "n": size, "Accuracy": f"{iv.accuracy[0]:.1%}",
     **{INTERVAL_KINDS[k][0]: _cell(*getattr(iv, k)[0]) for k in ("wald", "wilson", "bootstrap")}}
    for m, iv in at.items()])
st.dataframe(table, hide_index=True, width="stretch")
st.caption("Each cell: the interval and its width in percentage points.")

st.subheader("Widths shrink like 1/√n")
shown = st.selectbox("Method", methods, format_func=method_label, key="ci_width_method")
st.plotly_chart(interval_width_figure(interval_grid(dataset, shown), method=shown, size=size),
                theme=None, key="ci_widths")
st.caption("Interval width against the number of test rows (log scale). Four times the rows "
           "halves the width (grey line). A Wald width that drops to 0 at small n is a "
           "subsample the model got entirely right, not certainty.")
