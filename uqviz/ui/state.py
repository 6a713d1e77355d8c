"""Session-state keys, defaults and the sidebar shared by every page.

Keys are constants so that each page also runs alone (under AppTest) with the defaults.
"""

from __future__ import annotations

import streamlit as st

from uqviz.data import dataset_choices
from uqviz.device import default_device, device_name
from uqviz.glossary import term_text
from uqviz.labels import method_label
from uqviz.methods import METHOD_IDS, METHODS
from uqviz.sources import file_label, is_file_key
from uqviz.ui.files import file_source, prediction_datasets

DATASET_KEY = "dataset"
METHODS_KEY = "methods"
DEFAULT_DATASET = "digits"
# The registry's labels, explained by the glossary terms of the same name.
METHODS_HELP = "\n\n".join(
    f"**{cls.label}**: {term_text(cls.label)}" for cls in METHODS.values())


def current_dataset() -> str:
    """The dataset chosen in the sidebar (``digits`` by default)."""
    return st.session_state.get(DATASET_KEY) or DEFAULT_DATASET


def available_methods(dataset: str) -> list[str]:
    """The registry's methods, or the methods in a predictions file."""
    if is_file_key(dataset):
        try:
            return file_source(dataset).methods
        except ValueError:
            return []
    return list(METHOD_IDS)


def methods_key(dataset: str) -> str:
    """One multiselect per predictions file (their methods differ); one for trained data."""
    return f"{METHODS_KEY}:{dataset}" if is_file_key(dataset) else METHODS_KEY


def current_methods() -> list[str]:
    """The methods chosen in the sidebar, in the dataset's order (all of them by default)."""
    dataset = current_dataset()
    options = available_methods(dataset)
    chosen = st.session_state.get(methods_key(dataset))
    if chosen is None:
        chosen = options
    return [m for m in options if m in chosen]


def _dataset_label(name: str) -> str:
    labels = {"digits": "digits (8×8, offline)", "mnist5k": "mnist5k (28×28, offline)",
              "mnist": "MNIST (download)", "fashion_mnist": "Fashion-MNIST (download)",
              "cifar10": "CIFAR-10 (download)", "svhn": "SVHN (download)"}
    return labels.get(name, file_label(name))


def select_dataset(name: str) -> None:
    """A callback that switches the sidebar to ``name`` (run before the next script run)."""
    st.session_state[DATASET_KEY] = name


def render_sidebar() -> None:
    """Dataset selector (offline built-ins first), methods multiselect, the device in use."""
    with st.sidebar:
        choices = [*dataset_choices(), *prediction_datasets()]
        if st.session_state.get(DATASET_KEY) not in (None, *choices):
            del st.session_state[DATASET_KEY]  # e.g. a shared link to another session's upload
        dataset = st.selectbox(
            "Dataset", choices, key=DATASET_KEY, format_func=_dataset_label,
            help="The offline sets ship inside installed packages; the torchvision ones are "
                 "downloaded when the network allows; your predictions files come from the "
                 "'Your predictions' page.", bind="query-params")
        options = available_methods(dataset)
        st.multiselect("Methods", options, default=options, key=methods_key(dataset),
                       format_func=method_label,
                       help="Uncertainty methods to train and compare (for a predictions file: "
                            "the methods in it).\n\n" + METHODS_HELP, persist_state="session")
        st.caption(f"Device: **{device_name(default_device())}**")
