"""Session-state keys, defaults and the sidebar shared by every page.

Keys are constants so that each page also runs alone (under AppTest) with the defaults.
"""

from __future__ import annotations

import streamlit as st

from uqviz.data import dataset_choices
from uqviz.device import default_device, device_name
from uqviz.glossary import term_text
from uqviz.labels import method_label
from uqviz.methods import DATASET_METHOD_IDS, METHODS
from uqviz.predictions import OOD_PREFIX
from uqviz.sources import DATASET, Source
from uqviz.stream import CLEAN, DEMO_MIX, StreamMix
from uqviz.ui.backend import source, source_label
from uqviz.ui.files import prediction_datasets
from uqviz.ui.models import model_datasets

DATASET_KEY = "dataset"
METHODS_KEY = "methods"
DEFAULT_DATASET = "digits"
# The registry's labels, explained by the glossary terms of the same name.
METHODS_HELP = "\n\n".join(
    f"**{cls.label}**: {term_text(cls.label)}" for cls in METHODS.values())


def current_dataset() -> str:
    """The dataset chosen in the sidebar (``digits`` by default)."""
    return st.session_state.get(DATASET_KEY) or DEFAULT_DATASET


def current_source() -> Source:
    """The source chosen in the sidebar; when this session cannot load it (a file or model of
    another session), an ``st.error`` says what to do and the page stops."""
    try:
        return source(current_dataset())
    except ValueError as err:
        st.error(str(err))
        st.stop()


def default_methods(dataset: str) -> list[str]:
    """The methods chosen until the user chooses: a dataset's default methods, the methods in
    a predictions file, or those that apply to a user's model (none when it cannot be
    loaded)."""
    try:
        return list(source(dataset).methods)
    except ValueError:
        return []


def available_methods(dataset: str) -> list[str]:
    """What the sidebar offers: ``default_methods``, then, for a built-in dataset, the registry's
    other methods that run on it (test-time augmentation)."""
    methods = default_methods(dataset)
    try:
        is_dataset = source(dataset).kind == DATASET
    except ValueError:
        return methods
    extra = [m for m in DATASET_METHOD_IDS if m not in methods] if is_dataset else []
    return methods + extra


def methods_key(dataset: str) -> str:
    """One multiselect per predictions file or model (their methods differ); one for trained
    data."""
    try:
        own = source(dataset).kind != DATASET
    except ValueError:  # only a file or a model fails to load
        own = True
    return f"{METHODS_KEY}:{dataset}" if own else METHODS_KEY


def current_methods() -> list[str]:
    """The methods chosen in the sidebar, in the sidebar's order (``default_methods`` until the
    user chooses)."""
    dataset = current_dataset()
    options = available_methods(dataset)
    chosen = st.session_state.get(methods_key(dataset))
    if chosen is None:
        chosen = default_methods(dataset)
    return [m for m in options if m in chosen]


def _dataset_label(name: str) -> str:
    labels = {"digits": "digits (8×8, offline)", "mnist5k": "mnist5k (28×28, offline)",
              "mnist": "MNIST (download)", "fashion_mnist": "Fashion-MNIST (download)",
              "cifar10": "CIFAR-10 (download)", "svhn": "SVHN (download)"}
    return labels.get(name) or source_label(name)


def dataset_label(name: str) -> str:
    """What the sidebar calls a dataset, predictions file or user's model."""
    return _dataset_label(name)


def select_dataset(name: str) -> None:
    """A callback that switches the sidebar to ``name`` (run before the next script run)."""
    st.session_state[DATASET_KEY] = name


def render_sidebar() -> None:
    """Dataset selector (offline built-ins first), methods multiselect, the device in use."""
    with st.sidebar:
        choices = [*dataset_choices(), *prediction_datasets(), *model_datasets()]
        if st.session_state.get(DATASET_KEY) not in (None, *choices):
            del st.session_state[DATASET_KEY]  # e.g. a shared link to another session's upload
        dataset = st.selectbox(
            "Dataset", choices, key=DATASET_KEY, format_func=_dataset_label,
            help="The offline sets ship inside installed packages; the torchvision ones are "
                 "downloaded when the network allows; your predictions files come from the "
                 "'Your predictions' page, your models from the 'Your model' page.",
            bind="query-params")
        options = available_methods(dataset)
        st.multiselect("Methods", options, default=default_methods(dataset),
                       key=methods_key(dataset),
                       format_func=method_label,
                       help="Uncertainty methods to train and compare (for a predictions file: "
                            "the methods in it).\n\n" + METHODS_HELP, persist_state="session")
        st.caption(f"Device: **{device_name(default_device())}**")


