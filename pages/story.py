"""The story in a minute: six steps, each one chart and one sentence computed on the stream."""

from uqviz.ui.frame import require_frame

require_frame()  # before the heavy imports: see uqviz/ui/frame.py

import streamlit as st

from uqviz.labels import method_label
from uqviz.plots import referral_curve_figure
from uqviz.plots.monitor import drift_accuracy_figure
from uqviz.plots.story import estimates_figure, guarantee_figure
from uqviz.ui.backend import (
    CONFIDENT,
    REFERRED_SHARE,
    STORY_SCORE,
    TARGET_ACCURACY,
    comparison,
    ensure_stream_comparison,
    source_label,
    story,
)
from uqviz.ui.monitor import DEMO, ESTIMATORS, alarm_sentence, estimate_sentence, stream_kind
from uqviz.ui.state import current_dataset, current_methods


def pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}%"


def ci(e) -> str:
    return f"{pct(e[0])} (95% CI {pct(e[1])}–{pct(e[2])})"


def gap_text(g) -> str:
    """The paired difference in words: fewer (or more) cases per 100, with its interval."""
    word = "fewer" if g[0] >= 0 else "more"
    clear = "" if g[1] > 0 or g[2] < 0 else ", an interval that includes no difference"
    return (f"{abs(100 * g[0]):.1f} {word} per 100 (paired 95% CI {100 * g[1]:+.1f} to "
            f"{100 * g[2]:+.1f} points{clear}).")


st.title("When does the model not know? The story in a minute")
dataset, methods = current_dataset(), current_methods()
stream = ensure_stream_comparison(dataset, methods)
if stream is None:
    st.stop()
clean = comparison(dataset, tuple(methods))
s = story(clean, stream, demo_drift=stream_kind(dataset) == DEMO)
base, better = method_label(s.baseline), method_label(s.better)
st.caption(f"{source_label(dataset)} · incoming stream of {s.n_stream:,} cases: {s.mix}. Every "
           "number below is computed from the data shown.")

st.subheader(f"1 · On clean test images, {base} is right {pct(s.clean_accuracy[s.baseline][0])} "
             "of the time")
st.markdown(f"Accuracy on {s.n_clean:,} clean test images: {base} "
            f"{ci(s.clean_accuracy[s.baseline])}; every method is close.")
st.plotly_chart(estimates_figure(s.clean_accuracy, x_title="Accuracy on clean test images",
                                 x_range=(0.5, 1.0)), theme=None, key="story_clean")
st.page_link("pages/compare.py", label="All metrics, with intervals: Compare methods →")

wrong = s.confidently_wrong
st.subheader(f"2 · On the incoming stream, {base} is confidently wrong on "
             f"{pct(wrong[s.baseline][0])} of the cases")
st.markdown(f"Cases {base} gets wrong (or that lie outside its classes) while at least "
            f"{CONFIDENT:.0%} sure: {ci(wrong[s.baseline])}; {better}: {ci(wrong[s.better])}. "
            f"On the same {s.n_stream:,} cases, {better} is confidently wrong on "
            f"{gap_text(s.fewer_confidently_wrong)} "
            "These are the cases a confidence threshold cannot catch.")
st.plotly_chart(estimates_figure(wrong, x_title=f"Share of the stream wrong with ≥ {CONFIDENT:.0%} "
                                 "confidence"), theme=None, key="story_wrong")
st.page_link("pages/ood.py", label="Which inputs fool the model: Out-of-distribution →")

sep = s.separation
gain = s.better_separation
how = ("better than" if gain[1] > 0 else "worse than" if gain[2] < 0 else "about as well as")
st.subheader(f"3 · {better}'s uncertainty separates right from wrong {how} {base}'s")
st.markdown(f"Chance that a wrong case is more uncertain (predictive entropy) than a right one "
            f"(AUROC): {better} {sep[s.better][0]:.3f} (95% CI {sep[s.better][1]:.3f}–"
            f"{sep[s.better][2]:.3f}) against {base} {sep[s.baseline][0]:.3f} "
            f"({sep[s.baseline][1]:.3f}–{sep[s.baseline][2]:.3f}); difference on the same "
            f"cases {gain[0]:+.3f} (paired 95% CI {gain[1]:+.3f} to {gain[2]:+.3f}).")
