"""The canonical order of a table file's examples (``uqviz.exchange.ordering``): rows in any order
give the same predictions in ascending id order, whichever sort serves."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.exchange.exchange_checks import assert_identical, read_error
from uqviz.exchange import ordering, read_predictions

ROW_ORDER_METHODS = {"ens": 3, "mc": 2, "soft": 1, "half": 2}  # method -> samples S
_TEXT_INTEGER = re.compile(r"-?[0-9]{1,18}")

def _canonical(ids) -> list:
    """The documented order: ints ascending; text: plain integers first (numerically, ties by
    text), then the others by code point."""
    ids = list(ids)
    if all(isinstance(x, int | np.integer) for x in ids):
        return sorted(int(x) for x in ids)
    return sorted(ids, key=lambda x: (0, int(x), x) if _TEXT_INTEGER.fullmatch(x)
                  else (1, 0, x))


def _random_ids(rng, kind: str, n: int) -> np.ndarray:
    if kind == "int":
        return rng.choice(np.arange(-50, 5_000), size=n, replace=False).astype(np.int64)
    pool = ([f"img{k}" for k in range(120)] + [str(k) for k in range(120)]
            + [f"{k:04d}" for k in range(120)] + ["Zeta", "alpha", "é-1", "-7", "x"])
    return np.asarray([str(x) for x in rng.choice(pool, size=n, replace=False)], dtype=object)


def _long_frame(rng, id_kind: str, n: int = 30, num_classes: int = 3) -> pd.DataFrame:
    """A long-format file as a frame, in the one row order today's rule accepted: each method
    lists its examples in its own (random) order, the same in every sample. Method 'half' has
    half of the ids."""
    ids = _random_ids(rng, id_kind, n)
    labels = rng.integers(-1, num_classes, n)
    group = np.array(["test", "ood:svhn", "gaussian_noise:2"], dtype=object)[rng.integers(0, 3, n)]
    is_ood = rng.integers(0, 2, n)
    parts = []
    for method, num_samples in ROW_ORDER_METHODS.items():
        own = rng.permutation(n if method != "half" else rng.choice(n, n // 2, replace=False))
        for s in range(num_samples):
            probs = rng.dirichlet(np.full(num_classes, 0.5), size=own.size)
            parts.append(pd.DataFrame({
                "id": ids[own], "method": method, "sample": s, "label": labels[own],
                "group": group[own], "is_ood": is_ood[own],
                **{f"p_{j}": probs[:, j] for j in range(num_classes)},
            }))
    return pd.concat(parts, ignore_index=True)


def _row_orders(frame: pd.DataFrame, rng) -> dict[str, np.ndarray]:
    """Named permutations of the frame's rows."""
    n = len(frame)
    example_key = pd.factorize(frame["id"])[0]
    interleaved = np.lexsort((frame["sample"].to_numpy(), pd.factorize(frame["method"])[0],
                              rng.permutation(example_key.max() + 1)[example_key]))
    by_id = np.lexsort((frame["id"].astype(str).to_numpy(), frame["sample"].to_numpy(),
                        frame["method"].to_numpy()))
    return {
        "sorted": by_id,  # method, sample, id (as text)
        "interleaved": interleaved,  # all rows of an example together, samples alternating
        "reversed": np.arange(n)[::-1],
        **{f"random{seed}": np.random.default_rng(seed).permutation(n) for seed in range(3)},
    }


def _write_frame(frame: pd.DataFrame, path) -> None:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("id_kind", ["int", "text"])
def test_any_row_order_gives_the_same_predictions_in_ascending_id_order(tmp_path, suffix,
                                                                        id_kind):
    rng = np.random.default_rng(7 if id_kind == "int" else 8)
    frame = _long_frame(rng, id_kind)
    path = tmp_path / f"as_built{suffix}"
    _write_frame(frame, path)
    reference = read_predictions(path)
    assert reference.warnings == ()
    assert list(reference.by_method) == list(ROW_ORDER_METHODS)
    # the canonical order: ascending id, the same for every method with the same ids
    for method, p in reference.by_method.items():
        own = frame[frame["method"] == method]
        assert list(p.ids) == _canonical(set(own["id"]))
        assert p.ids.dtype == (np.int64 if id_kind == "int" else object)
        assert p.probs.shape == (ROW_ORDER_METHODS[method], len(p.ids), 3)
        # each value is the file's value for that (method, sample, id)
        by_key = own.set_index(["sample", "id"])
        for s in range(p.num_samples):
            expected = by_key.loc[[(s, i) for i in p.ids], ["p_0", "p_1", "p_2"]].to_numpy()
            np.testing.assert_array_equal(p.probs[s], expected.astype(np.float32))
        first = by_key.loc[[(0, i) for i in p.ids]]
        np.testing.assert_array_equal(p.labels, first["label"].to_numpy())
        assert list(p.group) == list(first["group"])
        np.testing.assert_array_equal(p.is_ood, first["is_ood"].to_numpy() == 1)
    full = reference.by_method["ens"]
    for method in ("mc", "soft"):
        assert list(reference.by_method[method].ids) == list(full.ids)
        np.testing.assert_array_equal(reference.by_method[method].labels, full.labels)
    for name, order in _row_orders(frame, rng).items():
        shuffled = tmp_path / f"{name}{suffix}"
        _write_frame(frame.iloc[order], shuffled)
        loaded = read_predictions(shuffled)
        assert loaded.warnings == (), name
        assert loaded.num_rows == len(frame)
        assert_identical(reference, loaded)


