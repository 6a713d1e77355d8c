"""Watch the stream: cut incoming cases into batches, describe each batch, and raise two alarms
that hold over the whole stream, however long it is watched.

**Batches.** Rows in time order — the stream's own order, or stably sorted by a batch or time
label (numbers numerically, text as text: ISO dates sort in time) — cut into consecutive
batches of ``batch_size`` rows, or one batch per distinct label.

**Per batch.** ``n``; the referred share (score ``> threshold``, the policy's rule; NaN
without a threshold); the mean confidence ``mean max_c p̄_c``; the label-free estimated accuracy
with its interval (``uqviz.metrics.label_free``, ATC-MC by default; a per-batch interval, not
a time-uniform one); the share flagged out-of-distribution: a score above the reference's
conformal 95% quantile ``q = s_(⌈0.95 (n_R + 1)⌉)`` (``ood_quantile``), so that on a stream
exchangeable with the reference at most 5% of rows are flagged on average; the true accuracy
where labels are known (OOD rows count as wrong).

**Scores.** Referral, the OOD flags and the drift test read one score per row, higher = more
likely out of distribution: a probability score (``UNCERTAINTY_SCORES``: 1 − max probability,
entropy, …) or a logit or feature score (``uqviz.metrics.ood_scores.LOGIT_FEATURE_SCORES``:
max-logit, energy, GEN from the logits; KNN, ViM, Mahalanobis, relative Mahalanobis from the
features). The fitted scores (KNN's bank, ViM's principal space, the class means and
covariances) are fitted on the reference only, never on a stream row, and on a part of it kept
apart (``monitor_scores``): a seeded ``fit_share`` of the reference's labelled
in-distribution rows fits the score, the other reference rows calibrate it (their scores are
the ones the quantiles and p-values compare with). Scoring the reference rows a score was fitted
on would make them look more familiar than any new row (a KNN bank holds each of its rows at
distance 0), the stream would look drifted from its first row and the alarm's guarantee would
be lost; split apart, the calibration rows and an exchangeable stream are scored by the same
fixed function, so the guarantees below hold for every score. A score needs what it is
computed from (logits, features, labelled reference rows to fit on); ``score_unavailable``
says which is missing.

**Drift alarm — a conformal test martingale (Simple Jumper).** The reference rows followed by
the stream rows form one sequence. Each stream row gets the smoothed conformal p-value of its
uncertainty among all rows so far (reference and stream, itself included):
``p_n = (#{j ≤ n: s_j > s_n} + U_n · #{j ≤ n: s_j = s_n}) / n``, ``U_n ~ U(0, 1)`` seeded.
If the whole sequence is exchangeable (nothing changed), ``p_1, p_2, …`` are independent and
uniform (Vovk, Gammerman & Shafer 2005, §7.1). The Simple Jumper bets on them with
``f_ε(p) = 1 + ε(p − 1/2)``, ε ∈ {−1, 0, 1} (ε = −1 wins when new rows are more uncertain
than the past, ε = 1 when they are less), moving a share J = 0.01 of its capital between the
three at every step: ``C_ε ← (1 − J) C_ε + (J/3) S``, then ``C_ε ← C_ε f_ε(p_n)``,
``S_n = Σ_ε C_ε``, ``S_0 = 1``. Each ``f_ε`` integrates to 1 on [0, 1], so ``S_n`` is a
non-negative martingale under exchangeability and, by Ville's inequality,
``P(∃ n: S_n ≥ 1/α) ≤ α``: **the probability of ever raising a false alarm over the whole
stream is at most α**, whatever its length and however often it is looked at. Why this one:
it needs no labels and no model of the scores, its guarantee is exact in finite samples, and
the jumps let it forget a long quiet stretch, so a change after thousands of calm rows is seen
about as fast as one at the start (a product of fixed bets would first have to win back what
it lost while nothing happened). It tests exchangeability of the uncertainty scores: any change
of their distribution, in either direction, can raise it; a change that leaves the scores'
distribution alone cannot.

**Accuracy alarm — a betting confidence sequence on audited cases.** Audited cases (labels
that arrive for some automated cases) give ``X_i = 1[correct]`` in time order. For a level
``m``, the capital ``K_t(m) = Π_{i ≤ t} (1 + λ_i (m − X_i))`` with a predictable
``λ_i ∈ [0, c/(1 − m)]`` (c = 1/2) is a non-negative supermartingale when every audited case's
conditional accuracy is at least m, so ``P(∃ t: K_t(m) ≥ 1/α) ≤ α`` (Ville). The **upper
bound** ``U_t`` is the smallest grid level above which every level has been rejected by time
t; the **lower bound** ``L_t`` is built the same way from ``Π (1 + λ_i (X_i − m))``; on a
stream whose accuracy does not change, ``P(∃ t: μ ∉ [L_t, U_t]) ≤ 2α``, each side at most α.
The **alarm** fires when the policy's target accuracy A is rejected from above,
``K_t(A) ≥ 1/α`` (then ``U_t ≤ A``): **if every automated case's accuracy stays at least A,
the probability of ever raising it is at most α.** (The lower bound falling below A is no
evidence of anything — it starts at 0 — so the alarm is read from the upper side.) The bets
follow Waudby-Smith & Ramdas' aGRAPA, ``λ_i = (m − μ̂_{i−1}) / (σ̂²_{i−1} + (m − μ̂_{i−1})²)``
clipped, with μ̂, σ̂² exponentially weighted means of past audits (half-life ``half_life``
audits; starting at 1/2 and 1/4), so the bet follows a drop in accuracy within about a
half-life while any predictable bet keeps the guarantee.

References:
    Vovk, Gammerman & Shafer, "Algorithmic Learning in a Random World", Springer 2005, ch. 7
    (and §2.1: inductive conformal prediction, the score fitted on a part kept apart);
    Vovk, Petej, Nouretdinov, Ahlberg, Carlsson & Gammerman, "Retrain or not retrain:
    conformal test martingales for change-point detection", COPA 2021, PMLR 152 (Simple
    Jumper); Ville, "Étude critique de la notion de collectif", 1939; Waudby-Smith & Ramdas,
    "Estimating means of bounded random variables by betting", JRSS B 86 (2024) / arXiv
    2010.09686 (2020); Garg et al., ICLR 2022 (ATC).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from uqviz.metrics.guarantee import calibration_split
from uqviz.metrics.label_free import (
    ESTIMATORS,
    AccuracyEstimate,
    estimate_accuracy,
    fit_reference,
)
from uqviz.metrics.ood_scores import LOGIT_FEATURE_SCORES, fit_ood_scores
from uqviz.metrics.scores import UNCERTAINTY_SCORES, uncertainty
from uqviz.predictions import FIT_GROUP, OOD_PREFIX, TEST_GROUP, Predictions

__all__ = [
    "Batches",
    "MonitorResult",
    "MonitorSummary",
    "StreamScores",
    "Watch",
    "WatchedStream",
    "accuracy_confidence_sequence",
    "conformal_p_values",
    "cut_batches",
    "demo_drift_stream",
    "monitor_score_keys",
    "monitor_scores",
    "monitor_stream",
    "own_stream",
    "reference_quantile",
    "score_unavailable",
    "simple_jumper",
    "stream_truth",
    "watch_stream",
]

JUMP = 0.01
BET_CAP = 0.5
GRID_STEP = 0.005
CHUNK = 512
FIT_SHARE = 0.5  # of the reference's labelled rows, to fit a fitted score (monitor_scores)


@dataclass(frozen=True)
class Batches:
    """The stream's rows in batches: ``rows[b]`` the row indices of batch b, in time order."""

    names: tuple[str, ...]
    rows: tuple[np.ndarray, ...]

    @property
    def order(self) -> np.ndarray:
        """(N,) every row index in time order."""
        return np.concatenate(self.rows) if self.rows else np.zeros(0, dtype=np.int64)


