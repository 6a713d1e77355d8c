"""The Monitor page's backend: which stream is watched, its monitor cached by the slider values,
and the sentences that state what it found (numbers from ``uqviz.monitor.watch_stream``).

On a trained dataset the stream is the demo drift (``demo_drift_stream``: clean, then brightness
rising severity by severity, then out-of-distribution cases) of one method's predictions; on a
user's predictions file or model it is their own rows in order (``own_stream``). Both are cached
by (key, method, kind); each (batch size, α, estimator, score) is computed once
(``st.cache_resource``): a slider's position answers from the cache the second time, and in well
under a second the first. The score that drives referral, the OOD flags and the drift test is any
probability, logit or feature score the stream has (``monitor_score_keys``); a fitted one is
fitted once per (key, method, kind, score) on part of the reference (``monitor_scores``).
"""

from __future__ import annotations

import math

import streamlit as st

from uqviz.glossary import term_text
from uqviz.metrics.label_free import ESTIMATORS as ESTIMATORS  # the page's estimator choice
from uqviz.monitor import DEMO_BATCH_SIZE as DEMO_BATCH_SIZE
from uqviz.monitor import DEMO_ESTIMATOR as DEMO_ESTIMATOR
from uqviz.monitor import DEMO_REFERRED_SHARE as DEMO_REFERRED_SHARE
from uqviz.monitor import DEMO_SCORE as DEMO_SCORE
from uqviz.monitor import DEMO_TARGET_ACCURACY as DEMO_TARGET_ACCURACY
from uqviz.monitor import (
    MonitorSummary,
    StreamScores,
    Watch,
    WatchedStream,
    demo_drift_stream,
    monitor_score_keys,
    monitor_scores,
    own_stream,
    watch_stream,
)
from uqviz.predictions import TEST_GROUP
from uqviz.sources import DATASET, YOUR_MODEL
from uqviz.story import PREFERRED
from uqviz.ui.backend import source, study
from uqviz.ui.ood import score_label as score_label
from uqviz.ui.ood import score_meaning, score_needs

DEMO, OWN = "demo", "own"
ALARM_HELP = term_text("Drift alarm")
ESTIMATE_HELP = term_text("Accuracy without labels")


def stream_kind(key: str) -> str:
    """``demo`` for a trained dataset, ``own`` for a user's predictions file or model."""
    return DEMO if source(key).kind == DATASET else OWN


def default_method(methods: list[str]) -> str:
    """The deep ensemble when chosen, else the next of the Story's preferred methods, else the
    first."""
    return next((m for m in PREFERRED if m in methods), methods[0])


@st.cache_resource(show_spinner=False, max_entries=16)
def watched_stream(key: str, method: str, kind: str) -> WatchedStream:
    """The stream a method's predictions give (``demo`` or ``own``: a file's rows, or a user's
    model's own images in folder order); ValueError when the data cannot make it (no labelled
    rows, no corrupted copies…)."""
    predictions = study(key, method).predictions
    if kind == DEMO:
        return demo_drift_stream(predictions)
    own_images = (TEST_GROUP,) if source(key).kind == YOUR_MODEL else None  # not the app's copies
    return own_stream(predictions, groups=own_images)


@st.cache_resource(show_spinner=False, max_entries=16)
def score_choices(key: str, method: str, kind: str) -> tuple[list[str], dict[str, str]]:
    """The scores that can drive this stream's monitor, and why the others cannot
    (``monitor_score_keys``)."""
    w = watched_stream(key, method, kind)
    return monitor_score_keys(w.reference, w.stream)


@st.cache_resource(show_spinner="Fitting the score on the reference…", max_entries=32)
def stream_scores(key: str, method: str, kind: str, score: str) -> StreamScores:
    """``score`` on the reference's calibration rows and the stream (``monitor_scores``; a
    fitted score fitted on part of the reference, never on the stream)."""
    w = watched_stream(key, method, kind)
    return monitor_scores(w.reference, w.stream, score)


@st.cache_resource(show_spinner=False, max_entries=64)
def watch(key: str, method: str, kind: str, batch_size: int, by_group: bool, alpha: float,
          estimator: str, score: str = DEMO_SCORE) -> Watch:
    """The monitor of ``watched_stream`` at these settings (``watch_stream``)."""
    return watch_stream(watched_stream(key, method, kind), batch_size=batch_size,
                        by_group=by_group, alpha=alpha, estimator=estimator, score=score,
                        scores=stream_scores(key, method, kind, score))


