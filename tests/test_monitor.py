"""The stream monitor (uqviz.monitor): batches, p-values and the martingale against brute force,
the confidence sequence, the false-alarm rate over 200 exchangeable streams and the detection
delay after an abrupt and a gradual shift."""

from __future__ import annotations

import math

import numpy as np
import pytest

from uqviz.monitor import (
    accuracy_confidence_sequence,
    conformal_p_values,
    cut_batches,
    monitor_stream,
    reference_quantile,
    simple_jumper,
)
from uqviz.predictions import Predictions

ALPHA = 0.05


def synthetic(n: int, rng: np.random.Generator, scale=3.0, classes: int = 10) -> Predictions:
    """A calibrated model: labels drawn from softmax(scale · z); ``scale`` may vary per row
    ((n,) array): a smaller scale means less confident and less accurate cases."""
    z = rng.normal(0.0, 1.0, (n, classes)) * np.reshape(scale, (-1, 1))
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    labels = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    return Predictions(p.astype(np.float32), labels)


def test_cut_batches():
    b = cut_batches(7, batch_size=3)
    assert b.names == ("1", "2", "3") and [r.tolist() for r in b.rows] == [[0, 1, 2], [3, 4, 5],
                                                                         [6]]
    b = cut_batches(5, batch_labels=np.array(["2024-01-02", "2024-01-01", "2024-01-02", "x",
                                              "2024-01-01"]))
    assert b.names == ("2024-01-01", "2024-01-02", "x")
    assert [r.tolist() for r in b.rows] == [[1, 4], [0, 2], [3]]
    assert cut_batches(3, batch_labels=np.array([10.0, 2.0, 2.0])).names == ("2", "10")
    with pytest.raises(ValueError, match="one of the two"):
        cut_batches(3)
    with pytest.raises(ValueError, match="batch size must be an integer >= 1, got 0"):
        cut_batches(3, batch_size=0)


def test_p_values_against_brute_force(rng):
    reference = rng.integers(0, 5, 20).astype(float)  # many ties
    stream = rng.integers(0, 6, 1300).astype(float)  # more than one chunk
    p = conformal_p_values(reference, stream, seed=3)
    u = np.random.default_rng(3).random(stream.size)
    seq = np.concatenate([reference, stream])
    for i in list(range(40)) + list(range(500, 530)) + [1299]:
        past = seq[: reference.size + i + 1]
        s = stream[i]
        expected = ((past > s).sum() + u[i] * (past == s).sum()) / past.size
        assert p[i] == pytest.approx(expected)


def test_p_values_are_uniform_under_exchangeability(rng):
    from scipy.stats import kstest

    p = conformal_p_values(rng.random(100), rng.random(3000), seed=0)
    assert kstest(p, "uniform").pvalue > 0.001


def test_simple_jumper_against_the_published_algorithm(rng):
    p = rng.random(200) ** 2  # leaning to small p-values
    c = {-1: 1 / 3, 0: 1 / 3, 1: 1 / 3}
    expected = []
    for pn in p:  # Vovk et al. 2021, Algorithm 1, unnormalised
        total = sum(c.values())
        c = {e: ((1 - 0.01) * v + 0.01 / 3 * total) * (1 + e * (pn - 0.5)) for e, v in c.items()}
        expected.append(math.log10(sum(c.values())))
    assert simple_jumper(p) == pytest.approx(expected)


def test_reference_quantile():
    scores = np.arange(1, 20, dtype=float)  # 19 scores: ceil(0.95 · 20) = 19th
    assert reference_quantile(scores, 0.95) == 19.0
    assert reference_quantile(scores[:10], 0.95) == math.inf


def test_confidence_sequence_brackets_a_stationary_accuracy(rng):
    x = (rng.random(3000) < 0.9).astype(float)
    lower, upper, alarm = accuracy_confidence_sequence(x, alpha=ALPHA, target=0.85)
    assert (np.diff(lower) >= 0).all() and (np.diff(upper) <= 0).all()
    assert lower[-1] <= 0.9 <= upper[-1] and upper[-1] - lower[-1] < 0.1
    assert not alarm.any()
    _, upper, alarm = accuracy_confidence_sequence(x, alpha=ALPHA, target=0.97)
    assert alarm[-1] and upper[-1] <= 0.97  # 0.9 is below a 0.97 target: found