def cut_batches(n: int, *, batch_size: int | None = None,
                batch_labels: np.ndarray | None = None) -> Batches:
    """Cut ``n`` rows into batches: consecutive ``batch_size`` rows (the last may be shorter),
    or one batch per distinct label of ``batch_labels`` (N,), rows stably sorted by it
    (numbers numerically, text as text). Exactly one of the two."""
    if (batch_size is None) == (batch_labels is None):
        raise ValueError("give a batch size or batch labels (one of the two), got "
                         f"batch_size={batch_size!r} and "
                         f"{'no' if batch_labels is None else 'some'} batch labels")
    if n < 1:
        raise ValueError(f"the stream is empty: nothing to cut into batches (n = {n})")
    if batch_size is not None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) \
                or batch_size < 1:
            raise ValueError(f"batch size must be an integer >= 1, got {batch_size!r}")
        starts = range(0, n, int(batch_size))
        return Batches(tuple(str(i + 1) for i in range(len(starts))),
                       tuple(np.arange(s, min(s + int(batch_size), n)) for s in starts))
    labels = np.asarray(batch_labels)
    if labels.shape != (n,):
        raise ValueError(f"batch labels must have shape ({n},), got {labels.shape}")
    if labels.dtype.kind not in "iuf":
        labels = labels.astype(str)
    elif labels.dtype.kind == "f" and np.isnan(labels).any():
        raise ValueError(f"batch labels must not be empty; {int(np.isnan(labels).sum())} are")
    order = np.argsort(labels, kind="stable")
    values, starts = np.unique(labels[order], return_index=True)
    ends = [*starts[1:], n]
    return Batches(tuple(_label_text(v) for v in values),
                   tuple(order[s:e] for s, e in zip(starts, ends, strict=True)))


def _label_text(value) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def reference_quantile(reference_scores: np.ndarray, quantile: float) -> float:
    """The conformal quantile ``s_(⌈q (n + 1)⌉)`` of the reference scores (``+inf`` when
    ``⌈q (n + 1)⌉ > n``): a new exchangeable score exceeds it with probability at most 1 − q."""
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must be between 0 and 1, got {quantile}")
    scores = np.sort(np.asarray(reference_scores, dtype=np.float64))
    k = math.ceil(quantile * (scores.size + 1))
    return math.inf if k > scores.size else float(scores[k - 1])


def conformal_p_values(reference_scores: np.ndarray, stream_scores: np.ndarray, *,
                       seed: int = 0) -> np.ndarray:
    """Smoothed conformal p-values of each stream score among all scores so far (module
    docstring): ``p_n = (#{j ≤ n: s_j > s_n} + U_n #{j ≤ n: s_j = s_n}) / n``, the reference
    scores first in the sequence. (N,) float64 in (0, 1]; ``U_n`` from
    ``np.random.default_rng(seed)``.

    References: Vovk, Gammerman & Shafer, "Algorithmic Learning in a Random World", 2005,
    §2.1 (smoothed p-values) and §7.1 (their independence).
    """
    seen = np.sort(np.asarray(reference_scores, dtype=np.float64))
    stream = np.asarray(stream_scores, dtype=np.float64)
    if not (np.isfinite(seen).all() and np.isfinite(stream).all()):
        raise ValueError("scores must be finite (NaN or inf found)")
    uniform = np.random.default_rng(seed).random(stream.size)
    p = np.empty(stream.size)
    for start in range(0, stream.size, CHUNK):
        chunk = stream[start:start + CHUNK]
        k = chunk.size
        right = np.searchsorted(seen, chunk, side="right")
        left = np.searchsorted(seen, chunk, side="left")
        earlier = np.tri(k, k, -1, dtype=bool)  # [i, j]: j came before i in the chunk
        greater = seen.size - right + ((chunk[None, :] > chunk[:, None]) & earlier).sum(axis=1)
        equal = right - left + ((chunk[None, :] == chunk[:, None]) & earlier).sum(axis=1) + 1
        total = seen.size + np.arange(1, k + 1)
        p[start:start + k] = (greater + uniform[start:start + k] * equal) / total
        seen = np.sort(np.concatenate([seen, chunk]))
    return p


def simple_jumper(p_values: np.ndarray, *, jump: float = JUMP) -> np.ndarray:
    """log10 of the Simple Jumper martingale ``S_n`` after each p-value (module docstring).

    References: Vovk, Petej, Nouretdinov, Ahlberg, Carlsson & Gammerman, "Retrain or not
    retrain: conformal test martingales for change-point detection", COPA 2021, Algorithm 1.
    """
    if not 0 <= jump <= 1:
        raise ValueError(f"jump must be between 0 and 1, got {jump}")
    capital = [1 / 3, 1 / 3, 1 / 3]  # ε = -1, 0, 1; kept summing to 1, the scale in log_s
    log_s, out = 0.0, np.empty(len(p_values))
    for i, p in enumerate(np.asarray(p_values, dtype=np.float64).tolist()):
        a = ((1 - jump) * capital[0] + jump / 3) * (1.5 - p)
        b = (1 - jump) * capital[1] + jump / 3
        c = ((1 - jump) * capital[2] + jump / 3) * (0.5 + p)
        total = a + b + c
        capital = [a / total, b / total, c / total]
        log_s += math.log(total)
        out[i] = log_s
    return out / math.log(10)


