"""The Triage page's plumbing: the policy to run, a triage of uploaded or server images into a
per-session folder (``uqviz.triage``), its review queue, and the team's report from reviewed
labels (``uqviz.team``).

The policy is the Referral page's guaranteed one for the selected user's model
(``uqviz.ui.referral.referral_policy`` with ``certified=True``: the same function builds the
page's export), or an uploaded policy JSON. The model runs in worker processes (``Triage``);
nothing here imports torch. A zip is extracted with the upload defences
(``uqviz.data.zip_upload.extract_upload``), a folder must lie under ``UQVIZ_DATA_ROOTS``
(``uqviz.data.roots.resolve_data_path``). The outputs are written under this session's folder
(``uqviz.ui.models.session_folder``), one sub-folder per run; the extracted images are removed
once ``review.zip`` holds the referred ones.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from uqviz.policy import Policy, guaranteed_accuracy, policy_json
from uqviz.triage import TRIAGE_METHODS, Triage, config_values, write_outputs
from uqviz.ui.models import public_message as public_message  # the page's error lines
from uqviz.ui.models import session_folder

RESULT_KEY = "triage_result"
OUTPUTS = {"decisions.csv": "text/csv", "review_queue.csv": "text/csv",
           "review.zip": "application/zip"}
GALLERY_SIZE = 12


@dataclass(frozen=True)
class TriageResult:
    """One triage run of this session.

    Attributes:
        out: the folder holding decisions.csv, review_queue.csv, review.zip, summary.json.
        summary: ``write_outputs``'s summary.
        target: the accuracy on automated cases the policy's threshold guarantees
            (``uqviz.policy.guaranteed_accuracy``), or None.
        policy: the policy document that ran.
    """

    out: Path
    summary: dict
    target: float | None
    policy: dict

    @property
    def classes(self) -> list[str]:
        return list(self.summary["classes"])


def triage_methods(methods: list[str]) -> list[str]:
    """The chosen methods that triage can run (``uqviz.triage.TRIAGE_METHODS``)."""
    return [m for m in methods if m in TRIAGE_METHODS]


def current_policy(key: str, comp, method: str, score: str) -> dict:
    """The guaranteed policy the Referral page exports for ``method`` and ``score`` with its
    guarantee settings (``uqviz.ui.referral``)."""
    from uqviz.ui.referral import certified_referral, referral_policy

    study = comp.studies[method]
    guarantee = certified_referral(study, score)
    point = guarantee.heldout or guarantee.calibration
    return referral_policy(key, study, method=method, score=score, mode="target", point=point,
                           guarantee=guarantee, mix=comp.mix, certified=True)


def uploaded_policy(name: str, data: bytes) -> dict:
    """An uploaded policy JSON, checked (``Policy.from_document``).

    Raises:
        ValueError: too large, not JSON, not a policy (one line naming the file).
    """
    name = Path(name).name or "policy.json"
    doc = policy_json(data, name)
    Policy.from_document(doc, name)
    return doc


def _images_root(work: Path, images_zip: tuple[str, bytes] | None, folder: str | None) -> Path:
    from uqviz.data.roots import resolve_data_path
    from uqviz.data.zip_upload import extract_upload

    if images_zip is not None:
        name, data = images_zip
        return extract_upload(data, Path(name).name or "images.zip", work / "images")
    if folder:
        return resolve_data_path(folder)
    raise ValueError("give the images: a .zip of them or a folder on the server")


def run_triage(key: str, policy_doc: dict, *, images_zip: tuple[str, bytes] | None = None,
               folder: str | None = None) -> TriageResult:
    """Apply the policy with the selected user's model to the images (a zip (name, bytes) or a
    folder under ``UQVIZ_DATA_ROOTS``); keeps the result in session state and returns it.

    Raises:
        ValueError or OSError: another model or classes, no image readable, a zip refused, a
            folder outside the roots (one line: show it with ``public_message``).
    """
    from uqviz.ui.backend import source

    src = source(key)
    policy = Policy.from_document(policy_doc, "the policy")
    work = session_folder().new_folder("triage-")
    try:
        config = work / "model.json"  # the source's own config (the page's overrides too)
        config.write_text(json.dumps(config_values(src.config)), encoding="utf-8")
        triage = Triage.create(policy, src.models, config=config)
        root = _images_root(work, images_zip, folder)
        shown = images_zip[0] if images_zip is not None else Path(folder or "").name
        try:
            summary = write_outputs(work / "out", triage.batches(triage.scan(root)),
                                    triage.classes, policy, root, source=shown)
        finally:
            triage.close()
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    shutil.rmtree(work / "images", ignore_errors=True)
    guarantee = policy.guarantee or {}
    target = guaranteed_accuracy(guarantee)  # the target if certified, else what was certified
    result = TriageResult(work / "out", summary, target, policy_doc)
    previous = st.session_state.get(RESULT_KEY)
    if isinstance(previous, TriageResult) and previous.out.parent != work:
        shutil.rmtree(previous.out.parent, ignore_errors=True)
    st.session_state[RESULT_KEY] = result
    return result


def last_result() -> TriageResult | None:
    """This session's last triage, while its files exist."""
    result = st.session_state.get(RESULT_KEY)
    return result if isinstance(result, TriageResult) and result.out.is_dir() else None


