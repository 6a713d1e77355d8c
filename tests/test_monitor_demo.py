"""The demo drift stream, a user's own stream, their watch and summary, the label-free estimates
against severity and the figures that draw them, on small synthetic predictions (no model)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from uqviz.metrics.label_free import estimate_accuracy, fit_reference
from uqviz.metrics.scores import uncertainty
from uqviz.monitor import (
    demo_drift_stream,
    monitor_stream,
    own_stream,
    reference_quantile,
    stream_truth,
    watch_stream,
)
from uqviz.predictions import Predictions

N_TEST, N_OOD, C = 120, 80, 3


def _probs(rng, labels: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """(N, C): ``confidence`` on the label, the rest spread at random."""
    rest = rng.dirichlet(np.ones(C - 1), labels.size) * (1 - confidence)[:, None]
    probs = np.empty((labels.size, C))
    for i, (y, c) in enumerate(zip(labels, confidence, strict=True)):
        probs[i, y] = c
        probs[i, [k for k in range(C) if k != y]] = rest[i]
    return probs


def demo_predictions(seed: int = 0) -> Predictions:
    """``test`` rows, ``brightness:1..5`` copies of them (less confident, more often wrong with
    severity) and ``ood:uniform_noise`` rows."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, C, N_TEST)
    blocks, groups, all_labels = [], [], []
    for k in range(6):
        predicted = np.where(rng.random(N_TEST) < 0.03 + 0.08 * k, (labels + 1) % C, labels)
        blocks.append(_probs(rng, predicted, rng.uniform(0.9 - 0.1 * k, 1.0 - 0.1 * k,
                                                         N_TEST)))
        groups += ["test" if k == 0 else f"brightness:{k}"] * N_TEST
        all_labels.append(labels)
    blocks.append(_probs(rng, rng.integers(0, C, N_OOD), rng.uniform(0.34, 0.5, N_OOD)))
    groups += ["ood:uniform_noise"] * N_OOD
    all_labels.append(np.full(N_OOD, -1))
    return Predictions(np.concatenate(blocks)[None].astype(np.float32),
                       np.concatenate(all_labels), group=np.array(groups, dtype=object),
                       method="deep_ensemble")


@pytest.fixture(scope="module")
def p() -> Predictions:
    return demo_predictions()


# -- the demo stream ---------------------------------------------------------------------------
def test_the_demo_stream_is_clean_then_drifts_severity_by_severity_then_ood(p):
    w = demo_drift_stream(p, clean_share=0.4, ood_share=0.15)
    sev = w.severity
    held = N_TEST - N_TEST // 2
    n_clean = round(0.4 * held)
    assert w.stream.n == sev.size == w.origin.size == w.image.size
    assert (sev[:n_clean] == 0).all() and w.drift_start == n_clean
    corrupted = sev[n_clean:held]
    assert (corrupted >= 1).all() and (np.diff(corrupted) >= 0).all()  # non-decreasing
    assert sorted(set(corrupted.tolist())) == [1, 2, 3, 4, 5]
    assert (sev[held:] == -1).all() and w.stream.is_ood[held:].all()  # OOD at the end
    assert sev.size - held == round(0.15 / 0.85 * held)
    # each row is its source image in the group its severity names
    origin = np.array([f"brightness:{s}" if s > 0 else "test" for s in sev[:held]])
    assert (w.origin[:held] == origin).all() and (w.origin[held:] == "ood:uniform_noise").all()
    test_probs = p.in_group("test").probs[0]
    for i in range(held):
        copy = p.in_group(str(w.origin[i])).probs[0]
        np.testing.assert_array_equal(w.stream.probs[0, i], copy[w.image[i]])
        assert w.stream.labels[i] == p.labels[w.image[i]]
    # no test image twice in the stream, and none of them in the reference
    images = w.image[:held]
    assert np.unique(images).size == images.size
    reference_images = [int(np.flatnonzero((test_probs == r).all(axis=1))[0])
                        for r in w.reference.probs[0]]
    assert not set(reference_images) & set(images.tolist())
    assert w.reference.n + held == N_TEST
    assert np.unique(w.stream.probs[0, held:], axis=0).shape[0] == sev.size - held  # no OOD twice


def test_the_demo_stream_is_seeded(p):
    a, b, c = demo_drift_stream(p, seed=3), demo_drift_stream(p, seed=3), demo_drift_stream(p)
    np.testing.assert_array_equal(a.stream.probs, b.stream.probs)
    np.testing.assert_array_equal(a.image, b.image)
    assert not np.array_equal(a.image, c.image)
    assert "seed 3" in a.description and "brightness at severity 1 to 5" in a.description