def _predictable_moments(x: np.ndarray, half_life: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance estimates known BEFORE each observation: exponentially weighted
    (weight max(1/(t+2), 1 − 2^(−1/h)) on the t-th new value), from 1/2 and 1/4."""
    floor = 1 - 2 ** (-1 / half_life)
    mu, var = 0.5, 0.25
    mus, vs = np.empty(x.size), np.empty(x.size)
    for t, value in enumerate(x.tolist()):
        mus[t], vs[t] = mu, var
        w = max(1 / (t + 2), floor)
        var = (1 - w) * var + w * (value - mu) ** 2
        mu = (1 - w) * mu + w * value
    return mus, vs


def _rejected(x, mus, vs, levels, alpha, side) -> np.ndarray:
    """(T, M) bool: level m rejected by time t (capital reached 1/α at some time ≤ t)."""
    m = levels[None, :]
    gap = (m - mus[:, None]) if side == "upper" else (mus[:, None] - m)
    room = np.maximum(1 - m, 1e-12) if side == "upper" else np.maximum(m, 1e-12)
    bet = np.clip(gap / (vs[:, None] + gap ** 2 + 1e-12), 0, BET_CAP / room)
    move = (m - x[:, None]) if side == "upper" else (x[:, None] - m)
    log_capital = np.cumsum(np.log1p(bet * move), axis=0)
    return np.maximum.accumulate(log_capital, axis=0) >= math.log(1 / alpha)


def accuracy_confidence_sequence(correct: np.ndarray, *, alpha: float = 0.05,
                                 half_life: float = 50.0, target: float | None = None):
    """Time-uniform bounds on the accuracy of audited cases, and the target's rejection.

    Args:
        correct: (T,) 0/1 correctness of the audited cases in time order.
        alpha: each side's error level.
        half_life: of the bets' moment estimates, in audits.
        target: the level A tested for the alarm (added to the grid of step 0.005).

    Returns:
        ``(lower, upper, alarm)``: (T,) float64 bounds after each audit (module docstring) and
        (T,) bool, true from the first audit at which ``K_t(A) ≥ 1/α`` (all False without a
        target).

    References: Waudby-Smith & Ramdas, "Estimating means of bounded random variables by
    betting", JRSS B 2024 (aGRAPA bets, the running intersection); Ville 1939.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    x = np.asarray(correct, dtype=np.float64)
    if x.ndim != 1 or ((x != 0) & (x != 1)).any():
        raise ValueError("correct must be a 1-D array of 0/1 values")
    levels = np.linspace(0.0, 1.0, round(1 / GRID_STEP) + 1)
    if target is not None:
        if not 0 < target <= 1:
            raise ValueError(f"target accuracy must be in (0, 1], got {target}")
        levels = np.union1d(levels, [target])
    if x.size == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool)
    mus, vs = _predictable_moments(x, half_life)
    upper_rejected = _rejected(x, mus, vs, levels, alpha, "upper")
    lower_rejected = _rejected(x, mus, vs, levels, alpha, "lower")
    m = levels.size
    last_open = m - 1 - np.argmax(~upper_rejected[:, ::-1], axis=1)  # largest level kept
    all_gone = upper_rejected.all(axis=1)
    upper = np.where(all_gone, 0.0, levels[np.minimum(last_open + 1, m - 1)])
    upper = np.where(~all_gone & (last_open == m - 1), 1.0, upper)
    first_open = np.argmax(~lower_rejected, axis=1)  # smallest level kept
    lower = np.where(lower_rejected.all(axis=1), 1.0, levels[np.maximum(first_open - 1, 0)])
    lower = np.where(first_open == 0, 0.0, lower)
    alarm = (upper_rejected[:, int(np.searchsorted(levels, target))] if target is not None
             else np.zeros(x.size, dtype=bool))
    return lower, upper, alarm


# -- the score: a probability, logit or feature score, fitted on the reference only ---------------
def _valid_score(score: str) -> None:
    if score not in UNCERTAINTY_SCORES and score not in LOGIT_FEATURE_SCORES:
        raise ValueError(f"unknown uncertainty score {score!r}; valid: "
                         f"{', '.join([*UNCERTAINTY_SCORES, *LOGIT_FEATURE_SCORES])}")


def _fit_rows_of(reference: Predictions) -> np.ndarray:
    """Positions of the reference rows a fitted score may fit on: labelled, in distribution."""
    return np.flatnonzero((reference.labels >= 0) & ~reference.is_ood)


def score_unavailable(reference: Predictions, stream: Predictions, score: str, *,
                      fit_share: float = FIT_SHARE) -> str | None:
    """Why ``score`` cannot drive the monitor of ``stream`` against ``reference``; None when
    it can.

    A logit score needs ``logits`` on both, a feature score ``features`` on both (ViM both, and
    at least 2 feature dimensions), a fitted score at least 2 labelled reference rows in its
    ``fit_share`` and at least one reference row left to calibrate (``monitor_scores``).
    Probability scores are always available.

    Raises:
        ValueError: for a key of neither registry.
    """
    _valid_score(score)
    if score in UNCERTAINTY_SCORES:
        return None
    info = LOGIT_FEATURE_SCORES[score]
    for what, needed in (("logits", info.needs_logits), ("features", info.needs_features)):
        if not needed:
            continue
        lacking = [name for name, p in (("the reference", reference), ("the stream", stream))
                   if getattr(p, what) is None]
        if lacking:
            return (f"{info.label} needs {what} (NPZ array '{what}'); "
                    f"{' and '.join(lacking)} {'have' if len(lacking) > 1 else 'has'} none")
    if info.needs_features and reference.features.shape[1] != stream.features.shape[1]:
        return (f"{info.label}: the reference has {reference.features.shape[1]} features per "
                f"row and the stream {stream.features.shape[1]}")
    if score == "vim" and reference.features.shape[1] < 2:
        return f"{info.label} needs at least 2 features per row, got 1"
    if info.fitted:
        n_labelled = _fit_rows_of(reference).size
        n_fit = int(round(fit_share * n_labelled))
        if n_fit < 2 or reference.n - n_fit < 1:
            return (f"{info.label} is fitted on {fit_share:.0%} of the reference's labelled "
                    f"in-distribution rows ({n_fit} of {n_labelled}; needs at least 2) and "
                    f"calibrated on the other {reference.n - n_fit} reference rows (needs at "
                    "least 1)")
    return None