def share_sentence(summary: dict) -> str:
    """The referred share with its 95% interval against the policy's expected share."""
    lo, hi = summary["referred_share_ci95"]
    text = (f"{summary['referred']:,} of {summary['decided']:,} images referred: "
            f"{100 * summary['referred_share']:.1f}% (95% interval {100 * lo:.1f}–{100 * hi:.1f}%)")
    expected = summary.get("expected_referred_share")
    if expected is not None:
        e_lo, e_hi = summary.get("expected_referred_share_ci95") or (expected, expected)
        text += (f"; the policy expected {100 * expected:.1f}% "
                 f"({100 * e_lo:.1f}–{100 * e_hi:.1f}%)")
    return text + "."


def queue_gallery(result: TriageResult, limit: int = GALLERY_SIZE) -> list[tuple[bytes, str]]:
    """The first ``limit`` images of the review queue (most uncertain first), each with a
    caption of its rank, id and top classes with their probabilities (from review.zip and
    review_queue.csv, which this session wrote)."""
    rows = list(csv.DictReader(io.StringIO(
        (result.out / "review_queue.csv").read_text(encoding="utf-8"))))[:limit]
    shown = []
    with zipfile.ZipFile(result.out / "review.zip") as archive:
        names = set(archive.namelist())
        for row in rows:
            if row["file"] not in names:
                continue
            top = ", ".join(f"{row[f'class_{j}']} {100 * float(row[f'probability_{j}']):.0f}%"
                            for j in (1, 2, 3) if row.get(f"class_{j}"))
            shown.append((archive.read(row["file"]), f"#{row['rank']} {row['id']}: {top}"))
    return shown


def output_bytes(result: TriageResult) -> dict[str, bytes]:
    """The three files to download, by name."""
    return {name: (result.out / name).read_bytes() for name in OUTPUTS}


def team_table(result: TriageResult, labels_name: str, labels: bytes, *,
               reviewer_accuracy: float = 1.0):
    """The team's report (``uqviz.team.team_report``) from uploaded labels ``id,label``, as a
    small table (who, accuracy, 95% interval, cases) and one sentence; ``reviewer_accuracy``
    stands in for people (the Referral page's setting).

    Raises:
        ValueError: labels with unknown ids or classes, not a CSV (one line naming the file by
            ``labels_name``, the name the user uploaded).
    """
    import pandas as pd

    from uqviz.team import read_decisions, read_labels, team_report

    path = result.out / (Path(labels_name).stem[:60] + ".labels.csv")
    path.write_bytes(labels)
    try:
        decisions = read_decisions(result.out / "decisions.csv")
        labelled = read_labels(path, decisions.ids, result.classes,
                               name=Path(labels_name).name)  # the upload's name, not the copy's
        report = team_report(decisions, labelled, target=result.target,
                             reviewer_accuracy=reviewer_accuracy)
    finally:
        path.unlink(missing_ok=True)
    people = "assumed" if report.reviewer_accuracy_assumed else "measured"
    a, g = report.audited, report.guarantee
    rows = [("Model, audited automated cases", a.accuracy, a.ci95, a.n),
            ("Model, referred cases (what people caught)", report.model_on_referred.accuracy,
             report.model_on_referred.ci95, report.model_on_referred.n),
            (f"Reviewers ({people})", report.reviewer_accuracy,
             report.reviewers.ci95 if report.reviewers else (float("nan"),) * 2,
             report.reviewers.n if report.reviewers else report.reviewed),
            ("Team (model automates, people review)", report.team_accuracy, report.team_ci95,
             report.n)]
    table = pd.DataFrame([{"who": w, "accuracy": _pct(x), "95% interval":
                           "–" if lo != lo else f"{_pct(lo)}–{_pct(hi)}", "cases": n}
                          for w, x, (lo, hi), n in rows])
    if not a.n:
        sentence = ("No automated case was labelled: label a random sample of them to check "
                    "the guarantee.")
    elif g.target is None:
        sentence = (f"The policy has no certified guarantee to check; the model was "
                    f"{_pct(a.accuracy)} accurate on the audited automated cases.")
    else:
        holds = {"violated": "is NOT holding", "confirmed": "is holding",
                 "consistent": "is consistent with the audit"}[g.verdict]
        sentence = (f"The guarantee (≥ {_pct(g.target)} on automated cases) {holds}: "
                    f"{a.correct} of {a.n} audited right, one-sided 95% lower bound "
                    f"{_pct(g.lower_bound)}.")
    return table, f"{sentence} Team accuracy {_pct(report.team_accuracy)}."


