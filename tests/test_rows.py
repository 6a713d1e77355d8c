"""Row sets and the study's two row sets: every derived value computed once, from one place,
and the stream's rows versus the scored rows kept apart (a case and its corrupted copy never
both in one stream)."""

from __future__ import annotations

import numpy as np
import pytest

from uqviz.metrics.scores import uncertainty
from uqviz.metrics.summary import metric_table
from uqviz.predictions import Predictions
from uqviz.rows import RowSet
from uqviz.stream import DEMO_MIX
from uqviz.study import Comparison, Study

N_TEST, N_OOD, C = 300, 200, 4


def _probs(rng: np.random.Generator, s: int, n: int, sharpness: float) -> np.ndarray:
    logits = rng.normal(size=(s, n, C)) * sharpness
    e = np.exp(logits - logits.max(axis=2, keepdims=True))
    return (e / e.sum(axis=2, keepdims=True)).astype(np.float32)


def _predictions(seed: int = 0, samples: int = 3) -> Predictions:
    """N_TEST clean rows, a corrupted copy of them (DEMO_MIX's shift group) and N_OOD OOD rows;
    ``ids`` name each test image so a corrupted copy can be matched to its original."""
    rng = np.random.default_rng(seed)
    n = 2 * N_TEST + N_OOD
    labels = np.concatenate([rng.integers(0, C, 2 * N_TEST // 2)] * 2 + [np.full(N_OOD, -1)])
    group = np.array(["test"] * N_TEST + [DEMO_MIX.shift] * N_TEST + [DEMO_MIX.ood] * N_OOD,
                     dtype=object)
    ids = np.array([f"img{i}" for i in range(N_TEST)] * 2 + [f"ood{i}" for i in range(N_OOD)])
    return Predictions(probs=_probs(rng, samples, n, 2.0), labels=labels, group=group,
                       method="m", ids=ids)


def test_a_row_set_derives_each_value_once_and_as_the_metric_functions_do():
    p = _predictions().labelled_in_distribution()
    r = RowSet(p)
    assert r.n == N_TEST and r.scored is r and r.ood is None
    np.testing.assert_array_equal(r.mean_probs, p.probs.mean(axis=0))
    np.testing.assert_array_equal(r.predicted, p.probs.mean(axis=0).argmax(axis=1))
    np.testing.assert_array_equal(r.correct, r.predicted == p.labels)
    np.testing.assert_array_equal(r.confidence, r.mean_probs.max(axis=1))
    for score in ("max_prob", "entropy", "mutual_information"):
        np.testing.assert_array_equal(r.uncertainty(score), uncertainty(p.probs, score))
        assert r.uncertainty(score) is r.uncertainty(score)  # computed once
        order = r.order(score)
        assert np.all(np.diff(r.uncertainty(score)[order]) >= 0)
    assert r.mean_probs is r.mean_probs and r.referral_index("entropy") is r.referral_index(
        "entropy")


def test_scored_and_ood_rows_and_an_ood_row_is_never_right():
    p = _predictions()
    r = RowSet(p)
    assert r.scored.n == N_TEST and r.ood.n == N_OOD
    assert (r.scored.predictions.group == "test").all()
    assert not r.correct[p.is_ood].any()
    with pytest.raises(ValueError, match="no labelled in-distribution rows"):
        _ = RowSet(p.ood_rows()).scored
    with pytest.raises(ValueError, match="row set holds Predictions"):
        RowSet(p.probs)


def test_the_clean_study_has_one_row_set_for_the_stream_and_the_scored_rows():
    s = Study(_predictions())
    assert s.stream_rows is s.scored and s.n == N_TEST
    assert s.table_rows is s.all_rows and s.table_rows.ood.n == N_OOD
    assert s.uncertainty("entropy") is s.stream_uncertainty("entropy")


def test_the_mixed_stream_keeps_its_rows_apart_from_the_scored_rows():
    p = _predictions()
    s = Study(p, DEMO_MIX)
    stream, scored = s.stream_rows, s.scored
    n_ood = int(stream.predictions.is_ood.sum())
    assert stream.n == N_TEST and scored.n == stream.n - n_ood
    assert n_ood == round(DEMO_MIX.ood_share * N_TEST)
    # the scored rows are the stream's labelled rows, in the stream's order
    np.testing.assert_array_equal(scored.uncertainty("entropy"),
                                  stream.uncertainty("entropy")[s.rows_in_stream])
    # a test image and its corrupted copy are never both in the stream
    ids = p.ids[s.stream_index]
    labelled = ids[~stream.predictions.is_ood]
    assert len(set(labelled)) == labelled.size
    shifted = (s.origin == DEMO_MIX.shift).sum()
    assert shifted == round(DEMO_MIX.shift_share * N_TEST)


def test_galleries_index_the_stream_rows():
    s = Study(_predictions(), DEMO_MIX)
    u = s.stream_uncertainty("entropy")
    top = s.most_uncertain("entropy", k=5).rows
    np.testing.assert_array_equal(np.sort(u[top])[::-1], np.sort(u)[::-1][:5])
    wrong = s.confidently_wrong("entropy", k=5).rows
    assert not s.stream_correct[wrong].any()
    assert u[wrong].max() <= np.sort(u[~s.stream_correct])[4]


def test_the_metric_table_reads_the_pages_numbers_on_the_mixed_stream():
    studies = {m: Study(_predictions(seed=k).with_method(m), DEMO_MIX)
               for k, m in enumerate(("a", "b"))}
    table = Comparison(studies).metric_table()
    j = table.metrics.index("accuracy")
    for i, s in enumerate(studies.values()):
        assert table.value[i, j] == s.correct.mean()
    direct = metric_table({m: s.table_rows for m, s in studies.items()}, n_resamples=20)
    np.testing.assert_array_equal(direct.value, table.value)