def monitor_score_keys(reference: Predictions,
                       stream: Predictions) -> tuple[list[str], dict[str, str]]:
    """The scores that can drive the monitor (the probability scores that mean something for
    this many samples, then the available logit and feature scores, each registry's order)
    and, for the others of ``LOGIT_FEATURE_SCORES``, why not (``score_unavailable``)."""
    samples = min(reference.num_samples, stream.num_samples)
    keys = [k for k, info in UNCERTAINTY_SCORES.items()
            if samples > 1 or not info.needs_samples]
    unavailable = {}
    for key in LOGIT_FEATURE_SCORES:
        why = score_unavailable(reference, stream, key)
        if why is None:
            keys.append(key)
        else:
            unavailable[key] = why
    return keys, unavailable


@dataclass(frozen=True, eq=False)
class StreamScores:
    """One score on the reference's calibration rows and on the stream (``monitor_scores``).

    Attributes:
        key: the score (``UNCERTAINTY_SCORES`` or ``LOGIT_FEATURE_SCORES``).
        reference: (n_calibration,) the score of the reference rows that calibrate (every
            reference row for an unfitted score; those outside the fit part otherwise).
        stream: (N,) the score of every stream row, in the stream's order.
        n_fit: reference rows the score was fitted on (0 when nothing is fitted).
        settings: the score's settings (``FittedOODScores.settings``: KNN's k, ViM's dimension,
            GEN's γ and M …), JSON-ready; empty for a probability score.
    """

    key: str
    reference: np.ndarray
    stream: np.ndarray
    n_fit: int
    settings: dict = field(default_factory=dict)

    @property
    def n_calibration(self) -> int:
        return int(self.reference.size)


def _as_fit_rows(p: Predictions) -> Predictions:
    """``p``'s rows as rows of group ``fit``, what ``fit_ood_scores`` fits on."""
    return Predictions(probs=p.probs, labels=p.labels, group=np.full(p.n, FIT_GROUP, object),
                       is_ood=np.zeros(p.n, bool), features=p.features, method=p.method,
                       class_names=p.class_names, logits=p.logits)


def monitor_scores(reference: Predictions, stream: Predictions, score: str, *,
                   fit_share: float = FIT_SHARE, seed: int = 0) -> StreamScores:
    """The score ``score`` of the reference's calibration rows and of every stream row.

    * a probability score (``uncertainty``): every reference row calibrates;
    * max-logit, energy, GEN (``fit_ood_scores``'s default settings): nothing is fitted, every
      reference row calibrates;
    * KNN, ViM, Mahalanobis, relative Mahalanobis: ``fit_ood_scores`` fits them on a seeded
      ``fit_share`` of the reference's labelled in-distribution rows
      (``calibration_split(n_labelled, fit_share, seed)``); the other reference rows are the
      calibration rows. No stream row is ever fitted on (module docstring: why the fit part is
      not scored).

    Raises:
        ValueError: an unknown score, or one that is unavailable here (``score_unavailable``'s
            reason).

    References:
        Vovk, Gammerman & Shafer, "Algorithmic Learning in a Random World", 2005, §2.1 (the
        inductive split); the scores' papers in ``uqviz.metrics.ood_scores``.
    """
    why = score_unavailable(reference, stream, score, fit_share=fit_share)
    if why is not None:
        raise ValueError(f"score {score!r} is not available: {why}")
    if score in UNCERTAINTY_SCORES:
        return StreamScores(score, uncertainty(reference.probs, score),
                            uncertainty(stream.probs, score), 0)
    if not LOGIT_FEATURE_SCORES[score].fitted:
        fitted = fit_ood_scores(reference.select(np.zeros(reference.n, bool)))
        return StreamScores(score, fitted.score(score, reference), fitted.score(score, stream),
                            0, fitted.settings[score])
    candidates = _fit_rows_of(reference)
    part, _ = calibration_split(candidates.size, fit_share, seed)
    fit_rows = candidates[part]
    calibrating = np.ones(reference.n, bool)
    calibrating[fit_rows] = False
    fitted = fit_ood_scores(_as_fit_rows(reference.select(fit_rows)))
    if score in fitted.unavailable:
        raise ValueError(f"score {score!r} is not available: {fitted.unavailable[score]}")
    return StreamScores(score, fitted.score(score, reference.select(calibrating)),
                        fitted.score(score, stream), int(fit_rows.size), fitted.settings[score])


