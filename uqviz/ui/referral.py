"""The referral workbench's operating point: set in the browser (``uqviz.ui.components``),
committed values kept in session state under the page's keys and in the URL.

Keys (session state and URL parameters): ``ref_threshold``, ``ref_budget`` (% referred),
``ref_target`` (% accuracy), ``ref_cost_error``, ``ref_cost_review``. A value comes from
session state, else from the URL (a shared link, a reload), else the default; the URL shows
the current mode's values.

The score (``score_select``) is any of ``Study.referral_score_keys()``: a probability score, or
a logit or feature score fitted on the fit rows; the workbench, the guarantee (with its
per-class targets, ``class_targets_input``), the galleries and one-vs-rest all follow it. The
cost mode counts the reviewers' accuracy set beside the team chart (``reviewer_accuracy``).
"""

from __future__ import annotations

import json

import streamlit as st

from uqviz.glossary import term_text
from uqviz.metrics.guarantee import CLASS_METRICS, ClassTarget
from uqviz.metrics.selective import CompactReferral, OperatingPoint
from uqviz.numerics import finite_number
from uqviz.plots.theme import method_color
from uqviz.policy import guarantee_warning
from uqviz.study import GuaranteedReferral, Study
from uqviz.ui.components.referral_workbench import (
    SLIDERS,
    prepare,
    referral_workbench,
    snap_cost,
    warm_up,
)
from uqviz.ui.ood import score_label, score_meaning, score_needs

WORKBENCH_KEY = "ref_workbench"
THRESHOLD_SCORES_KEY = "_ref_threshold_scores"  # the scores ref_threshold was set on
MOUNTED_KEY = "_ref_workbench_data"  # the data the component was last given
REVIEWER_ACCURACY_KEY = "ref_reviewer_accuracy"  # %, the slider beside the team chart
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


def score_select(container, study: Study) -> str:
    """The score the threshold is set on (key ``ref_score``, in the URL): every score of
    ``study.referral_score_keys()``, labelled; a logit or feature score says what it needs."""
    options = study.referral_score_keys()

    def label(key: str) -> str:
        needs = score_needs(key)
        return score_label(key) if needs == "probabilities" else f"{score_label(key)} ({needs})"
    return container.selectbox(
        "Uncertainty score", options, key="ref_score", format_func=label, bind="query-params",
        help=" ".join(f"{score_label(k)}: {score_meaning(k)}" for k in options))


def reviewer_accuracy() -> float:
    """The reviewers' accuracy (a fraction) as the slider beside the team chart last set it
    (1 before it is shown): what the cost mode counts."""
    value = finite_number(st.session_state.get(REVIEWER_ACCURACY_KEY))
    return 1.0 if value is None else min(max(value, 0.0), 100.0) / 100


