"""Session-state keys, defaults and the sidebar shared by every page.

Keys are constants so that each page also runs alone (under AppTest) with the defaults.
"""

from __future__ import annotations

import streamlit as st

from uqviz.data import dataset_choices
from uqviz.device import default_device, device_name
from uqviz.methods import METHOD_IDS, METHODS

DATASET_KEY = "dataset"
METHODS_KEY = "methods"
DEFAULT_DATASET = "digits"
DEFAULT_METHODS: tuple[str, ...] = METHOD_IDS


def current_dataset() -> str:
    """The dataset chosen in the sidebar (``digits`` by default)."""
    return st.session_state.get(DATASET_KEY) or DEFAULT_DATASET


def current_methods() -> list[str]:
    """The methods chosen in the sidebar, in registry order (all five by default)."""
    chosen = st.session_state.get(METHODS_KEY)
    if chosen is None:
        chosen = DEFAULT_METHODS
    return [m for m in METHOD_IDS if m in chosen]


def method_label(method_id: str) -> str:
    cls = METHODS.get(method_id)
    return cls.label if cls else method_id


def _dataset_label(name: str) -> str:
    labels = {"digits": "digits (8×8, offline)", "mnist5k": "mnist5k (28×28, offline)",
              "mnist": "MNIST (download)", "fashion_mnist": "Fashion-MNIST (download)",
              "cifar10": "CIFAR-10 (download)", "svhn": "SVHN (download)"}
    return labels.get(name, name)


def render_sidebar() -> None:
    """Dataset selector (offline built-ins first), methods multiselect, the device in use."""
    with st.sidebar:
        st.selectbox("Dataset", dataset_choices(), key=DATASET_KEY, format_func=_dataset_label,
                     help="The offline sets ship inside installed packages; the others are "
                          "downloaded by torchvision when the network allows.",
                     bind="query-params", persist_state="session")
        st.multiselect("Methods", list(METHOD_IDS), default=list(DEFAULT_METHODS),
                       key=METHODS_KEY, format_func=method_label,
                       help="Uncertainty methods to train and compare.",
                       persist_state="session")
        st.caption(f"Device: **{device_name(default_device())}**")
