"""The Story page's words and charts: each of its six steps as a heading, one paragraph, one
chart and a link to the page that goes deeper, worded from the core's ``Story``
(``uqviz.story``, computed through ``uqviz.ui.backend.story``).

Every function here is pure: it reads a finished ``Story`` (and, for the referral step, the
stream's studies) and returns text or a ``StoryStep``; the page only lays them out. Step 1 needs
only the clean test rows (``first_step``), so the page shows it before the other rows are
predicted, then the rest (``later_steps``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from uqviz.labels import method_label
from uqviz.plots import referral_curve_figure
from uqviz.plots.monitor import drift_accuracy_figure
from uqviz.plots.story import estimates_figure, guarantee_figure
from uqviz.story import (
    CONFIDENT,
    REFERRED_SHARE,
    STORY_SCORE,
    TARGET_ACCURACY,
    FirstStep,
    Story,
    first_step_numbers,
)
from uqviz.study import Comparison
from uqviz.ui.monitor import ESTIMATORS, alarm_sentence, estimate_sentence


@dataclass(frozen=True)
class StoryStep:
    """One step of the story as the page shows it.

    Attributes:
        heading: the subheader, a claim with its number ("1 · On clean test images, …").
        text: one paragraph that backs the claim with its interval.
        figure: the step's chart (a plotly ``go.Figure`` built by ``uqviz.plots``).
        chart_key: the chart's Streamlit key.
        link_page: the page (``pages/….py``) that goes deeper.
        link_label: the link's label.
    """

    heading: str
    text: str
    figure: Any
    chart_key: str
    link_page: str
    link_label: str


def pct(x: float, digits: int = 1) -> str:
    """A share as a percentage: ``pct(0.1234)`` -> ``"12.3%"``."""
    return f"{100 * x:.{digits}f}%"


def ci(e: Sequence[float]) -> str:
    """An estimate (value, low, high) as ``"12.3% (95% CI 10.1%–14.6%)"``."""
    return f"{pct(e[0])} (95% CI {pct(e[1])}–{pct(e[2])})"


def gap_text(g: Sequence[float]) -> str:
    """The paired difference in words: fewer (or more) cases per 100, with its interval."""
    word = "fewer" if g[0] >= 0 else "more"
    clear = "" if g[1] > 0 or g[2] < 0 else ", an interval that includes no difference"
    return (f"{abs(100 * g[0]):.1f} {word} per 100 (paired 95% CI {100 * g[1]:+.1f} to "
            f"{100 * g[2]:+.1f} points{clear}).")


def story_caption(source_label: str, s: Story) -> str:
    """The line under the title: the source and the incoming stream's size and mix."""
    return (f"{source_label} · incoming stream of {s.n_stream:,} cases: {s.mix}. Every "
            "number below is computed from the data shown.")


def clean_step(s: Story | FirstStep) -> StoryStep:
    """Step 1: the baseline's accuracy on the clean test images, every method's beside it
    (from the story, or from step 1's numbers alone: ``first_step``)."""
    base = method_label(s.baseline)
    return StoryStep(
        heading=f"1 · On clean test images, {base} is right "
                f"{pct(s.clean_accuracy[s.baseline][0])} of the time",
        text=f"Accuracy on {s.n_clean:,} clean test images: {base} "
             f"{ci(s.clean_accuracy[s.baseline])}; every method is close.",
        figure=estimates_figure(s.clean_accuracy, x_title="Accuracy on clean test images",
                                x_range=(0.5, 1.0)),
        chart_key="story_clean", link_page="pages/compare.py",
        link_label="All metrics, with intervals: Compare methods →")


def confidently_wrong_step(s: Story) -> StoryStep:
    """Step 2: the share of the stream each method gets wrong while at least ``CONFIDENT``
    sure, and the paired difference between the baseline and the better method."""
    base, better = method_label(s.baseline), method_label(s.better)
    wrong = s.confidently_wrong
    return StoryStep(
        heading=f"2 · On the incoming stream, {base} is confidently wrong on "
                f"{pct(wrong[s.baseline][0])} of the cases",
        text=f"Cases {base} gets wrong (or that lie outside its classes) while at least "
             f"{CONFIDENT:.0%} sure: {ci(wrong[s.baseline])}; {better}: {ci(wrong[s.better])}. "
             f"On the same {s.n_stream:,} cases, {better} is confidently wrong on "
             f"{gap_text(s.fewer_confidently_wrong)} "
             "These are the cases a confidence threshold cannot catch.",
        figure=estimates_figure(wrong, x_title=f"Share of the stream wrong with ≥ "
                                f"{CONFIDENT:.0%} confidence"),
        chart_key="story_wrong", link_page="pages/ood.py",
        link_label="Which inputs fool the model: Out-of-distribution →")


def separation_comparison(gain: Sequence[float]) -> str:
    """How the better method's AUROC compares, from the paired difference (value, low, high):
    ``"better than"``, ``"worse than"`` or, when the interval holds 0, ``"about as well as"``."""
    return "better than" if gain[1] > 0 else "worse than" if gain[2] < 0 else "about as well as"


