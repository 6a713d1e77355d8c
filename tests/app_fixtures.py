"""Train the app's default methods on digits once per test session (cached on disk)."""

from __future__ import annotations


def pretrain_digits() -> None:
    from uqviz.methods import METHOD_IDS
    from uqviz.sources import TrainedSource

    TrainedSource("digits").predictions(list(METHOD_IDS))


def framed_page(page: str, timeout: float = 180, **state):
    """An AppTest of ``page`` (e.g. ``pages/ood.py``) run inside app.py's frame: the sidebar
    choices in ``state`` are set in session state before the first run, then the page is
    switched to and run."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file("../app.py", default_timeout=timeout)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    return at.switch_page(page).run()


def offer_predictions_file(monkeypatch, path, *, rows: int = 100, classes: int = 3,
                           labelled: bool = True, seed: int = 1) -> str:
    """Write random predictions of one method (Dirichlet probabilities; labels, or −1 when not
    ``labelled``) to ``path`` in the exchange format, offer the file to the app through
    ``UQVIZ_PREDICTIONS`` as a user would, and return its dataset name for the sidebar."""
    import numpy as np

    from uqviz.exchange import write_predictions
    from uqviz.predictions import Predictions
    from uqviz.ui.files import env_dataset_name

    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(classes), rows).astype(np.float32)
    labels = rng.integers(0, classes, rows) if labelled else np.full(rows, -1)
    write_predictions({"m": Predictions(probs[None], labels)}, path)
    monkeypatch.setenv("UQVIZ_PREDICTIONS", str(path))
    return env_dataset_name(path)