@dataclass(frozen=True, eq=False)
class MonitorResult:
    """Per-batch figures and the two alarms of a monitored stream (``monitor_stream``).

    Arrays are (B,), one entry per batch, in time order.

    Attributes:
        batch_names: each batch's name (its number, or its label).
        n: rows per batch.
        referred_share: share with score > threshold (NaN without a threshold).
        mean_confidence: mean of ``max_c p̄_c``.
        estimated_accuracy, estimate_low, estimate_high: the label-free estimate and its
            (per-batch) interval.
        true_accuracy: accuracy where labels are known (OOD rows wrong); NaN when none are.
        ood_share: share with a score above ``ood_threshold``.
        drift_log10_martingale: log10 of the Simple Jumper after the batch's last row.
        drift_alarm: the martingale reached 1/α at some row up to this batch's end.
        n_audits: audited automated cases in the batch.
        audit_accuracy: their accuracy (NaN without audits).
        accuracy_lower, accuracy_upper: the confidence sequence after the batch's last audit.
        accuracy_alarm: the target was rejected from above up to this batch's end.
        first_drift_alarm, first_accuracy_alarm: index of the first batch raising each
            alarm, None when none did.
        score, estimator, alpha, threshold, ood_threshold, target_accuracy, n_reference:
            the settings.
        score_settings: the score's settings (``StreamScores.settings``: KNN's k, ViM's
            dimension, GEN's γ and M …; empty for a probability score).
        n_score_fit: reference rows the score was fitted on (0: nothing fitted).
        n_calibration: reference rows whose scores calibrate the OOD flags and the drift test.
    """

    batch_names: tuple[str, ...]
    n: np.ndarray
    referred_share: np.ndarray
    mean_confidence: np.ndarray
    estimated_accuracy: np.ndarray
    estimate_low: np.ndarray
    estimate_high: np.ndarray
    true_accuracy: np.ndarray
    ood_share: np.ndarray
    drift_log10_martingale: np.ndarray
    drift_alarm: np.ndarray
    n_audits: np.ndarray
    audit_accuracy: np.ndarray
    accuracy_lower: np.ndarray
    accuracy_upper: np.ndarray
    accuracy_alarm: np.ndarray
    first_drift_alarm: int | None
    first_accuracy_alarm: int | None
    score: str
    estimator: str
    alpha: float
    threshold: float | None
    ood_threshold: float
    target_accuracy: float | None
    n_reference: int
    score_settings: dict = field(default_factory=dict)
    n_score_fit: int = 0
    n_calibration: int = 0

    @property
    def first_alarm(self) -> int | None:
        """The first batch raising either alarm, None when none did."""
        found = [b for b in (self.first_drift_alarm, self.first_accuracy_alarm) if b is not None]
        return min(found) if found else None

    def rows(self) -> list[dict]:
        """One JSON-ready dict per batch (NaN as None)."""
        def num(v):
            v = float(v)
            return None if math.isnan(v) else v

        out = []
        for b, name in enumerate(self.batch_names):
            out.append({
                "batch": name, "n": int(self.n[b]),
                "referred_share": num(self.referred_share[b]),
                "mean_confidence": num(self.mean_confidence[b]),
                "estimated_accuracy": num(self.estimated_accuracy[b]),
                "estimate_interval": [num(self.estimate_low[b]), num(self.estimate_high[b])],
                "true_accuracy": num(self.true_accuracy[b]),
                "ood_share": num(self.ood_share[b]),
                "drift_log10_martingale": num(self.drift_log10_martingale[b]),
                "drift_alarm": bool(self.drift_alarm[b]),
                "n_audits": int(self.n_audits[b]),
                "audit_accuracy": num(self.audit_accuracy[b]),
                "accuracy_bounds": [num(self.accuracy_lower[b]), num(self.accuracy_upper[b])],
                "accuracy_alarm": bool(self.accuracy_alarm[b]),
            })
        return out

    def to_dict(self) -> dict:
        first = self.first_alarm
        return {
            "score": self.score, "estimator": self.estimator, "alpha": self.alpha,
            "threshold": self.threshold,
            "ood_threshold": None if math.isinf(self.ood_threshold) else self.ood_threshold,
            "target_accuracy": self.target_accuracy, "n_reference": self.n_reference,
            "score_settings": self.score_settings, "n_score_fit": self.n_score_fit,
            "n_calibration": self.n_calibration, "batches": self.rows(),
            "first_alarm": None if first is None else self.batch_names[first],
            "first_drift_alarm": (None if self.first_drift_alarm is None
                                  else self.batch_names[self.first_drift_alarm]),
            "first_accuracy_alarm": (None if self.first_accuracy_alarm is None
                                     else self.batch_names[self.first_accuracy_alarm]),
        }


def _first(flags: np.ndarray) -> int | None:
    return int(np.argmax(flags)) if flags.any() else None


