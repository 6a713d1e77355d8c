"""The presenter's minute: five numbers, each from the data, that tell why uncertainty matters.

1. On clean test data the model is right (accuracy with a 95% Wilson interval).
2. On the incoming stream it is confidently wrong on some cases (the share of stream cases
   predicted wrong, or automated out-of-distribution cases, with confidence ≥ 90%), and how
   many fewer the better method is: a paired difference (both methods see the same cases), so
   its interval, from the per-case differences, is tighter than the two shares' intervals.
3. The uncertainty of the better methods separates right from wrong (AUROC of predictive
   entropy, wrong against right, with a 95% bootstrap interval), and the paired difference of
   the two AUROCs on the same cases (the page says "about as well" when its interval holds 0).
4. Referring the most uncertain 10% cuts the error on the automated cases from a to b.
5. With a guarantee: the accuracy certified on the automated cases (``uqviz.metrics.guarantee``),
   chosen on one half of the stream, and what the other half shows.
6. The stream drifts (``uqviz.monitor.demo_drift_stream``: clean, then brightness rising, then
   out-of-distribution cases; a user's rows in order for a file or a model): the drift alarm
   fires at batch k, and the accuracy estimated without labels is set beside the truth — the
   Monitor page's default numbers (``uqviz.monitor.watch_stream``, the better method).

Headless: ``story(clean, stream)`` takes two ``Comparison`` objects (the clean test rows and the
incoming stream of the same methods) and returns plain numbers; the Story page draws them.
Step 1 needs only the clean test rows: ``first_step_numbers(clean)`` gives its numbers alone, so
that the page can show it while the other rows are still being predicted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from uqviz.metrics.bootstrap import bootstrap_ci, bootstrap_mean_ci, bootstrap_ood_auroc_ci
from uqviz.metrics.classification import wilson_ci
from uqviz.metrics.ood import auroc_by_ranks, ood_detection
from uqviz.metrics.selective import OperatingPoint
from uqviz.monitor import Watch, demo_drift_stream, own_stream, watch_stream
from uqviz.study import Comparison, GuaranteedReferral, Study

CONFIDENT = 0.9
REFERRED_SHARE = 0.10
STORY_SCORE = "entropy"
TARGET_ACCURACY = 0.95
CONFIDENCE = 0.95
PREFERRED = ("deep_ensemble", "prior_ensemble", "mc_dropout", "temperature")

Estimate = tuple[float, float, float]  # value, lower, upper (95%)


@dataclass(frozen=True)
class Story:
    """The five steps' numbers, per method where a step compares methods.

    Attributes:
        baseline: the method the story starts from (softmax when present).
        better: the method it shows off (the deep ensemble when present).
        clean_accuracy: method -> accuracy on the clean test rows.
        confidently_wrong: method -> share of stream cases wrong with confidence ≥ 90%.
        fewer_confidently_wrong: baseline's share minus better's, on the same cases, with a
            95% paired bootstrap interval (2,000 resamples of the per-case differences).
        separation: method -> AUROC of entropy telling wrong from right on the stream.
        better_separation: better's AUROC minus baseline's, with a 95% paired bootstrap
            interval (1,000 resamples of the stream's cases).
        referral: method -> the operating point after referring the most uncertain 10%.
        stream_error: method -> error rate on the whole stream, nothing referred (what
            referring at random keeps).
        guarantee: the better method's guaranteed threshold (target 95% at 95% confidence,
            or the best certifiable).
        n_clean: clean test rows; n_stream: stream rows; mix: the stream's description.
        drift: the better method's drifting stream watched by the monitor (its summary: the
            first alarm's batch, the estimate without labels and the truth after it); None
            when the data give no stream to watch (no labelled rows for a reference).
    """

    baseline: str
    better: str
    clean_accuracy: dict[str, Estimate]
    confidently_wrong: dict[str, Estimate]
    fewer_confidently_wrong: Estimate
    separation: dict[str, Estimate]
    better_separation: Estimate
    referral: dict[str, OperatingPoint]
    stream_error: dict[str, float]
    guarantee: GuaranteedReferral
    n_clean: int
    n_stream: int
    mix: str
    drift: Watch | None = None


@dataclass(frozen=True)
class FirstStep:
    """Step 1's numbers, which need only the clean test rows (the same names as ``Story``'s).

    Attributes:
        baseline: the method the story starts from (``baseline_method``).
        clean_accuracy: method -> accuracy on the clean test rows, with its 95% Wilson interval.
        n_clean: clean test rows.
    """

    baseline: str
    clean_accuracy: dict[str, Estimate]
    n_clean: int


def baseline_method(methods: list[str] | tuple[str, ...]) -> str:
    """The method the story starts from: softmax when chosen, else the first."""
    if not methods:
        raise ValueError("the story needs at least one method, got none")
    return "softmax" if "softmax" in methods else methods[0]


def first_step_numbers(clean: Comparison) -> FirstStep:
    """Step 1 from the clean test rows alone: each method's accuracy k/n with its 95% Wilson
    interval (Wilson 1927), k right of the n labelled in-distribution rows (``Study.correct``).
    ``story`` computes the same numbers, from the same rows however many others were
    predicted (``uqviz.runs.only_test_rows``)."""
    return FirstStep(
        baseline=baseline_method(clean.methods),
        clean_accuracy={m: _share(int(s.correct.sum()), s.n) for m, s in clean.studies.items()},
        n_clean=clean.n)


def _share(k: int, n: int) -> Estimate:
    lo, hi = wilson_ci(k, n)
    return (k / n if n else float("nan"), float(lo), float(hi))


def confidently_wrong_cases(s: Study) -> np.ndarray:
    """(N,) bool over the stream: wrong (or out-of-distribution) with confidence ≥ 90%."""
    return (s.stream_rows.confidence >= CONFIDENT) & ~s.stream_correct


def _confidently_wrong(s: Study) -> Estimate:
    cases = confidently_wrong_cases(s)
    return _share(int(cases.sum()), cases.size)


def paired_gap(base: np.ndarray, other: np.ndarray) -> Estimate:
    """mean(base) − mean(other) over the same cases, with the 95% percentile bootstrap
    interval of the mean per-case difference (Efron & Tibshirani 1993, ch. 13)."""
    diff = np.asarray(base, dtype=np.float64) - np.asarray(other, dtype=np.float64)
    if diff.size == 0:
        return (float("nan"),) * 3
    lo, hi = bootstrap_mean_ci(diff, n_resamples=2000, seed=0)
    return (float(diff.mean()), float(lo), float(hi))


def _separation(s: Study) -> Estimate:
    u, right = s.stream_uncertainty(STORY_SCORE), s.stream_correct
    if right.all() or not right.any():
        return (float("nan"),) * 3
    auroc = ood_detection(u[right], u[~right]).auroc
    lo, hi = bootstrap_ood_auroc_ci(u[right], u[~right], n_resamples=1000, seed=0)
    return (auroc, lo, hi)


def separation_gap(base: Study, other: Study) -> Estimate:
    """AUROC(other) − AUROC(base) of entropy telling wrong from right on the same stream cases,
    with the 95% percentile bootstrap interval of the difference (cases resampled jointly)."""
    arrays = (base.stream_uncertainty(STORY_SCORE), base.stream_correct,
              other.stream_uncertainty(STORY_SCORE), other.stream_correct)

    def gap(u0, right0, u1, right1) -> float:
        return (auroc_by_ranks(u1[right1], u1[~right1])
                - auroc_by_ranks(u0[right0], u0[~right0]))

    value = gap(*arrays)
    if np.isnan(value):
        return (float("nan"),) * 3
    lo, hi = bootstrap_ci(gap, *arrays, n_resamples=1000, seed=0)
    return (float(value), float(lo), float(hi))


def drift_watch(s: Study, *, demo: bool = True) -> Watch | None:
    """The Monitor page's default on one method: the demo drift stream (``demo``) or the rows
    in their order, watched with the default batch size, α and estimator; None when the data
    give no such stream."""
    try:
        watched = demo_drift_stream(s.predictions) if demo else own_stream(s.predictions)
    except ValueError:
        return None
    return watch_stream(watched)


def story(clean: Comparison, stream: Comparison, *, demo_drift: bool = True) -> Story:
    """The six steps on the same methods: ``clean`` on the clean test rows, ``stream`` on the
    incoming stream; ``demo_drift``: step 6 watches the demo drift stream (a trained dataset),
    else the rows in their order (a user's file or model)."""
    methods = stream.methods
    baseline = baseline_method(methods)
    first = first_step_numbers(clean)
    better = next((m for m in PREFERRED if m in methods and m != baseline), methods[-1])
    studies = stream.studies
    guarantee = studies[better].guaranteed_referral(
        STORY_SCORE, target_accuracy=TARGET_ACCURACY, confidence=CONFIDENCE)
    if not guarantee.certified.certified:  # show the best that can be certified instead
        guarantee = studies[better].guaranteed_referral(
            STORY_SCORE, target_accuracy=max(guarantee.certified.accuracy_bound, 1e-9),
            confidence=CONFIDENCE)
    return Story(
        baseline=baseline, better=better,
        clean_accuracy=first.clean_accuracy,
        confidently_wrong={m: _confidently_wrong(s) for m, s in studies.items()},
        fewer_confidently_wrong=paired_gap(confidently_wrong_cases(studies[baseline]),
                                           confidently_wrong_cases(studies[better])),
        separation={m: _separation(s) for m, s in studies.items()},
        better_separation=separation_gap(studies[baseline], studies[better]),
        referral={m: s.operating_point(STORY_SCORE, "budget", REFERRED_SHARE)
                  for m, s in studies.items()},
        stream_error={m: float(1 - s.stream_correct.mean()) for m, s in studies.items()},
        guarantee=guarantee, n_clean=first.n_clean,
        n_stream=int(np.max([s.stream.n for s in studies.values()])),
        mix=stream.mix.describe(), drift=drift_watch(clean.studies[better], demo=demo_drift))
