"""The default dataset is read from scikit-learn's file without importing scikit-learn."""

from __future__ import annotations

import subprocess
import sys

import numpy as np


def test_digits_equal_scikit_learns_load_digits():
    from sklearn.datasets import load_digits

    from uqviz.data.offline import digits_arrays

    images, labels = digits_arrays()
    bunch = load_digits()
    np.testing.assert_array_equal(images, (bunch.images.astype(np.float32) / 16.0)[:, None])
    np.testing.assert_array_equal(labels, bunch.target.astype(np.int64))
    assert images.dtype == np.float32 and labels.dtype == np.int64


def test_reading_digits_imports_no_scikit_learn():
    code = ("import sys\n"
            "from uqviz.data.offline import digits_arrays\n"
            "digits_arrays()\n"
            "print('sklearn' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"UQVIZ_TORCH_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert out.stdout.split() == ["False"]