def monitor_stream(reference: Predictions, stream: Predictions, *, score: str = "max_prob",
                   batch_size: int | None = None, batch_labels: np.ndarray | None = None,
                   threshold: float | None = None, target_accuracy: float | None = None,
                   alpha: float = 0.05, estimator: str = "atc_mc", ood_quantile: float = 0.95,
                   audited: np.ndarray | None = None, half_life: float = 50.0,
                   n_boot: int = 200, seed: int = 0, fit_share: float = FIT_SHARE,
                   scores: StreamScores | None = None) -> MonitorResult:
    """Monitor ``stream`` against ``reference`` batch by batch (module docstring).

    Args:
        reference: the reference rows (the calibration part): the scores of its calibration
            rows enter the drift test and set the OOD flags' quantile (every row, unless a
            fitted score keeps a part to fit on: ``monitor_scores``); the labelled rows fit
            the label-free estimator.
        stream: the incoming rows, in time order unless ``batch_labels`` say otherwise.
        score: the score for referral, OOD flags and the drift test: a probability score
            (``UNCERTAINTY_SCORES``) or a logit or feature score (``LOGIT_FEATURE_SCORES``,
            fitted on the reference only: ``monitor_scores``).
        batch_size, batch_labels: how to cut batches (``cut_batches``), one of the two.
        threshold: refer rows with uncertainty > threshold (a policy's); None: refer none.
        target_accuracy: the accuracy alarm's A; None: bounds only, no accuracy alarm.
        alpha: both alarms' false-alarm probability over the whole stream; also 1 − the
            level of the per-batch estimate's interval.
        estimator: a ``uqviz.metrics.label_free.ESTIMATORS`` key.
        ood_quantile: flag rows above this conformal quantile of the reference's scores.
        audited: (N,) bool, the stream rows whose correctness is known as audits; default:
            automated rows with a label (``label >= 0``) or marked out-of-distribution.
        half_life: of the accuracy bets' moment estimates, in audits.
        n_boot: bootstrap resamples of the estimate's interval.
        seed: seeds the bootstrap, the p-values' tie-breaking and the fit part of a fitted
            score.
        fit_share: share of the reference's labelled rows a fitted score is fitted on.
        scores: the score already computed by ``monitor_scores`` on these rows (the caller
            needed it for its threshold); computed here when None.

    Returns:
        ``MonitorResult``.

    Raises:
        ValueError: an unknown or unavailable score (the reason), an unknown estimator, bad
            settings.
    """
    _valid_score(score)
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; valid: {', '.join(ESTIMATORS)}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    if reference.num_classes != stream.num_classes:
        raise ValueError(f"the reference has {reference.num_classes} classes and the stream "
                         f"{stream.num_classes}")
    labelled = reference.select(reference.labels >= 0)
    if labelled.n < 2:
        raise ValueError(f"the reference needs at least 2 labelled rows, got {labelled.n}")
    batches = cut_batches(stream.n, batch_size=batch_size, batch_labels=batch_labels)
    order = batches.order

    computed = (monitor_scores(reference, stream, score, fit_share=fit_share, seed=seed)
                if scores is None else scores)
    if computed.key != score or computed.stream.shape != (stream.n,):
        raise ValueError(f"scores are of {computed.key!r} on {computed.stream.size} rows, the "
                         f"monitor's of {score!r} on {stream.n}")
    reference_scores, scores = computed.reference, computed.stream  # (n_calibration,), (N,)
    mean_probs = stream.mean_probs
    confidence = mean_probs.max(axis=1)
    referred = (scores > threshold) if threshold is not None else np.zeros(stream.n, bool)
    ood_threshold = reference_quantile(reference_scores, ood_quantile)
    flagged = scores > ood_threshold
    known = (stream.labels >= 0) | stream.is_ood
    correct = np.where(stream.labels >= 0, stream.predicted == stream.labels, False)
    if audited is None:
        audited = known & ~referred
    audited = np.asarray(audited, dtype=bool)
    if audited.shape != (stream.n,) or (audited & ~known).any():
        raise ValueError("audited must be an (N,) bool mask of stream rows whose label is "
                         "known (label >= 0 or out-of-distribution)")

    log10_s = simple_jumper(conformal_p_values(reference_scores, scores[order], seed=seed))
    drift_rows = log10_s >= math.log10(1 / alpha)
    audit_order = order[audited[order]]
    lower, upper, acc_alarm = accuracy_confidence_sequence(
        correct[audit_order].astype(float), alpha=alpha, half_life=half_life,
        target=target_accuracy)

    fitted = fit_reference(labelled.mean_probs, labelled.labels, n_boot=n_boot, seed=seed,
                           with_temperature=ESTIMATORS[estimator].temperature)
    fields = {k: np.full(len(batches.rows), np.nan) for k in (
        "referred_share", "mean_confidence", "estimated_accuracy", "estimate_low",
        "estimate_high", "true_accuracy", "ood_share", "drift_log10_martingale",
        "audit_accuracy", "accuracy_lower", "accuracy_upper")}
    drift_alarm = np.zeros(len(batches.rows), dtype=bool)
    accuracy_alarm = np.zeros(len(batches.rows), dtype=bool)
    n_audits = np.zeros(len(batches.rows), dtype=np.int64)
    end, audits_seen, low, high = 0, 0, 0.0, 1.0
    for b, rows in enumerate(batches.rows):
        end += rows.size
        if threshold is not None:
            fields["referred_share"][b] = referred[rows].mean()
        fields["mean_confidence"][b] = confidence[rows].mean()
        est = estimate_accuracy(fitted, mean_probs[rows], estimators=(estimator,),
                                level=1 - alpha, seed=seed + 1 + b).estimates[0]
        fields["estimated_accuracy"][b] = est.estimate
        fields["estimate_low"][b], fields["estimate_high"][b] = est.low, est.high
        if known[rows].any():
            fields["true_accuracy"][b] = correct[rows][known[rows]].mean()
        fields["ood_share"][b] = flagged[rows].mean()
        fields["drift_log10_martingale"][b] = log10_s[end - 1]
        drift_alarm[b] = drift_rows[:end].any()
        n_audits[b] = int(audited[rows].sum())
        if n_audits[b]:
            fields["audit_accuracy"][b] = correct[rows][audited[rows]].mean()
            audits_seen += int(n_audits[b])
            low, high = lower[audits_seen - 1], upper[audits_seen - 1]
            accuracy_alarm[b] = acc_alarm[:audits_seen].any()
        else:
            accuracy_alarm[b] = accuracy_alarm[b - 1] if b else False
        fields["accuracy_lower"][b], fields["accuracy_upper"][b] = low, high
    return MonitorResult(
        batch_names=batches.names, n=np.array([r.size for r in batches.rows]), **fields,
        drift_alarm=drift_alarm, n_audits=n_audits, accuracy_alarm=accuracy_alarm,
        first_drift_alarm=_first(drift_alarm), first_accuracy_alarm=_first(accuracy_alarm),
        score=score, estimator=estimator, alpha=float(alpha),
        threshold=None if threshold is None else float(threshold),
        ood_threshold=ood_threshold,
        target_accuracy=None if target_accuracy is None else float(target_accuracy),
        n_reference=reference.n, score_settings=dict(computed.settings),
        n_score_fit=computed.n_fit, n_calibration=computed.n_calibration)


# -- a stream to watch: the demo drift, or a user's rows in their order ------------------------
# The Monitor page's and the Story's settings. DoC, not ATC: on digits the reference makes about
# one error in 224 rows, so ATC's threshold sits at the least confident reference case and ATC
# reads ~100% on nearly any target; DoC follows the fall of the confidence (benchmarks/RESULTS.md,
# "Accuracy without labels", and the Dataset shift page).
DEMO_CORRUPTION = "brightness"
DEMO_OOD = "ood:uniform_noise"
DEMO_SEVERITIES = (1, 2, 3, 4, 5)
DEMO_ESTIMATOR = "doc"
DEMO_SCORE = "max_prob"
DEMO_BATCH_SIZE = 20
DEMO_REFERRED_SHARE = 0.10
DEMO_TARGET_ACCURACY = 0.95
REFERENCE_SHARE = 0.5


@dataclass(frozen=True, eq=False)
class WatchedStream:
    """A stream ready to monitor: its reference, its rows in time order, and what they are.

    Attributes:
        reference: the reference rows, a seeded calibration part of the labelled
            in-distribution rows (``calibration_split``), never in the stream.
        stream: the incoming rows in time order.
        origin: (M,) str, the group each stream row came from (``test``, ``brightness:3``,
            ``ood:uniform_noise``, or a user's group).
        severity: (M,) int, the demo corruption's severity of each row (0 clean, 1–5, −1 out of
            distribution); None for a user's stream.
        image: (M,) int, each row's source image as a position among the clean test rows (−1
            for out-of-distribution rows); None for a user's stream.
        drift_start: the first stream row that is not clean (None for a user's stream).
        description: what is used, in one sentence.
    """

    reference: Predictions
    stream: Predictions
    origin: np.ndarray
    severity: np.ndarray | None
    image: np.ndarray | None
    drift_start: int | None
    description: str


def _check_share(name: str, value: float, *, zero_ok: bool) -> None:
    if not ((0 <= value if zero_ok else 0 < value) and value < 1):
        raise ValueError(f"{name} must be in {'[0' if zero_ok else '(0'}, 1), got {value}")


