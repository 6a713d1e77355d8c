"""The core runs headless: importing it loads neither streamlit nor plotly."""

import subprocess
import sys

CORE_MODULES = [
    "uqviz", "uqviz.predictions", "uqviz.data", "uqviz.models", "uqviz.methods",
    "uqviz.metrics", "uqviz.runs", "uqviz.exchange", "uqviz.conformal", "uqviz.shifts",
    "uqviz.cache", "uqviz.device", "uqviz.__main__",
]


def test_core_imports_neither_streamlit_nor_plotly():
    code = (
        "import importlib, sys\n"
        f"for m in {CORE_MODULES!r}: importlib.import_module(m)\n"
        "bad = sorted(k for k in sys.modules if k.split('.')[0] in ('streamlit', 'plotly'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "", f"core imported {out.stdout.strip()}"


def test_predictions_module_imports_numpy_only():
    code = ("import sys, uqviz.predictions\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
