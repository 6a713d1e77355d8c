"""The referral workbench's operating point: set in the browser (``uqviz.ui.components``),
committed values kept in session state under the page's keys and in the URL.

Keys (session state and URL parameters): ``ref_threshold``, ``ref_budget`` (% referred),
``ref_target`` (% accuracy), ``ref_cost_error``, ``ref_cost_review``. A value comes from
session state, else from the URL (a shared link, a reload), else the default; the URL shows
the current mode's values.
"""

from __future__ import annotations

import streamlit as st

from uqviz.glossary import term_text
from uqviz.metrics.selective import CompactReferral, OperatingPoint
from uqviz.numerics import finite_number
from uqviz.plots.theme import method_color
from uqviz.study import GuaranteedReferral, Study
from uqviz.ui.components.referral_workbench import (
    SLIDERS,
    prepare,
    referral_workbench,
    snap_cost,
    warm_up,
)

WORKBENCH_KEY = "ref_workbench"
THRESHOLD_SCORES_KEY = "_ref_threshold_scores"  # the scores ref_threshold was set on
MODE_KEYS = {
    "threshold": ("ref_threshold",),
    "budget": ("ref_budget",),
    "target": ("ref_target",),
    "cost": ("ref_cost_error", "ref_cost_review"),
}
# ref_threshold's default depends on the scores: their 90% quantile
DEFAULTS = {"ref_threshold": None, "ref_budget": 10.0, "ref_target": 99.0,
            "ref_cost_error": 10.0, "ref_cost_review": 1.0}
# budget and target sliders: value = (offset + k) / scale, k = 0..steps (the component's)
STEPS = {f"ref_{mode}": (c["offset"], c["scale"], c["steps"]) for mode, c in SLIDERS.items()}


def warm_up_workbench():
    """A placeholder that has the browser load the workbench's code while the page computes;
    empty it after ``operating_point_workbench``."""
    return warm_up(f"{WORKBENCH_KEY}_warm_up")


def referral_values() -> dict[str, float | None]:
    """This session's values by key (None: the default), seeded from the URL once."""
    for key in DEFAULTS:
        if key not in st.session_state:
            st.session_state[key] = finite_number(st.query_params.get(key))
    return {key: st.session_state[key] for key in DEFAULTS}


def snap_value(key: str, value) -> float:
    """A budget or target as its slider step allows it; the default when not a number."""
    offset, scale, steps = STEPS[key]
    value = finite_number(value)
    if value is None:
        return DEFAULTS[key]
    k = min(max(round(value * scale - offset), 0), steps)
    return (offset + k) / scale


def _cost(key: str, value) -> float:
    """A cost as its slider offers it (the nearest of ``COST_VALUES``); the default when not a
    number."""
    snapped = snap_cost(value)
    return DEFAULTS[key] if snapped is None else snapped


def resolve(compact: CompactReferral, default_threshold: float, values: dict) -> dict:
    """Values as the component offers them: the threshold snapped to a kept cut within the
    slider's range (the default when missing), budget and target to their steps, costs to the
    nearest value their sliders offer."""
    t = finite_number(values.get("ref_threshold"))
    t = default_threshold if t is None else max(t, float(compact.thresholds[1]))
    return {
        "ref_threshold": float(compact.thresholds[max(1, compact.position_at_threshold(t))]),
        "ref_budget": snap_value("ref_budget", values.get("ref_budget")),
        "ref_target": snap_value("ref_target", values.get("ref_target")),
        "ref_cost_error": _cost("ref_cost_error", values.get("ref_cost_error")),
        "ref_cost_review": _cost("ref_cost_review", values.get("ref_cost_review")),
    }


def point_for(compact: CompactReferral, mode: str, values: dict) -> OperatingPoint:
    """The operating point the component shows for resolved ``values``."""
    if mode == "threshold":
        return compact.at_threshold(values["ref_threshold"])
    if mode == "budget":
        return compact.at_budget(values["ref_budget"] / 100)
    if mode == "target":
        return compact.for_target_accuracy(values["ref_target"] / 100)
    if mode == "cost":
        return compact.for_costs(values["ref_cost_error"], values["ref_cost_review"])
    raise ValueError(f"unknown referral mode {mode!r}; valid: {', '.join(MODE_KEYS)}")