def score_option_label(score: str) -> str:
    """A score in the select box: its label and what it is computed from."""
    return f"{score_label(score)} ({score_needs(score)})"


def score_help(options: list[str]) -> str:
    return ("Higher = more likely out of distribution; referral, the OOD flags and the drift "
            "test read it. Fitted scores (KNN, ViM, Mahalanobis) are fitted on half the "
            "reference's labelled cases and compared with the other half, never with the "
            "stream's own cases. " + " ".join(f"{score_label(k)}: {score_meaning(k)}"
                                             for k in options))


def unavailable_line(unavailable: dict[str, str]) -> str:
    """One line naming the scores this stream cannot give, grouped by what is missing; empty
    when every score is available."""
    if not unavailable:
        return ""
    by_reason: dict[str, list[str]] = {}
    for key, why in unavailable.items():
        reason = why.removeprefix(score_label(key)).strip()
        by_reason.setdefault(reason, []).append(score_label(key))
    return "Not available here: " + "; ".join(
        f"{', '.join(names)} ({reason})" for reason, names in by_reason.items()) + "."


def settings_text(settings: dict, n_fit: int, n_calibration: int) -> str:
    """The score's settings and its fit, in a few words (empty for a probability score)."""
    shown = {"k": "k", "dim": "ViM dimension", "gamma": "γ", "top_m": "M",
             "temperature": "T", "classes": "classes"}
    parts = [f"{shown[k]} = {v:g}" if isinstance(v, float) else f"{shown[k]} = {v}"
             for k, v in settings.items() if k in shown]
    if n_fit:
        parts.append(f"fitted on {n_fit} reference cases, compared with the other "
                     f"{n_calibration}")
    return "; ".join(parts)


def batch_size_range(n: int) -> tuple[int, int, int, int]:
    """(smallest, largest, default, step) batch size for a stream of ``n`` rows: at most 200
    batches, at least 3, the demo's 20 when it fits."""
    low = max(5, math.ceil(n / 200))
    high = max(low, min(n, max(60, n // 3)))
    step = 5 if high <= 100 else max(1, (high - low) // 100)
    wanted = DEMO_BATCH_SIZE if low <= DEMO_BATCH_SIZE <= high else max(low, n // 20)
    default = min(high, low + step * round((wanted - low) / step))  # on the slider's grid
    return low, high, default, step


def pct(x: float) -> str:
    """A share in whole percent, with one decimal near 0% and 100% (99.6%, not 100%)."""
    if x != x:
        return "unknown"
    return f"{100 * x:.0f}%" if 0.005 <= x <= 0.995 else f"{100 * x:.1f}%"


def alarm_sentence(s: MonitorSummary) -> str:
    """When the first alarm fired, which, after how many rows, at what severity (the demo)."""
    alpha = f"α = {100 * s.alpha:g}%"
    if s.first_alarm is None:
        return (f"No alarm fired over the {s.n_batches} batches ({alpha}): the stream looks "
                "like the reference.")
    which = ("drift alarm" if s.first_alarm == s.first_drift_alarm else "accuracy alarm")
    where = ""
    if s.alarm_severity is not None:
        where = (" once out-of-distribution cases arrived" if s.alarm_severity < 0 else
                 f", when the brightness had reached severity {s.alarm_severity}")
    return (f"The {which} fired at batch {s.alarm_batch} of {s.n_batches} ({alpha}), after "
            f"{s.rows_to_alarm} cases{where}.")


def estimate_sentence(s: MonitorSummary) -> str:
    """The label-free estimate on the rows from the alarm on, beside the truth."""
    e = s.estimate
    since = (f"From batch {s.window_start + 1} on" if s.window_start else "Over the stream")
    truth = ("" if s.n_true == 0 else f"; the true accuracy, known here, is "
             f"{pct(s.true_accuracy)}")
    verb = "fell to" if e.estimate < s.reference_accuracy else "stays at"
    return (f"{since} ({s.n_window} cases), the estimate without labels "
            f"({ESTIMATORS[s.estimator].label}) says accuracy {verb} {pct(e.estimate)} "
            f"({e.level:.0%} interval {pct(e.low)}–{pct(e.high)}; reference "
            f"{pct(s.reference_accuracy)}){truth}.")