st.plotly_chart(estimates_figure(sep, x_title="AUROC of entropy, wrong vs right", percent=False,
                                 x_range=(0.5, 1.0)), theme=None, key="story_separation")
st.page_link("pages/compare.py", label="Uncertainty of right and wrong cases: Compare →")

ref, better_point = s.referral[s.baseline], s.referral[s.better]
before = s.stream_error[s.better]
st.subheader(f"4 · Referring the most uncertain {REFERRED_SHARE:.0%} cuts the error from "
             f"{pct(before)} to {pct(better_point.automated_error_rate)}")
st.markdown(f"With {better}, sending the {REFERRED_SHARE:.0%} most uncertain cases to a human "
            f"leaves an error rate of {pct(better_point.automated_error_rate)} on the rest "
            f"(accuracy 95% CI {pct(better_point.automated_accuracy_ci[0])}–"
            f"{pct(better_point.automated_accuracy_ci[1])}); {base} "
            f"{pct(ref.automated_error_rate)}. Referring at random would keep {pct(before)}.")
curves = {m: stream.studies[m].referral_curve(STORY_SCORE) for m in (s.baseline, s.better)}
st.plotly_chart(referral_curve_figure(curves, operating_point=better_point,
                                      operating_method=s.better, height=380),
                theme=None, key="story_referral")
st.page_link("pages/referral.py", label="Set your own threshold: Referral threshold →")

g = s.guarantee
c = g.certified
held = g.heldout
st.subheader(f"5 · With a guarantee: at least {pct(c.accuracy_bound)} right on the automated "
             f"cases, with {c.confidence:.0%} confidence")
held_text = (f" On the other half, which it never saw, {pct(held.automated_accuracy)} of the "
             f"automated cases were right (95% CI {pct(held.automated_accuracy_ci[0])}–"
             f"{pct(held.automated_accuracy_ci[1])}), referring {pct(held.referred_fraction)}."
             if held is not None else "")
verdict = ("" if c.certified and c.target_accuracy >= TARGET_ACCURACY else
           f" ({TARGET_ACCURACY:.0%} could not be certified with this data: this is the highest "
           "accuracy that can be)")
st.markdown(f"A threshold chosen on half of the stream ({c.n_calibration:,} cases) refers "
            f"{pct(g.calibration.referred_fraction)} of them and guarantees at least "
            f"{pct(c.accuracy_bound)} accuracy on the rest with probability "
            f"{c.confidence:.0%}{verdict}.{held_text}")
st.plotly_chart(guarantee_figure(
    certified=c.accuracy_bound, calibration=g.calibration.automated_accuracy,
    heldout=None if held is None else (held.automated_accuracy, *held.automated_accuracy_ci),
    target=TARGET_ACCURACY), theme=None, key="story_guarantee")
st.page_link("pages/referral.py", label="The guarantee, step by step: Referral threshold →")

if s.drift is not None:
    d = s.drift.summary
    st.subheader("6 · The stream drifts: " + (f"the alarm fires at batch {d.alarm_batch}"
                                               if d.first_alarm is not None else "no alarm"))
    st.markdown(f"{better} on a stream that drifts: {s.drift.watched.description}. "
                f"{alarm_sentence(d)} {estimate_sentence(d)} The drift is seen without labels; "
                "how far accuracy fell, only as far as the estimate holds under this shift.")
    st.plotly_chart(drift_accuracy_figure(s.drift.result, method=s.better,
                                          estimator_label=ESTIMATORS[d.estimator].label,
                                          drift_batch=d.drift_batch), theme=None,
                    key="story_drift")
    st.page_link("pages/monitor.py", label="Move the batch size and α: Monitor the stream →")
