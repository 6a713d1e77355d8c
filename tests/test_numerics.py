"""The one softmax (uqviz.numerics), by hand, and that it loads neither torch nor scipy."""

import subprocess
import sys

import numpy as np
import pytest

from uqviz.numerics import softmax


def test_softmax_by_hand():
    # exp(0), exp(log 3) over their sum: 1/4, 3/4; shifting the logits changes nothing
    np.testing.assert_allclose(softmax([0.0, np.log(3.0)]), [0.25, 0.75], rtol=1e-15)
    np.testing.assert_allclose(softmax([1e4, 1e4 + np.log(3.0)]), [0.25, 0.75], rtol=1e-12)
    np.testing.assert_allclose(softmax([-1e4, -1e4]), [0.5, 0.5])
    # temperature 2 halves the logits: softmax([0, log 9] / 2) = softmax([0, log 3])
    np.testing.assert_allclose(softmax([0.0, np.log(9.0)], temperature=2.0), [0.25, 0.75])


def test_softmax_axis_and_dtype():
    logits = np.random.default_rng(0).normal(size=(3, 4, 5)).astype(np.float32)
    out = softmax(logits)
    assert out.dtype == np.float64 and out.shape == logits.shape
    np.testing.assert_allclose(out.sum(axis=-1), 1.0)
    along_1 = softmax(logits, axis=1)
    np.testing.assert_allclose(along_1, np.moveaxis(softmax(np.moveaxis(logits, 1, -1)), -1, 1))
    single = softmax(logits, dtype=np.float32)
    assert single.dtype == np.float32
    np.testing.assert_allclose(single, out, rtol=1e-6)
    assert not np.shares_memory(softmax(logits.astype(np.float64)), logits)


@pytest.mark.parametrize("module", ["uqviz.numerics", "uqviz.validation", "uqviz.formatting"])
def test_small_core_modules_load_numpy_only(module):
    code = (f"import sys, {module}\n"
            "print(sorted(m for m in ('torch', 'scipy', 'streamlit', 'plotly') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_finite_number_takes_only_finite_numbers():
    from uqviz.numerics import finite_number

    assert finite_number("0.25") == 0.25 and finite_number(3) == 3.0
    assert finite_number(" 7 ") == 7.0
    for bad in ("abc", None, "nan", float("inf"), "-inf", [], ""):
        assert finite_number(bad) is None