def demo_drift_stream(p: Predictions, *, corruption: str = DEMO_CORRUPTION,
                      ood: str = DEMO_OOD, reference_share: float = REFERENCE_SHARE,
                      clean_share: float = 0.4, ood_share: float = 0.15,
                      seed: int = 0) -> WatchedStream:
    """The demo stream: clean for a while, then ``corruption`` at severity 1, 2, … 5, then
    out-of-distribution cases.

    The clean test rows are split (``calibration_split(n, reference_share, seed)``) into the
    reference and the held-out images. The held-out images, in a seeded random order, make the
    stream: the first ``clean_share`` of them clean, the rest cut into five equal blocks shown
    at severity 1 to 5 (the rows of ``<corruption>:<k>``, a corrupted copy of the test rows in
    their order), then ``ood_share`` of the stream drawn from ``ood`` (without replacement).
    So no image is in both the reference and the stream, and no test image appears twice
    (clean and corrupted, or at two severities).

    Args:
        p: one method's predictions with the clean ``test`` rows (all labelled), the
            corruption's groups at severities 1–5 (each as large as ``test``) and ``ood``.
        corruption: the corruption whose severity rises.
        ood: the ``ood:<name>`` group at the end.
        reference_share: share of the clean test rows in the reference.
        clean_share: share of the held-out images shown clean, before the drift.
        ood_share: share of the whole stream that is out of distribution.
        seed: seeds the split, the order and the OOD draw.

    Raises:
        ValueError: naming the missing or misaligned group, or a share out of range.
    """
    _check_share("reference_share", reference_share, zero_ok=False)
    _check_share("clean_share", clean_share, zero_ok=True)
    _check_share("ood_share", ood_share, zero_ok=True)
    group = p.group.astype(str)
    test = np.flatnonzero(group == TEST_GROUP)
    if test.size < 2 * len(DEMO_SEVERITIES) or (p.labels[test] < 0).any():
        raise ValueError(f"the demo stream needs at least {2 * len(DEMO_SEVERITIES)} labelled "
                         f"'{TEST_GROUP}' rows, got {test.size} (of which "
                         f"{int((p.labels[test] < 0).sum())} unlabelled)")
    copies = {}
    for k in DEMO_SEVERITIES:
        rows = np.flatnonzero(group == f"{corruption}:{k}")
        if rows.size != test.size:
            raise ValueError(f"the demo stream needs group '{corruption}:{k}' with one row per "
                             f"test row ({test.size}), got {rows.size}; groups: "
                             f"{', '.join(p.groups)}")
        copies[k] = rows
    ood_rows = np.flatnonzero(group == ood)
    if not ood.startswith(OOD_PREFIX) or ood_rows.size == 0:
        raise ValueError(f"no out-of-distribution group {ood!r}; groups: {', '.join(p.groups)}")
    reference, held = calibration_split(test.size, reference_share, seed)
    rng = np.random.default_rng(seed)
    order = rng.permutation(held)
    n_clean = int(round(clean_share * order.size))
    blocks = np.array_split(order[n_clean:], len(DEMO_SEVERITIES))
    n_ood = int(round(ood_share / (1 - ood_share) * order.size))
    if n_ood > ood_rows.size:
        raise ValueError(f"the demo stream needs {n_ood} rows of {ood}, there are "
                         f"{ood_rows.size}")
    picked = rng.choice(ood_rows, size=n_ood, replace=False)
    rows = np.concatenate([test[order[:n_clean]], *(copies[k][b] for k, b in
                                                    zip(DEMO_SEVERITIES, blocks, strict=True)),
                           picked])
    severity = np.concatenate([np.zeros(n_clean, dtype=np.int64),
                               *(np.full(b.size, k) for k, b in
                                 zip(DEMO_SEVERITIES, blocks, strict=True)),
                               np.full(n_ood, -1)])
    image = np.concatenate([order, np.full(n_ood, -1)])
    stream = p.select(rows)
    sizes = ", ".join(str(b.size) for b in blocks)
    return WatchedStream(
        reference=p.select(test[reference]), stream=stream, origin=group[rows], severity=severity,
        image=image, drift_start=n_clean if rows.size > n_clean else None,
        description=(f"{reference.size} clean test images are the reference; the stream shows "
                     f"{n_clean} other test images clean, then {order.size - n_clean} more with "
                     f"{corruption} at severity 1 to 5 ({sizes} images), then {n_ood} "
                     f"out-of-distribution cases ({ood.removeprefix(OOD_PREFIX)}); seed {seed}"))


def own_stream(p: Predictions, *, reference_share: float = REFERENCE_SHARE,
               seed: int = 0, groups: tuple[str, ...] | None = None) -> WatchedStream:
    """A user's stream: every row in the file's (or the folder's) order, but the reference.

    The reference is a seeded calibration part (``calibration_split(n, reference_share,
    seed)``) of the labelled in-distribution rows (``Predictions.labelled_in_distribution``);
    the stream is every other row except ``fit`` rows, in their order. ``groups``: only rows
    of these groups take part (e.g. ``("test",)``: a user's own images, without the copies the
    app corrupted).

    Raises:
        ValueError: fewer than 4 labelled in-distribution rows, or nothing left to watch.
    """
    _check_share("reference_share", reference_share, zero_ok=False)
    if groups is not None:
        p = p.select(np.isin(p.group.astype(str), list(groups)))
    labelled = np.flatnonzero(p.scored_mask)
    if labelled.size < 4:
        raise ValueError(f"the reference needs labelled in-distribution rows: at least 4, got "
                         f"{labelled.size}")
    part, _ = calibration_split(labelled.size, reference_share, seed)
    reference = labelled[part]
    watched = np.ones(p.n, dtype=bool)
    watched[reference] = False
    rows = np.flatnonzero(watched & ~p.is_fit)
    if rows.size == 0:
        raise ValueError("every row is in the reference: nothing is left to watch")
    unlabelled = int(((p.labels[rows] < 0) & ~p.is_ood[rows]).sum())
    return WatchedStream(
        reference=p.select(reference), stream=p.select(rows), origin=p.group[rows].astype(str),
        severity=None, image=None, drift_start=None,
        description=(f"{reference.size} of the {labelled.size} labelled rows (a seeded "
                     f"{reference_share:.0%}, seed {seed}) are the reference; the stream is the "
                     f"other {rows.size} rows in their order ({unlabelled} without a label)"))