def _pct(x: float) -> str:
    return "–" if x != x else f"{100 * x:.1f}%"


UPLOADED_KEY = "triage_uploaded_policy"


def runs_on(key: str) -> bool:
    """Whether the sidebar's source is a user's model (what triage runs)."""
    from uqviz.sources import YOUR_MODEL
    from uqviz.ui.backend import source

    try:
        return source(key).kind == YOUR_MODEL
    except ValueError:
        return False


def keep_uploaded_policy(upload) -> None:
    """Check an uploaded policy (a Streamlit ``UploadedFile`` or None) and keep it in session
    state for the run; a bad one gets one ``st.error`` line and is not kept."""
    if upload is None:
        return
    try:
        st.session_state[UPLOADED_KEY] = uploaded_policy(upload.name, upload.getvalue())
    except ValueError as err:
        st.session_state.pop(UPLOADED_KEY, None)
        st.error(str(err))


def reviewer_accuracy() -> float:
    """The reviewers' accuracy (%) set on the Referral page (100 until it is)."""
    from uqviz.ui.referral import REVIEWER_ACCURACY_KEY

    return float(st.session_state.get(REVIEWER_ACCURACY_KEY, 100))


CURRENT, UPLOAD = "the Referral page's guaranteed policy", "a policy file (JSON)"


def policy_control(key: str, comp, methods: list[str]) -> dict | None:
    """The policy to run, as the page's controls choose it: the Referral page's guaranteed
    policy for a method and score (its choices by default), or an uploaded file; a caption
    says what it refers. None (after one ``st.error`` line) when there is none."""
    from uqviz.labels import method_label
    from uqviz.policy import EXPORTABLE_SCORES
    from uqviz.ui.ood import score_label

    how = st.radio("Policy", [CURRENT, UPLOAD], key="triage_policy_from", horizontal=True)
    doc = None
    if how == CURRENT:
        c1, c2 = st.columns(2)
        chosen = st.session_state.get("ref_method")
        method = c1.selectbox("Method", methods, key="triage_method", format_func=method_label,
                              index=methods.index(chosen) if chosen in methods else 0)
        # the scores a policy can carry (feature scores' fitted parts do not travel)
        scores = [k for k in comp.studies[method].referral_score_keys()
                  if k in EXPORTABLE_SCORES]
        last = st.session_state.get("ref_score")
        score = c2.selectbox("Uncertainty score", scores, key="triage_score",
                             index=scores.index(last) if last in scores else 0,
                             format_func=score_label)
        try:
            doc = current_policy(key, comp, method, score)
        except ValueError as err:
            st.error(f"Could not set the policy: {public_message(err)}")
    else:
        keep_uploaded_policy(st.file_uploader("Policy (JSON)", type=["json"],
                                              key="triage_policy_file"))
        doc = st.session_state.get(UPLOADED_KEY)
    if doc is not None:
        g = doc.get("guarantee") or {}
        try:
            named = score_label(doc["score"])
        except KeyError:
            named = doc["score"]
        st.caption(f"Refer when {named} of {method_label(doc['method'])} is above "
                   f"{doc['threshold']:.4g}" + (
                       f"; accuracy ≥ {100 * g['target_accuracy']:.3g}% on automated cases "
                       "guaranteed." if g.get("certified") else
                       ": no guarantee reached (set it on the Referral page)."))
    return doc
