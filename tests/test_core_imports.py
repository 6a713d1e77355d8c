"""The core runs headless: importing it loads neither streamlit nor plotly."""

import subprocess
import sys


def core_modules() -> list[str]:
    """Every module of the package outside ``uqviz.plots`` and ``uqviz.ui`` (found on disk, so
    a new core module is checked without being listed here)."""
    import pkgutil

    import uqviz

    names = ["uqviz"] + [m.name for m in pkgutil.walk_packages(uqviz.__path__, "uqviz.")]
    return [n for n in names if not n.startswith(("uqviz.plots", "uqviz.ui"))]


CORE_MODULES = core_modules()


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
    assert {"uqviz.embedding", "uqviz.precompute", "uqviz.presets",
            "uqviz.teaching.active", "uqviz.teaching.moons"} <= set(CORE_MODULES)


def test_predictions_module_imports_numpy_only():
    code = ("import sys, uqviz.predictions\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