def test_text_ids_sort_plain_integers_first_then_by_code_point(tmp_path):
    path = tmp_path / "text_ids.csv"
    ids = ["x10", "b", "10", "9", "7", "007", "-3", "B", "img2", "img10"]
    rows = [f"{i},{s},0,0.5,0.5" for s in (1, 0) for i in reversed(ids)]
    path.write_text("id,sample,label,p_0,p_1\n" + "\n".join(rows) + "\n")
    p = read_predictions(path).by_method["default"]
    assert list(p.ids) == ["-3", "007", "7", "9", "10", "B", "b", "img10", "img2", "x10"]
    assert p.probs.shape == (2, 10, 2)


def test_integer_ids_sort_numerically(tmp_path):
    path = tmp_path / "int_ids.csv"
    path.write_text("id,label,p_0,p_1\n10,0,0.1,0.9\n-2,1,0.2,0.8\n9,0,0.3,0.7\n100,1,0.4,0.6\n")
    p = read_predictions(path).by_method["default"]
    assert p.ids.dtype == np.int64
    assert list(p.ids) == [-2, 9, 10, 100]
    np.testing.assert_allclose(p.probs[0, :, 0], [0.2, 0.3, 0.1, 0.4])
    np.testing.assert_array_equal(p.labels, [1, 0, 0, 1])


@pytest.mark.parametrize("id_kind", ["int", "text"])
def test_every_sorting_path_gives_the_same_result(tmp_path, monkeypatch, id_kind):
    """Counting sort (compact keys), argsort and lexsort (keys too large for one int64) agree,
    on good files and on the message for a repeated id."""
    rng = np.random.default_rng(11)
    frame = _long_frame(rng, id_kind)
    path = tmp_path / "shuffled.csv"
    _write_frame(frame.iloc[rng.permutation(len(frame))], path)
    repeated = tmp_path / "repeated.csv"
    _write_frame(pd.concat([frame, frame.iloc[[5, 40]]]).iloc[::-1], repeated)
    reference, message = read_predictions(path), read_error(repeated)
    assert "appears twice in method" in message
    for factor, max_key in ((0, 2**62), (4, 0), (0, 0)):
        monkeypatch.setattr(ordering, "_COUNTING_FACTOR", factor)
        monkeypatch.setattr(ordering, "_MAX_KEY", max_key)
        assert_identical(reference, read_predictions(path))
        assert read_error(repeated) == message


@pytest.mark.parametrize("max_words", [4, 1, 0])
def test_text_order_is_the_documented_order(monkeypatch, max_words):
    """Byte-wise lexsort (short texts) and Arrow's sort (long texts) both give: plain integers
    first, numerically (ties by text), then the rest by code point."""
    monkeypatch.setattr(ordering, "_MAX_SORT_WORDS", max_words)
    rng = np.random.default_rng(max_words)
    alphabet = list("ab0129-_ xZé\u00ff\u4e2d\U0001f600") + ["\x00"]
    texts = {"".join(rng.choice(alphabet, size=rng.integers(1, 14))) for _ in range(400)}
    texts |= {"a", "a\x00", "a\x00\x00", "ab", "007", "7", "-7", "-007", "12345678901234567",
              "0", "10", "9", "img9", "img10", "x" * 40, "x" * 39 + "y", "99999999999999999999"}
    texts = sorted(texts)
    shuffled = [texts[i] for i in rng.permutation(len(texts))]
    order = ordering._text_order(pa.array(shuffled, pa.string()))
    assert [shuffled[i] for i in order] == _canonical(texts)
    no_numbers = [t for t in shuffled if not _TEXT_INTEGER.fullmatch(t)]
    order = ordering._text_order(pa.array(no_numbers, pa.string()))
    assert [no_numbers[i] for i in order] == sorted(no_numbers, key=lambda t: t.encode())