def point_for(compact: CompactReferral, mode: str, values: dict,
              reviewer_accuracy: float = 1.0) -> OperatingPoint:
    """The operating point the component shows for resolved ``values`` (the cost mode with
    reviewers right with probability ``reviewer_accuracy``)."""
    if mode == "threshold":
        return compact.at_threshold(values["ref_threshold"])
    if mode == "budget":
        return compact.at_budget(values["ref_budget"] / 100)
    if mode == "target":
        return compact.for_target_accuracy(values["ref_target"] / 100)
    if mode == "cost":
        return compact.for_costs(values["ref_cost_error"], values["ref_cost_review"],
                                 reviewer_accuracy=reviewer_accuracy)
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
            data does not change while only its committed value does). When the data does
            change in a fragment rerun (the reviewers' accuracy moved the cost table), the
            component is given the values committed since.
        source, method: name the scores for the component (with a digest of them).
    """
    q = reviewer_accuracy()
    prepared = prepare(study.referral_index(score), q)
    compact = prepared.compact
    scores = f"{source}|{method}|{score}"
    if st.session_state.setdefault(THRESHOLD_SCORES_KEY, scores) != scores:
        # a threshold means nothing on other scores: back to their default
        st.session_state[THRESHOLD_SCORES_KEY] = scores
        st.session_state["ref_threshold"] = start["ref_threshold"] = None
    mounted = f"{scores}|{prepared.payload['digest']}"
    if st.session_state.get(MOUNTED_KEY, mounted) != mounted:
        start = referral_values()
    st.session_state[MOUNTED_KEY] = mounted
    shown = resolve(compact, prepared.default_threshold, start)
    referral_workbench(
        prepared, data_id=scores, mode=mode,
        values={key.removeprefix("ref_"): value for key, value in shown.items()},
        color=method_color(method), key=WORKBENCH_KEY, on_commit=_store_commit)
    values = resolve(compact, prepared.default_threshold, referral_values())
    _sync_url(mode, values)
    if mode == "cost":
        st.caption(f"Costs with the reviewers right {q:.0%} of the time (the reviewers' "
                   "accuracy, set beside the team chart below): a referred case costs the "
                   f"review plus (1 − {q:.0%}) × the cost of an error"
                   + (", i.e. the review alone." if q >= 1 else "."))
    return point_for(compact, mode, values, q)


def class_targets_input(names: tuple[str, ...]) -> tuple[tuple[ClassTarget, ...], bool]:
    """Per-class targets, "recall of class k ≥ x" or "precision of class k ≥ x among automated
    cases" (``uqviz.metrics.guarantee.ClassTarget``), chosen by class name, each with its level
    (keys ``ref_class_targets``, ``ref_ct_<k>_<metric>``); and whether the overall accuracy
    target applies too (key ``ref_guarantee_accuracy``; always without class targets)."""
    options = [f"{k}:{metric}" for k in range(len(names)) for metric in CLASS_METRICS]

    def label(option: str) -> str:
        k, metric = option.split(":")
        return f"{metric} of {names[int(k)]}"
    t1, t2 = st.columns([3, 1])
    chosen = t1.multiselect(
        "Per-class targets (optional)", options, key="ref_class_targets", format_func=label,
        placeholder="e.g. recall of a class that must not be missed",
        help=" · ".join(f"{m}: {meaning}" for m, meaning in CLASS_METRICS.items()))
    with_accuracy = t2.checkbox("and the accuracy target", True, key="ref_guarantee_accuracy",
                                disabled=not chosen,
                                help="Certify the per-class targets alone, or together with "
                                     "the accuracy on automated cases above.")
    targets = []
    columns = st.columns(min(len(chosen), 4)) if chosen else []
    for i, option in enumerate(chosen):
        k, metric = option.split(":")
        level = columns[i % len(columns)].number_input(
            f"{label(option)} ≥ (%)", 1.0, 100.0, 90.0, 0.5, key=f"ref_ct_{k}_{metric}")
        targets.append(ClassTarget(int(k), metric, level / 100))
    return tuple(targets), with_accuracy or not targets


def _class_target_rows(result: GuaranteedReferral) -> list[dict]:
    """One row per class target: certified or not, the bound reached and the value measured
    on the automated calibration test rows of its population."""
    names, rows = result.class_names, []
    for r in result.certified.class_targets:
        t = r.target
        rows.append({"Target": f"{t.metric} of {names[t.class_index]} ≥ {100 * t.level:g}%",
                     "Certified": "yes" if r.certified else "no",
                     "Bound reached": f"{100 * r.bound:.2f}%",
                     "Measured": "–" if r.n == 0 else f"{100 * r.value:.2f}%",
                     "Automated cases": r.n})
    return rows


def guarantee_panel(study: Study, score: str) -> GuaranteedReferral:
    """A threshold with a guarantee, chosen on one part of the stream and reported on the other,
    side by side (``Study.guaranteed_referral``), with optional per-class targets
    (``class_targets_input``); returns it for the exported policy."""
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
    class_targets, with_accuracy = class_targets_input(study.stream.names)
    result = study.guaranteed_referral(score, target_accuracy=target / 100 if with_accuracy
                                       else None, confidence=confidence / 100,
                                       calibration_share=share / 100, seed=seed,
                                       class_targets=class_targets)
    c = result.certified
    if class_targets:
        _class_targets_verdict(result, target if with_accuracy else None, confidence)
    elif c.certified:
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


def _class_targets_verdict(result: GuaranteedReferral, target: float | None,
                           confidence: float) -> None:
    """Certified or not, in words, and the table of the per-class targets."""
    c = result.certified
    overall = ("" if target is None
               else f"the accuracy on automated cases is at least {target:g}%, ")
    if c.certified:
        st.success(f"Refer every case whose score is above {c.threshold:.4g}: {overall}and every "
                   f"class target below holds, with probability at least {confidence:g}% "
                   "(Learn then Test, one test for all targets).")
    else:
        st.warning(f"These targets cannot all be guaranteed with {c.n_calibration:,} calibration "
                   f"cases at {confidence:g}%: every case is referred. The bound each target "
                   "reaches is below.")
    st.dataframe(_class_target_rows(result), hide_index=True, key="ref_class_target_table")
    st.caption("Bound reached: the one-sided Clopper–Pearson lower bound, at the confidence "
               "above, of the class's recall or precision on the automated calibration cases "
               "of that class (true class for recall, predicted class for precision).")


# -- the exported policy -----------------------------------------------------------------------
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
                    certified: bool = False, reviewer_accuracy: float | None = None) -> dict:
    """The policy the Referral page exports (``uqviz.policy.policy_document``) with the class
    names and, for a user's model, its record (so that ``python -m uqviz triage`` and the Triage
    page can run it and refuse another model). ``certified``: at the guaranteed threshold, its
    expected share measured on the held-out part (the calibration part when none), as
    ``python -m uqviz referral --out`` writes it; else at the workbench's ``point`` (the cost
    mode's with ``reviewer_accuracy``, recorded).

    Raises:
        ValueError: a score a policy cannot carry (``uqviz.policy.check_exportable``).
    """
    from datetime import date

    from uqviz.policy import check_exportable, policy_document

    check_exportable(score)  # before the model record is read
    if certified:
        mode, point = "target", guarantee.heldout or guarantee.calibration
    return policy_document(dataset=key, method=method, score=score, mode=mode, point=point,
                           when=date.today().isoformat(),
                           stream=mix.to_dict(),
                           guarantee=guarantee.to_dict(), classes=study.rows.names,
                           model=_model_record(key, method),
                           reviewer_accuracy=reviewer_accuracy if mode == "cost" else None)


def export_policies(key: str, study: Study, *, method: str, score: str, mode: str,
                    point: OperatingPoint, guarantee: GuaranteedReferral, mix,
                    policy_key: str) -> None:
    """The two export buttons (the workbench's policy; the guaranteed one, which Triage runs),
    the first kept under ``policy_key`` for the report; a score a policy cannot carry gets one
    line saying which can, and no buttons."""
    try:
        docs = {certified: referral_policy(
            key, study, method=method, score=score, mode=mode, point=point, guarantee=guarantee,
            mix=mix, certified=certified,
            reviewer_accuracy=reviewer_accuracy() if mode == "cost" else None)
            for certified in (False, True)}
    except ValueError as err:
        st.session_state.pop(policy_key, None)
        st.info(f"No policy to export: {err}.")
        return
    st.session_state[policy_key] = json.dumps(docs[False])  # the report on Compare includes it
    e1, e2 = st.columns(2)
    e1.download_button("Export policy (JSON)", json.dumps(docs[False], indent=2),
                       file_name=f"referral-policy-{key}-{method}.json",
                       mime="application/json", key="ref_export")
    certified = bool(guarantee.certified.certified)
    e2.download_button(
        "Export the guaranteed policy (JSON)" if certified else
        "Export the policy at the certified threshold (JSON, target NOT certified)",
        json.dumps(docs[True], indent=2),
        file_name=f"{'certified' if certified else 'not-certified'}-policy-{method}.json",
        mime="application/json", key="ref_export_certified",
        help="At the threshold with a guarantee: what Triage runs on new images." if certified
        else guarantee_warning(docs[True].get("guarantee")))


def guarantee_settings() -> dict:
    """The guarantee's settings as the Referral page last set them (its defaults otherwise)."""
    return {k: st.session_state.get(k, v) for k, v in GUARANTEE_DEFAULTS.items()}


def chosen_class_targets(num_classes: int) -> tuple[tuple[ClassTarget, ...], bool]:
    """The per-class targets and the with-accuracy choice as the Referral page last set them
    (``class_targets_input``'s keys; none by default)."""
    targets = []
    for option in st.session_state.get("ref_class_targets") or ():
        k, metric = str(option).split(":")
        if int(k) < num_classes:
            level = st.session_state.get(f"ref_ct_{k}_{metric}", 90.0)
            targets.append(ClassTarget(int(k), metric, float(level) / 100))
    with_accuracy = bool(st.session_state.get("ref_guarantee_accuracy", True))
    return tuple(targets), with_accuracy or not targets


def certified_referral(study: Study, score: str) -> GuaranteedReferral:
    """``Study.guaranteed_referral`` with the Referral page's guarantee settings and per-class
    targets."""
    s = guarantee_settings()
    targets, with_accuracy = chosen_class_targets(len(study.stream.names))
    target = s["ref_guarantee_target"] / 100 if with_accuracy else None
    return study.guaranteed_referral(score, target_accuracy=target,
                                     confidence=s["ref_guarantee_confidence"] / 100,
                                     calibration_share=s["ref_guarantee_share"] / 100,
                                     seed=int(s["ref_guarantee_seed"]), class_targets=targets)


# -- the team: the model on automated cases, reviewers on referred ones ------------------------
def team_panel(column, study: Study, score: str, point: OperatingPoint, method: str) -> None:
    """A "reviewers' accuracy" slider and the team's accuracy against the share referred
    (``uqviz.metrics.selective.team_accuracy_curve``) beside the model's, in ``column``."""
    import numpy as np

    from uqviz.metrics.selective import team_accuracy_curve
    from uqviz.plots import referral_curve_figure

    q = column.slider("Reviewers' accuracy (%)", 50, 100, 100, key=REVIEWER_ACCURACY_KEY,
                      help="How often the people who review referred cases are right; the "
                           "cost mode counts it too.") / 100
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
                   "automates. The cost mode counts a referred case as the review plus "
                   f"(1 − {q:.0%}) × the cost of an error.")