def test_no_alarm_on_exchangeable_streams(rng):
    """Both alarms hold their α over the whole stream: on 200 streams exchangeable with the
    reference, whose accuracy equals the target exactly (the hardest case for the accuracy
    alarm), the share of streams with any alarm is at most α + 3 binomial standard deviations
    (0.05 + 0.046). Measured: see the report."""
    streams, drift, accuracy = 200, 0, 0
    for i in range(streams):
        reference, stream = synthetic(300, rng), synthetic(600, rng)
        truth = float((stream.predicted == stream.labels).mean())
        result = monitor_stream(reference, stream, batch_size=60, target_accuracy=truth,
                                alpha=ALPHA, n_boot=5, seed=i)
        drift += result.first_drift_alarm is not None
        accuracy += result.first_accuracy_alarm is not None
    margin = 3 * math.sqrt(ALPHA * (1 - ALPHA) / streams)
    print(f"false alarms over {streams} streams: drift {drift}, accuracy {accuracy}")
    assert drift / streams <= ALPHA + margin, drift
    assert accuracy / streams <= ALPHA + margin, accuracy


def _delays(rng, scales_of_batch, shift_batch, streams=20, batch=50, batches=30):
    """Detection delay in batches (batch of the first alarm − first shifted batch) per alarm."""
    out = {"drift": [], "accuracy": []}
    for i in range(streams):
        reference = synthetic(500, rng)
        scale = np.repeat([scales_of_batch(b) for b in range(batches)], batch)
        stream = synthetic(batch * batches, rng, scale=scale)
        clean = synthetic(3000, rng)
        target = float((clean.predicted == clean.labels).mean()) - 0.03
        r = monitor_stream(reference, stream, batch_size=batch, target_accuracy=target,
                           n_boot=5, seed=i)
        for name, first in (("drift", r.first_drift_alarm), ("accuracy", r.first_accuracy_alarm)):
            out[name].append(math.inf if first is None else first - shift_batch)
    return out


def test_detection_delay_after_abrupt_and_gradual_shift(rng):
    """After an abrupt shift (scale 3 → 1.5 at batch 10 of 30; accuracy about 0.76 → 0.48) and
    a gradual one (scale falling linearly from 3 at batch 10 to 1 at batch 29), both alarms
    fire on every stream and none fires before the shift on most streams; the median delays
    are printed (the report's figures)."""
    abrupt = _delays(rng, lambda b: 3.0 if b < 10 else 1.5, 10)
    gradual = _delays(rng, lambda b: 3.0 if b < 10 else 3.0 - 2.0 * (b - 10) / 19, 10)
    for name, delays in (("abrupt", abrupt), ("gradual", gradual)):
        for alarm, d in delays.items():
            d = np.array(d)
            print(f"{name} shift, {alarm} alarm: median delay {np.median(d):.1f} batches, "
                  f"range {d.min():.0f}–{d.max():.0f}, early {int((d < 0).sum())}/{d.size}")
            assert np.isfinite(d).all(), (name, alarm)
            assert (d < 0).sum() <= 3, (name, alarm)
    assert np.median(abrupt["drift"]) <= 1


def test_monitor_rows_and_bad_input(rng):
    reference, stream = synthetic(200, rng), synthetic(250, rng)
    r = monitor_stream(reference, stream, batch_size=100, threshold=0.4, n_boot=10)
    rows = r.to_dict()["batches"]
    assert [row["n"] for row in rows] == [100, 100, 50]
    u = 1 - stream.mean_probs.max(axis=1)
    assert rows[0]["referred_share"] == pytest.approx((u[:100] > 0.4).mean())
    assert rows[2]["true_accuracy"] == pytest.approx(
        (stream.predicted[200:] == stream.labels[200:]).mean())
    assert r.to_dict()["first_alarm"] is None or isinstance(r.to_dict()["first_alarm"], str)
    with pytest.raises(ValueError, match="unknown uncertainty score 'nope'"):
        monitor_stream(reference, stream, batch_size=10, score="nope")
    with pytest.raises(ValueError, match="unknown estimator"):
        monitor_stream(reference, stream, batch_size=10, estimator="nope")