def _store_commit() -> None:
    """The component committed a value: keep it under the page's key(s)."""
    state = st.session_state.get(WORKBENCH_KEY)
    commit = state.get("commit") if state is not None else None
    if not isinstance(commit, dict) or commit.get("mode") not in MODE_KEYS:
        return
    keys, value = MODE_KEYS[commit["mode"]], commit.get("value")
    values = value if isinstance(value, list) else [value]
    numbers = [finite_number(v) for v in values]
    if len(numbers) == len(keys) and None not in numbers:
        for key, number in zip(keys, numbers, strict=True):
            st.session_state[key] = number


def _url_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _sync_url(mode: str, values: dict) -> None:
    """The URL names the current mode's values, not the other modes'."""
    shown = {key: _url_text(values[key]) for key in MODE_KEYS[mode]}
    for key in DEFAULTS:
        if key in shown:
            if st.query_params.get(key) != shown[key]:
                st.query_params[key] = shown[key]
        elif key in st.query_params:
            del st.query_params[key]


def operating_point_workbench(study: Study, score: str, mode: str, start: dict, *,
                              source: str, method: str) -> OperatingPoint:
    """Mount the workbench for ``study`` and ``score`` and return the committed operating
    point (what the page's Python panels show).

    Args:
        start: ``referral_values()`` as the last full run of the page found them; the
            component starts from them (a fragment rerun passes the same, so the component's
            data does not change while only its committed value does).
        source, method: name the scores for the component (with a digest of them).
    """
    prepared = prepare(study.referral_index(score))
    compact = prepared.compact
    scores = f"{source}|{method}|{score}"
    if st.session_state.setdefault(THRESHOLD_SCORES_KEY, scores) != scores:
        # a threshold means nothing on other scores: back to their default
        st.session_state[THRESHOLD_SCORES_KEY] = scores
        st.session_state["ref_threshold"] = start["ref_threshold"] = None
    shown = resolve(compact, prepared.default_threshold, start)
    referral_workbench(
        prepared, data_id=scores, mode=mode,
        values={key.removeprefix("ref_"): value for key, value in shown.items()},
        color=method_color(method), key=WORKBENCH_KEY, on_commit=_store_commit)
    values = resolve(compact, prepared.default_threshold, referral_values())
    _sync_url(mode, values)
    return point_for(compact, mode, values)


def guarantee_panel(study: Study, score: str) -> GuaranteedReferral:
    """A threshold with a guarantee, chosen on one part of the stream and reported on the other,
    side by side (``Study.guaranteed_referral``); returns it for the exported policy."""
    st.subheader("A threshold with a guarantee")
    st.caption(term_text("Guaranteed threshold"))
    g1, g2, g3, g4 = st.columns(4)
    target = g1.number_input("Accuracy to guarantee on automated cases (%)", 50.0, 99.99, 95.0,
                             0.5, key="ref_guarantee_target", bind="query-params")
    confidence = g2.number_input("With probability (%)", 50.0, 99.9, 95.0, 0.5,
                                 key="ref_guarantee_confidence", bind="query-params")
    share = g3.number_input("Share of the stream used to choose (%)", 10, 90, 50, 5,
                            key="ref_guarantee_share", bind="query-params")
    seed = int(g4.number_input("Seed of the split", 0, 10_000, 0, key="ref_guarantee_seed",
                               bind="query-params"))
    result = study.guaranteed_referral(score, target_accuracy=target / 100,
                                       confidence=confidence / 100,
                                       calibration_share=share / 100, seed=seed)
    c = result.certified
    if c.certified:
        st.success(f"Refer every case whose score is above {c.threshold:.4g}: the accuracy on "
                   f"the automated cases is at least {100 * c.accuracy_bound:.2f}% (≥ {target:g}%)"
                   f" with probability at least {confidence:g}%.")
    else:
        st.warning(f"{target:g}% cannot be guaranteed with {c.n_calibration:,} calibration cases "
                   f"at {confidence:g}%; the highest accuracy that can is "
                   f"{100 * c.accuracy_bound:.2f}%, shown below.")
    left, right = st.columns(2)
    for column, title, point in ((left, "Chosen on (calibration part)", result.calibration),
                                 (right, "Checked on (held-out part)", result.heldout)):
        column.markdown(f"**{title}**")
        if point is None:
            column.caption("Every case was used to choose: nothing is held out.")
            continue
        lo, hi = point.automated_accuracy_ci
        column.metric("Referred to a human", f"{100 * point.referred_fraction:.1f}%",
                      help=f"{point.n_referred:,} of {point.n:,} cases")
        column.metric("Accuracy, automated", "–" if point.n_automated == 0
                      else f"{100 * point.automated_accuracy:.2f}%",
                      help=f"95% Wilson interval {100 * lo:.2f}–{100 * hi:.2f}% on "
                           f"{point.n_automated:,} cases")
    st.caption("The same threshold on both parts: the calibration part's accuracy is what the "
               "choice saw; the held-out part shows what new cases from the same stream get.")
    return result