def separation_step(s: Story) -> StoryStep:
    """Step 3: the AUROC of predictive entropy, wrong against right, for each method and the
    paired difference between the better method and the baseline."""
    base, better = method_label(s.baseline), method_label(s.better)
    sep, gain = s.separation, s.better_separation
    return StoryStep(
        heading=f"3 · {better}'s uncertainty separates right from wrong "
                f"{separation_comparison(gain)} {base}'s",
        text=f"Chance that a wrong case is more uncertain (predictive entropy) than a right one "
             f"(AUROC): {better} {sep[s.better][0]:.3f} (95% CI {sep[s.better][1]:.3f}–"
             f"{sep[s.better][2]:.3f}) against {base} {sep[s.baseline][0]:.3f} "
             f"({sep[s.baseline][1]:.3f}–{sep[s.baseline][2]:.3f}); difference on the same "
             f"cases {gain[0]:+.3f} (paired 95% CI {gain[1]:+.3f} to {gain[2]:+.3f}).",
        figure=estimates_figure(sep, x_title="AUROC of entropy, wrong vs right", percent=False,
                                x_range=(0.5, 1.0)),
        chart_key="story_separation", link_page="pages/compare.py",
        link_label="Uncertainty of right and wrong cases: Compare →")


def referral_step(s: Story, stream: Comparison) -> StoryStep:
    """Step 4: the error left on the automated cases after referring the most uncertain
    ``REFERRED_SHARE``, against referring at random; the two methods' referral curves."""
    base, better = method_label(s.baseline), method_label(s.better)
    ref, point = s.referral[s.baseline], s.referral[s.better]
    before = s.stream_error[s.better]
    curves = {m: stream.studies[m].referral_curve(STORY_SCORE) for m in (s.baseline, s.better)}
    return StoryStep(
        heading=f"4 · Referring the most uncertain {REFERRED_SHARE:.0%} cuts the error from "
                f"{pct(before)} to {pct(point.automated_error_rate)}",
        text=f"With {better}, sending the {REFERRED_SHARE:.0%} most uncertain cases to a human "
             f"leaves an error rate of {pct(point.automated_error_rate)} on the rest "
             f"(accuracy 95% CI {pct(point.automated_accuracy_ci[0])}–"
             f"{pct(point.automated_accuracy_ci[1])}); {base} "
             f"{pct(ref.automated_error_rate)}. Referring at random would keep {pct(before)}.",
        figure=referral_curve_figure(curves, operating_point=point, operating_method=s.better,
                                     height=380),
        chart_key="story_referral", link_page="pages/referral.py",
        link_label="Set your own threshold: Referral threshold →")


def guarantee_step(s: Story) -> StoryStep:
    """Step 5: the accuracy a threshold chosen on half of the stream guarantees on the rest,
    and what the other half, never seen, got."""
    g = s.guarantee
    c, held = g.certified, g.heldout
    held_text = (f" On the other half, which it never saw, {pct(held.automated_accuracy)} of "
                 f"the automated cases were right (95% CI {pct(held.automated_accuracy_ci[0])}–"
                 f"{pct(held.automated_accuracy_ci[1])}), referring "
                 f"{pct(held.referred_fraction)}." if held is not None else "")
    verdict = ("" if c.certified and c.target_accuracy >= TARGET_ACCURACY else
               f" ({TARGET_ACCURACY:.0%} could not be certified with this data: this is the "
               "highest accuracy that can be)")
    return StoryStep(
        heading=f"5 · With a guarantee: at least {pct(c.accuracy_bound)} right on the automated "
                f"cases, with {c.confidence:.0%} confidence",
        text=f"A threshold chosen on half of the stream ({c.n_calibration:,} cases) refers "
             f"{pct(g.calibration.referred_fraction)} of them and guarantees at least "
             f"{pct(c.accuracy_bound)} accuracy on the rest with probability "
             f"{c.confidence:.0%}{verdict}.{held_text}",
        figure=guarantee_figure(
            certified=c.accuracy_bound, calibration=g.calibration.automated_accuracy,
            heldout=None if held is None else (held.automated_accuracy,
                                               *held.automated_accuracy_ci),
            target=TARGET_ACCURACY),
        chart_key="story_guarantee", link_page="pages/referral.py",
        link_label="The guarantee, step by step: Referral threshold →")


def drift_step(s: Story) -> StoryStep | None:
    """Step 6: when the better method's stream drifts, where the alarm fires and how far the
    label-free estimate follows the accuracy; None when the story has no drift."""
    if s.drift is None:
        return None
    d = s.drift.summary
    alarm = f"the alarm fires at batch {d.alarm_batch}" if d.first_alarm is not None else \
        "no alarm"
    return StoryStep(
        heading="6 · The stream drifts: " + alarm,
        text=f"{method_label(s.better)} on a stream that drifts: {s.drift.watched.description}. "
             f"{alarm_sentence(d)} {estimate_sentence(d)} The drift is seen without labels; "
             "how far accuracy fell, only as far as the estimate holds under this shift.",
        figure=drift_accuracy_figure(s.drift.result, method=s.better,
                                     estimator_label=ESTIMATORS[d.estimator].label,
                                     drift_batch=d.drift_batch),
        chart_key="story_drift", link_page="pages/monitor.py",
        link_label="Move the batch size and α: Monitor the stream →")


def first_step(clean: Comparison) -> StoryStep:
    """Step 1 from the clean test rows' comparison alone (``uqviz.story.first_step_numbers``):
    the same step as ``story_steps``' first, before the stream's rows are predicted."""
    return clean_step(first_step_numbers(clean))


def later_steps(s: Story, stream: Comparison) -> list[StoryStep]:
    """Steps 2 to 5, and the drift as a sixth when the story has one (see ``story_steps``)."""
    steps = [confidently_wrong_step(s), separation_step(s), referral_step(s, stream),
             guarantee_step(s), drift_step(s)]
    return [step for step in steps if step is not None]


def story_steps(s: Story, stream: Comparison) -> list[StoryStep]:
    """The story's steps in order: five, and the drift as a sixth when the story has one.

    Args:
        s: the story (``uqviz.ui.backend.story``).
        stream: the comparison on the incoming stream it was computed from (step 4 draws its
            referral curves).
    """
    return [clean_step(s), *later_steps(s, stream)]