@pytest.mark.parametrize("change, message", [
    (dict(corruption="fog"), "group 'fog:1'"),
    (dict(ood="ood:mnist"), "'ood:mnist'"),
    (dict(reference_share=1.0), "reference_share must be in (0, 1)"),
    (dict(clean_share=-0.1), "clean_share must be in [0, 1)"),
    (dict(ood_share=0.9), "needs 540 rows of ood:uniform_noise, there are 80"),
])
def test_the_demo_stream_says_what_is_missing(p, change, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        demo_drift_stream(p, **change)


def test_the_demo_stream_needs_aligned_copies(p):
    short = p.select(np.flatnonzero(p.group != "brightness:3")[:-1])
    with pytest.raises(ValueError, match="one row per test row"):
        demo_drift_stream(short)


# -- a user's stream ---------------------------------------------------------------------------
def test_own_stream_keeps_the_file_order_without_the_reference_and_fit_rows():
    rng = np.random.default_rng(1)
    n = 50
    labels = rng.integers(0, C, n)
    labels[40:45] = -1  # unlabelled rows are watched, never in the reference
    group = np.array(["day1"] * 20 + ["fit"] * 5 + ["day2"] * 25, dtype=object)
    q = Predictions(_probs(rng, np.abs(labels), rng.uniform(0.5, 1, n))[None]
                    .astype(np.float32), labels, group=group)
    w = own_stream(q, seed=0)
    labelled = np.flatnonzero((labels >= 0) & (group != "fit"))
    assert w.reference.n == labelled.size // 2 and (w.reference.labels >= 0).all()
    rows = [i for i in range(n) if group[i] != "fit"
            and not any((q.probs[0, i] == r).all() for r in w.reference.probs[0])]
    np.testing.assert_array_equal(w.stream.probs[0], q.probs[0, rows])  # file order
    assert list(w.origin) == [str(group[i]) for i in rows]
    assert w.severity is None and w.drift_start is None
    assert f"the other {len(rows)} rows in their order (5 without a label)" in w.description
    day2 = own_stream(q, groups=("day2",))
    assert day2.reference.n + day2.stream.n == 25 and set(day2.origin) == {"day2"}
    with pytest.raises(ValueError, match="at least 4, got 3"):
        own_stream(q.select(np.r_[0:3, 40:45]))


# -- watching ----------------------------------------------------------------------------------
def test_watch_stream_is_monitor_stream_with_the_policy_and_its_summary(p):
    w = demo_drift_stream(p)
    watch = watch_stream(w, batch_size=10, alpha=0.05, estimator="doc", n_boot=50)
    threshold = reference_quantile(uncertainty(w.reference.probs, "max_prob"), 0.9)
    direct = monitor_stream(w.reference, w.stream, batch_size=10, threshold=threshold,
                            target_accuracy=0.95, alpha=0.05, estimator="doc", n_boot=50)
    np.testing.assert_array_equal(watch.result.estimated_accuracy, direct.estimated_accuracy)
    np.testing.assert_array_equal(watch.result.referred_share, direct.referred_share)
    s = watch.summary
    assert s.first_alarm == direct.first_alarm is not None  # the synthetic drift is caught
    assert s.alarm_batch == direct.batch_names[s.first_alarm]
    assert s.rows_to_alarm == min(10 * (s.first_alarm + 1), w.stream.n)
    assert s.drift_batch == w.drift_start // 10 and s.first_alarm >= s.drift_batch
    seen = w.severity[:s.rows_to_alarm]
    assert s.alarm_severity == (-1 if (seen < 0).any() else seen.max())
    # the window: every row from the alarm's batch on, estimated and scored directly
    rows = np.arange(10 * s.first_alarm, w.stream.n)
    assert s.n_window == rows.size and s.window_start == s.first_alarm
    fitted = fit_reference(w.reference.mean_probs, w.reference.labels, n_boot=50, seed=0,
                           with_temperature=False)
    found = estimate_accuracy(fitted, w.stream.mean_probs[rows], estimators=("doc",),
                              level=0.95, seed=1, target_correct=stream_truth(w.stream)[rows])
    assert s.estimate == found.estimates[0]
    truth = stream_truth(w.stream)[rows]
    assert s.true_accuracy == pytest.approx(np.nanmean(truth))
    assert s.reference_accuracy == pytest.approx(
        (w.reference.predicted == w.reference.labels).mean())


def test_without_an_alarm_the_window_starts_where_the_drift_does(p):
    w = demo_drift_stream(p, clean_share=0.9, ood_share=0.0)
    watch = watch_stream(w, batch_size=15, alpha=1e-9, n_boot=20, target_accuracy=None)
    s = watch.summary
    assert s.first_alarm is None and s.alarm_batch is None and s.rows_to_alarm is None
    assert s.window_start == s.drift_batch == w.drift_start // 15
    assert s.n_window == w.stream.n - 15 * s.drift_batch


def test_one_batch_per_group_on_a_users_stream():
    q = demo_predictions(seed=2)
    w = own_stream(q)
    watch = watch_stream(w, by_group=True, n_boot=20)
    assert watch.result.batch_names == tuple(sorted(set(w.origin)))
    assert watch.summary.drift_batch is None and watch.summary.alarm_severity is None


# -- label-free estimates against severity -----------------------------------------------------
def test_label_free_records_estimate_the_held_out_half_at_every_severity(p):
    from uqviz.metrics.guarantee import calibration_split
    from uqviz.shift_analysis import label_free_records, label_free_series, label_free_table
    from uqviz.study import Study

    clean = p.in_group("test")
    records = label_free_records(p, "brightness", clean=clean, n_boot=50)
    assert [(r["severity"], r["estimator"]) for r in records] == [
        (s, e) for s in range(6) for e in ("atc_mc", "doc")]
    reference, held = calibration_split(clean.n, 0.5, 0)
    fitted = fit_reference(clean.select(reference).mean_probs, clean.labels[reference],
                           n_boot=50, seed=0, with_temperature=False)
    target = p.in_group("brightness:4").select(held)
    found = estimate_accuracy(fitted, target.mean_probs, estimators=("atc_mc", "doc"), seed=1)
    sev4 = [r for r in records if r["severity"] == 4]
    assert [r["estimate"] for r in sev4] == [e.estimate for e in found.estimates]
    assert sev4[0]["accuracy"] == pytest.approx((target.predicted == target.labels).mean())
    assert all(r["n"] == held.size and r["low"] <= r["estimate"] <= r["high"] for r in records)
    table = label_free_table([Study(p)], "brightness")
    x, truth, estimates = label_free_series(table, ["deep_ensemble"])
    assert list(x) == [0, 1, 2, 3, 4, 5] and list(estimates) == ["atc_mc", "doc"]
    assert truth["deep_ensemble"][5] < truth["deep_ensemble"][0]
    assert len(estimates["doc"]["deep_ensemble"]) == 3
    assert label_free_records(p, "brightness", clean=clean.select(np.arange(3))) == []
    x, truth, estimates = label_free_series(label_free_table([], "brightness"), ["m"])
    assert x.size == 0 and truth == {} and estimates == {}


# -- figures -----------------------------------------------------------------------------------
def test_the_monitor_figure_draws_the_result_and_marks_the_alarm(p):
    from uqviz.plots.monitor import drift_accuracy_figure, monitor_figure

    watch = watch_stream(demo_drift_stream(p), batch_size=10, n_boot=20)
    r, s = watch.result, watch.summary
    fig = monitor_figure(r, method="deep_ensemble", estimator_label="DoC",
                         drift_batch=s.drift_batch)
    by_name = {t.name: t for t in fig.data if t.name}
    np.testing.assert_array_equal(by_name["Estimated without labels (DoC)"].y,
                                  r.estimated_accuracy)
    np.testing.assert_array_equal(by_name["True accuracy (labels known here)"].y,
                                  r.true_accuracy)
    np.testing.assert_array_equal(by_name["Drift evidence"].y, r.drift_log10_martingale)
    assert by_name["Drift evidence"].yaxis == "y3" and by_name["Referred share"].yaxis == "y2"
    assert fig.layout.yaxis.title.text == "Accuracy"
    assert fig.layout.xaxis3.title.text == "Batch (time →)"
    assert 0 <= fig.layout.yaxis.range[0] and fig.layout.yaxis.range[1] <= 1  # rate_axis
    lines = {shape.x0 for shape in fig.layout.shapes if shape.type == "line"
             and shape.x0 == shape.x1}
    assert r.first_drift_alarm + 1 in lines
    levels = {shape.y0 for shape in fig.layout.shapes if shape.type == "line"
              and shape.y0 == shape.y1}
    assert math.log10(1 / r.alpha) in levels
    assert any(f"drift alarm (batch {r.batch_names[r.first_drift_alarm]})" == a.text
               for a in fig.layout.annotations)
    small = drift_accuracy_figure(r, method="deep_ensemble", estimator_label="DoC",
                                  drift_batch=s.drift_batch)
    assert [t.name for t in small.data if t.name][-2:] == ["Estimated without labels (DoC)",
                                                           "True accuracy (labels known here)"]
    assert any(a.text.startswith("drift alarm") for a in small.layout.annotations)


def test_the_estimated_accuracy_figure_sets_estimate_beside_truth():
    from uqviz.plots.shift import estimated_accuracy_figure

    x = np.arange(3)
    truth = {"softmax": np.array([0.9, 0.8, 0.6])}
    est = {"doc": {"softmax": (np.array([0.9, 0.85, 0.8]), np.array([0.85, 0.8, 0.7]),
                               np.array([0.95, 0.9, 0.9]))}}
    fig = estimated_accuracy_figure(x, truth, est, estimator_labels={"doc": "DoC"})
    solid, dashed = fig.data
    np.testing.assert_array_equal(solid.y, truth["softmax"])
    np.testing.assert_allclose(dashed.error_y.array, [0.05, 0.05, 0.1])
    assert dashed.line.dash == "dash" and fig.layout.annotations[0].text == "Estimated by DoC"
    with pytest.raises(ValueError, match="2 true and 3 estimated values for 3 severities"):
        estimated_accuracy_figure(x, {"softmax": np.array([0.9, 0.8])}, est)
    empty = estimated_accuracy_figure(np.zeros(0), {}, {})
    assert not empty.data and "Too few labelled" in empty.layout.annotations[0].text