# -- the exported policy -----------------------------------------------------------------------
REVIEWER_ACCURACY_KEY = "ref_reviewer_accuracy"
GUARANTEE_DEFAULTS = {"ref_guarantee_target": 95.0, "ref_guarantee_confidence": 95.0,
                      "ref_guarantee_share": 50, "ref_guarantee_seed": 0}


@st.cache_data(show_spinner=False, max_entries=16)
def _model_record(key: str, method: str) -> dict | None:
    """A user's model as the policy records it (``uqviz.triage.model_record``: files' SHA-256,
    ``model.json``, the method's settings), or None for a dataset or a predictions file; once
    per key (its fingerprint holds the files' digests) and method."""
    from uqviz.sources import YOUR_MODEL
    from uqviz.triage import model_record
    from uqviz.ui.backend import source

    src = source(key)
    if src.kind != YOUR_MODEL:
        return None
    temperature = src.run([method]).temperature if method == "temperature" else None
    return model_record(src.models, src.configs, temperature=temperature,
                        tta_samples=src.settings.tta_samples, seed=src.settings.seed)


def referral_policy(key: str, study: Study, *, method: str, score: str, mode: str,
                    point: OperatingPoint, guarantee: GuaranteedReferral, mix,
                    certified: bool = False) -> dict:
    """The policy the Referral page exports (``uqviz.policy.policy_document``) with the class
    names and, for a user's model, its record (so that ``python -m uqviz triage`` and the Triage
    page can run it and refuse another model). ``certified``: at the guaranteed threshold, its
    expected share measured on the held-out part (the calibration part when none), as
    ``python -m uqviz referral --out`` writes it; else at the workbench's ``point``."""
    from datetime import date

    from uqviz.policy import policy_document

    if certified:
        mode, point = "target", guarantee.heldout or guarantee.calibration
    return policy_document(dataset=key, method=method, score=score, mode=mode, point=point,
                           when=date.today().isoformat(),
                           stream=mix.to_dict(),
                           guarantee=guarantee.to_dict(), classes=study.rows.names,
                           model=_model_record(key, method))


def guarantee_settings() -> dict:
    """The guarantee's settings as the Referral page last set them (its defaults otherwise)."""
    return {k: st.session_state.get(k, v) for k, v in GUARANTEE_DEFAULTS.items()}


def certified_referral(study: Study, score: str) -> GuaranteedReferral:
    """``Study.guaranteed_referral`` with the Referral page's guarantee settings."""
    s = guarantee_settings()
    return study.guaranteed_referral(score, target_accuracy=s["ref_guarantee_target"] / 100,
                                     confidence=s["ref_guarantee_confidence"] / 100,
                                     calibration_share=s["ref_guarantee_share"] / 100,
                                     seed=int(s["ref_guarantee_seed"]))


# -- the team: the model on automated cases, reviewers on referred ones ------------------------
def team_panel(column, study: Study, score: str, point: OperatingPoint, method: str) -> None:
    """A "reviewers' accuracy" slider and the team's accuracy against the share referred
    (``uqviz.metrics.selective.team_accuracy_curve``) beside the model's, in ``column``."""
    import numpy as np

    from uqviz.metrics.selective import team_accuracy_curve
    from uqviz.plots import referral_curve_figure

    q = column.slider("Reviewers' accuracy (%)", 50, 100, 100, key=REVIEWER_ACCURACY_KEY,
                      help="How often the people who review referred cases are right.") / 100
    curve = study.referral_curve(score)
    team = team_accuracy_curve(curve.referred_fraction, curve.accuracy_retained, q)
    column.plotly_chart(referral_curve_figure(
        curve, method=method, team_accuracy={method: team}, reviewer_accuracy=q, height=360,
        title="The team: the model automates, people review"), theme=None, key="ref_team")
    at_point = float(team_accuracy_curve(np.array([point.referred_fraction]),
                                         np.array([point.automated_accuracy]), q)[0])
    model = point.automated_accuracy
    column.caption(f"Dotted: the team's accuracy, (1 − referred)·model + referred·{q:.0%}; at "
                   f"this threshold {at_point:.1%} against the model's {model:.1%} on what it "
                   "automates. The cost mode still counts people as always right.")