@dataclass(frozen=True)
class MonitorSummary:
    """What the monitor found, in the numbers of one sentence (the Monitor page, the Story).

    Attributes:
        first_alarm, first_drift_alarm, first_accuracy_alarm: 0-based batch indices
            (``MonitorResult``), None when no alarm fired.
        alarm_batch: the first alarm's batch name, None without an alarm.
        rows_to_alarm: stream rows up to the end of the first alarm's batch.
        drift_batch: the batch holding the first drifted row (the demo), else None.
        alarm_severity: the highest demo severity seen up to the alarm (−1: out of
            distribution reached), else None.
        window_start: the first batch of the window compared below: the first alarm's, else
            ``drift_batch``, else 0.
        n_window: stream rows from ``window_start`` to the end.
        estimate: the label-free estimate on those rows (``estimate_accuracy``, level 1 − α).
        true_accuracy: their accuracy where known (out-of-distribution rows wrong), NaN if none.
        n_true: rows the true accuracy counts.
        reference_accuracy: the reference's accuracy.
        n_batches, alpha, estimator: the settings.
    """

    first_alarm: int | None
    first_drift_alarm: int | None
    first_accuracy_alarm: int | None
    alarm_batch: str | None
    rows_to_alarm: int | None
    drift_batch: int | None
    alarm_severity: int | None
    window_start: int
    n_window: int
    estimate: AccuracyEstimate
    true_accuracy: float
    n_true: int
    reference_accuracy: float
    n_batches: int
    alpha: float
    estimator: str


@dataclass(frozen=True, eq=False)
class Watch:
    """A watched stream, its monitor and the summary (``watch_stream``)."""

    watched: WatchedStream
    result: MonitorResult
    summary: MonitorSummary
    batches: Batches


def stream_truth(stream: Predictions) -> np.ndarray:
    """(N,) float: 1/0 where correctness is known (a label, or an out-of-distribution row:
    wrong), NaN where it is not."""
    correct = np.where(stream.labels >= 0, stream.predicted == stream.labels, False)
    known = (stream.labels >= 0) | stream.is_ood
    return np.where(known, correct.astype(float), np.nan)


def watch_stream(watched: WatchedStream, *, batch_size: int | None = DEMO_BATCH_SIZE,
                 by_group: bool = False, alpha: float = 0.05,
                 estimator: str = DEMO_ESTIMATOR, score: str = DEMO_SCORE,
                 referred_share: float | None = DEMO_REFERRED_SHARE,
                 target_accuracy: float | None = DEMO_TARGET_ACCURACY, n_boot: int = 200,
                 seed: int = 0, scores: StreamScores | None = None) -> Watch:
    """Monitor a watched stream (``monitor_stream``) and summarise what it found.

    The referral policy refers a row when its score exceeds the conformal ``1 − referred_share``
    quantile of the reference's calibration scores (``reference_quantile``): on rows like the
    reference at most that share is referred on average. The accuracy alarm tests
    ``target_accuracy`` on every automated row whose truth is known (here every labelled row is
    an audit).

    Args:
        watched: ``demo_drift_stream`` or ``own_stream``.
        batch_size: rows per batch; with ``by_group``, ignored: one batch per ``origin``.
        alpha: both alarms' false-alarm probability over the whole stream; the estimates'
            intervals have level 1 − α.
        estimator, score, n_boot, seed: as ``monitor_stream``.
        scores: ``monitor_scores(watched.reference, watched.stream, score, seed=seed)`` when
            the caller has it (the page caches it); computed here when None.
        referred_share: the policy's referred share on reference-like rows (None: refer none).
        target_accuracy: the accuracy alarm's target (None: no accuracy alarm).

    Returns:
        ``Watch``; its summary compares the estimate with the truth on the rows from the first
        alarm's batch on (from the drift's first batch when no alarm fired, else all rows).
    """
    reference, stream = watched.reference, watched.stream
    if scores is None:
        scores = monitor_scores(reference, stream, score, seed=seed)
    threshold = None
    if referred_share is not None:
        _check_share("referred_share", referred_share, zero_ok=False)
        threshold = reference_quantile(scores.reference, 1 - referred_share)
    labels = watched.origin if by_group else None
    size = None if by_group else batch_size
    result = monitor_stream(reference, stream, score=score, batch_size=size,
                            batch_labels=labels, threshold=threshold,
                            target_accuracy=target_accuracy, alpha=alpha, estimator=estimator,
                            n_boot=n_boot, seed=seed, scores=scores)
    batches = cut_batches(stream.n, batch_size=size, batch_labels=labels)
    position = np.empty(stream.n, dtype=np.int64)  # each row's batch
    for b, rows in enumerate(batches.rows):
        position[rows] = b
    drift_batch = (None if watched.drift_start is None
                   else int(position[watched.drift_start]))
    first = result.first_alarm
    start = first if first is not None else drift_batch if drift_batch is not None else 0
    window = np.concatenate(batches.rows[start:])
    labelled = reference.select(reference.labels >= 0)
    fitted = fit_reference(labelled.mean_probs, labelled.labels, n_boot=n_boot, seed=seed,
                           with_temperature=ESTIMATORS[estimator].temperature)
    found = estimate_accuracy(fitted, stream.mean_probs[window], estimators=(estimator,),
                              level=1 - alpha, seed=seed + 1,
                              target_correct=stream_truth(stream)[window])
    rows_to_alarm = None if first is None else int(sum(r.size for r in batches.rows[:first + 1]))
    severity = None
    if watched.severity is not None and first is not None:
        seen = watched.severity[np.concatenate(batches.rows[:first + 1])]
        severity = -1 if (seen < 0).any() else int(seen.max())
    summary = MonitorSummary(
        first_alarm=first, first_drift_alarm=result.first_drift_alarm,
        first_accuracy_alarm=result.first_accuracy_alarm,
        alarm_batch=None if first is None else result.batch_names[first],
        rows_to_alarm=rows_to_alarm, drift_batch=drift_batch, alarm_severity=severity,
        window_start=int(start), n_window=int(window.size), estimate=found.estimates[0],
        true_accuracy=found.true_accuracy, n_true=found.n_true,
        reference_accuracy=found.reference_accuracy, n_batches=len(batches.rows),
        alpha=float(alpha), estimator=estimator)
    return Watch(watched, result, summary, batches)