# -- the incoming stream -------------------------------------------------------------------------
STREAM_KEYS = ("stream_shift", "stream_shift_share", "stream_ood", "stream_ood_share",
               "stream_seed")
NO_SHIFT, NO_OOD = "none", "none"
SHARES = list(range(0, 65, 5))  # percent of the stream


def _share(fraction: float) -> int:
    """A share as the nearest option of SHARES."""
    return min(SHARES, key=lambda s: abs(s - 100 * fraction))


def _stream_options(groups: list[str]) -> tuple[list[str], list[str]]:
    shifts = [g for g in groups if ":" in g and not g.startswith(OOD_PREFIX)]
    oods = [g for g in groups if g.startswith(OOD_PREFIX)]
    return shifts, oods


def current_mix(groups: list[str]) -> StreamMix:
    """The stream set by ``stream_control`` (or its URL parameters): the demo's default mix
    where its groups exist, else the clean test rows."""
    shifts, oods = _stream_options(groups)
    default = DEMO_MIX if (DEMO_MIX.shift in shifts and DEMO_MIX.ood in oods) else CLEAN
    state = st.session_state
    shift = state.get("stream_shift", default.shift or NO_SHIFT)
    ood = state.get("stream_ood", default.ood or NO_OOD)
    shift_share = state.get("stream_shift_share", round(100 * default.shift_share))
    ood_share = state.get("stream_ood_share", round(100 * default.ood_share))
    shift = shift if shift in shifts else None
    ood = ood if ood in oods else None
    try:
        return StreamMix(shift=shift, shift_share=shift_share / 100 if shift else 0.0,
                         ood=ood, ood_share=ood_share / 100 if ood else 0.0,
                         seed=int(state.get("stream_seed", default.seed)))
    except ValueError:
        return CLEAN


def stream_control(groups: list[str]) -> StreamMix:
    """An expander that sets what the model receives: clean test rows mixed with a share of
    shifted rows and a share of out-of-distribution rows (bound to the URL); returns it.

    The widgets' defaults are the demo's mix (constants), so a link that names another mix,
    ``none`` included, keeps it: Streamlit leaves a widget at its default out of the URL."""
    shifts, oods = _stream_options(groups)
    default = DEMO_MIX if (DEMO_MIX.shift in shifts and DEMO_MIX.ood in oods) else CLEAN
    mix = current_mix(groups)
    shift_options, ood_options = [NO_SHIFT, *shifts], [NO_OOD, *oods]
    with st.expander(f"Incoming stream: {mix.describe()}", expanded=False):
        st.caption(term_text("Incoming stream"))
        c1, c2, c3, c4, c5 = st.columns([2, 1, 2, 1, 1])
        c1.selectbox("Shifted cases", shift_options, key="stream_shift",
                     index=shift_options.index(default.shift or NO_SHIFT), bind="query-params")
        # select boxes, not sliders: the Referral page's one slider (its workbench) stays the
        # first element with the ARIA role "slider"
        c2.selectbox("Share (%)", SHARES, index=SHARES.index(_share(default.shift_share)),
                     key="stream_shift_share", bind="query-params")
        c3.selectbox("Out-of-distribution cases", ood_options, key="stream_ood",
                     index=ood_options.index(default.ood or NO_OOD), bind="query-params")
        c4.selectbox("Share (%)", SHARES, index=SHARES.index(_share(default.ood_share)),
                     key="stream_ood_share", bind="query-params")
        c5.number_input("Seed", 0, 10_000, default.seed, key="stream_seed", bind="query-params")
    mix = current_mix(groups)
    if mix.shift_share + mix.ood_share > 1:
        st.warning("The shares add up to more than 100%: showing the clean test rows.")
    return mix
