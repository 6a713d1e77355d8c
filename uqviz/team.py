"""The team's accuracy: the model on the cases it automated, people on the cases it referred.

After a triage (``uqviz.triage``), reviewers label the referred images, and optionally an
*audit sample* of the automated ones, in a CSV ``id,label`` (class names). From those labels:

* **The model on the automated cases** (audited ones): ``k`` right of ``m`` audited,
  accuracy ``k/m`` with its 95% Wilson interval. Against the policy's guarantee (accuracy
  ≥ A on automated cases): the exact one-sided binomial test of ``H0: accuracy ≥ A`` after
  ``e = m − k`` errors, ``p = P(Binomial(m, 1 − A) ≥ e)``; ``violated`` when ``p ≤ 0.05``,
  ``consistent`` otherwise; and the one-sided 95% Clopper–Pearson lower bound on the accuracy
  (``uqviz.metrics.guarantee.binomial_upper_bound`` on the error rate), which ``confirms`` the
  guarantee on its own when it reaches A. The audit sample must be drawn at random among the
  automated cases for this to mean anything.
* **The reviewers**, where a second opinion exists: a second labels file (``id,label``) of an
  independent review of some of the same images, taken as the reference; the reviewers'
  accuracy is the share of the first labels that agree with it (Wilson interval). Without one,
  an assumed accuracy (default 1: people are right) stands in, and is said to be assumed.
* **The team**: a stratified estimate over the decided cases, with weights ``w_a = n_a/n``
  (automated) and ``w_r = n_r/n`` (referred): ``acc = w_a·acc_model + w_r·acc_people``, and a
  95% interval ``acc ± z·sqrt(var)`` with the Agresti–Coull adjustment in each stratum
  measured, ``var = Σ_h w_h² p̃_h(1 − p̃_h)/ñ_h``, ``ñ_h = m_h + z²``, ``p̃_h = (k_h + z²/2)/ñ_h``
  (an assumed accuracy adds no variance). Without the adjustment an audit with no error
  (``p_h = 1``) would give an interval of zero width however few cases were audited.
* **None of the model's classes**: a reviewer labels a case that belongs to none of the
  classes (an unfamiliar input) with one of ``NONE_OF_THE_CLASSES`` (``none``, ``other``,
  ``-``; case ignored) when no class has that name; the model's answer on it counts as wrong,
  as the referral curve counts an automated out-of-distribution case.

Everything here is pure (numpy, scipy, the standard library): no torch.

References: Wilson, JASA 22 (1927); Clopper & Pearson, Biometrika 26 (1934); Cochran, Sampling
Techniques, 3rd ed., Wiley (1977), ch. 5 (stratified estimates); Agresti & Coull, The American
Statistician 52 (1998) (adding z²/2 successes and failures).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.stats import binom

from uqviz.metrics.classification import normal_quantile, wilson_ci
from uqviz.metrics.guarantee import binomial_upper_bound
from uqviz.metrics.selective import team_accuracy_curve

AUDIT_LEVEL = 0.05
MAX_CSV_BYTES = 256 << 20


@dataclass(frozen=True)
class DecisionTable:
    """``decisions.csv`` read back: ids, predicted class names and decisions, in file order."""

    ids: tuple[str, ...]
    predicted: tuple[str, ...]
    referred: np.ndarray


@dataclass(frozen=True)
class Accuracy:
    """``correct`` of ``n`` with the 95% Wilson interval (NaN when n = 0)."""

    correct: int
    n: int
    accuracy: float
    ci95: tuple[float, float]

    @classmethod
    def of(cls, correct: int, n: int) -> Accuracy:
        lo, hi = wilson_ci(correct, n) if n else (math.nan, math.nan)
        return cls(int(correct), int(n), correct / n if n else math.nan, (lo, hi))


@dataclass(frozen=True)
class GuaranteeAudit:
    """The audited automated cases against the guarantee ``accuracy ≥ target``.

    Attributes:
        target: A, or None when the policy has no guarantee.
        p_value: ``P(Binomial(m, 1 − A) ≥ errors)`` (one-sided exact test of accuracy ≥ A).
        lower_bound: one-sided 95% Clopper–Pearson lower bound on the accuracy.
        verdict: ``no audit``, ``no guarantee``, ``violated`` (p ≤ 0.05), ``confirmed``
            (lower bound ≥ A) or ``consistent``.
    """

    target: float | None
    p_value: float
    lower_bound: float
    verdict: str


@dataclass(frozen=True)
class TeamReport:
    """The model, the reviewers and the team (module docstring).

    Attributes:
        n: cases decided; n_automated, n_referred their split.
        audited: the model on the automated cases labelled.
        guarantee: that against the policy's guarantee.
        model_on_referred: the model on the referred cases labelled (what people saved).
        reviewed: referred cases with a label.
        reviewers: the reviewers against the second opinion, or None.
        reviewer_accuracy: the accuracy used for people (measured or assumed).
        reviewer_accuracy_assumed: whether it was assumed.
        team_accuracy: the stratified estimate.
        team_ci95: its 95% interval.
    """

    n: int
    n_automated: int
    n_referred: int
    audited: Accuracy
    guarantee: GuaranteeAudit
    model_on_referred: Accuracy
    reviewed: int
    reviewers: Accuracy | None
    reviewer_accuracy: float
    reviewer_accuracy_assumed: bool
    team_accuracy: float
    team_ci95: tuple[float, float]

    def to_dict(self) -> dict:
        return asdict(self)


def audit_guarantee(correct: int, n: int, target: float | None,
                    level: float = AUDIT_LEVEL) -> GuaranteeAudit:
    """The audit of a guarantee ``accuracy ≥ target`` from ``correct`` of ``n`` automated cases
    labelled at random (module docstring). By hand: 90 right of 100 against A = 0.95: errors 10,
    ``P(Binomial(100, 0.05) ≥ 10) = 0.0282 ≤ 0.05``: violated."""
    if n == 0:
        return GuaranteeAudit(target, math.nan, math.nan, "no audit")
    errors = n - correct
    lower = 1.0 - binomial_upper_bound(errors, n, level)
    if target is None:
        return GuaranteeAudit(None, math.nan, lower, "no guarantee")
    p = float(binom.sf(errors - 1, n, 1.0 - target)) if errors else 1.0
    verdict = "violated" if p <= level else "confirmed" if lower >= target else "consistent"
    return GuaranteeAudit(float(target), p, lower, verdict)


def team_accuracy(n_automated: int, n_referred: int, model: Accuracy, people: float,
                  people_measured: Accuracy | None) -> tuple[float, tuple[float, float]]:
    """Stratified accuracy of the team and its normal-approximation 95% interval (module
    docstring); NaN when the automated stratum is not audited (and has cases)."""
    n = n_automated + n_referred
    if n == 0:
        return math.nan, (math.nan, math.nan)
    w_a, w_r = n_automated / n, n_referred / n
    if n_automated and not model.n:
        return math.nan, (math.nan, math.nan)
    p_a = model.accuracy if n_automated else 0.0
    estimate = float(team_accuracy_curve(np.array([w_r]), np.array([p_a]), people)[0])
    z = normal_quantile(0.95)
    var = w_a ** 2 * adjusted_variance(model.correct, model.n, z) if n_automated else 0.0
    if people_measured is not None and people_measured.n and n_referred:
        var += w_r ** 2 * adjusted_variance(people_measured.correct, people_measured.n, z)
    half = z * math.sqrt(var)
    return estimate, (max(0.0, estimate - half), min(1.0, estimate + half))


def adjusted_variance(correct: int, n: int, z: float) -> float:
    """The Agresti–Coull variance of a share ``correct/n``: ``p̃(1 − p̃)/ñ`` with
    ``ñ = n + z²`` and ``p̃ = (correct + z²/2)/ñ`` (never 0, unlike ``p(1 − p)/n`` at p = 0 or
    1). By hand, 15 of 15 at z = 1.96: ñ = 18.84, p̃ = 0.898, variance 0.00486."""
    n_tilde = n + z * z
    p_tilde = (correct + z * z / 2) / n_tilde
    return p_tilde * (1 - p_tilde) / n_tilde


def team_report(decisions: DecisionTable, labels: Mapping[str, str], *,
                target: float | None = None, second_opinion: Mapping[str, str] | None = None,
                reviewer_accuracy: float = 1.0) -> TeamReport:
    """The team's report from the decisions and the reviewed labels (id -> class name).

    Args:
        decisions: ``decisions.csv`` read back (``read_decisions``).
        labels: the reviewers' labels: referred cases, and an audit sample of automated ones.
        target: the guarantee's accuracy A, or None.
        second_opinion: an independent second review (id -> class name), or None.
        reviewer_accuracy: the people's accuracy assumed without a second opinion.
    """
    if not 0 <= reviewer_accuracy <= 1:
        raise ValueError(f"reviewer accuracy must be in [0, 1], got {reviewer_accuracy}")
    predicted = dict(zip(decisions.ids, decisions.predicted, strict=True))
    referred = dict(zip(decisions.ids, decisions.referred.tolist(), strict=True))
    auto_right = auto_n = ref_right = ref_n = 0
    for image_id, label in labels.items():
        right = predicted[image_id] == label
        if referred[image_id]:
            ref_n, ref_right = ref_n + 1, ref_right + right
        else:
            auto_n, auto_right = auto_n + 1, auto_right + right
    audited = Accuracy.of(auto_right, auto_n)
    reviewers = None
    if second_opinion:
        both = [i for i in second_opinion if i in labels]
        reviewers = Accuracy.of(sum(labels[i] == second_opinion[i] for i in both), len(both))
    measured = reviewers is not None and reviewers.n > 0
    people = reviewers.accuracy if measured else reviewer_accuracy
    n_referred = int(decisions.referred.sum())
    n_automated = len(decisions.ids) - n_referred
    team, ci = team_accuracy(n_automated, n_referred, audited, people,
                             reviewers if measured else None)
    return TeamReport(len(decisions.ids), n_automated, n_referred, audited,
                      audit_guarantee(auto_right, auto_n, target),
                      Accuracy.of(ref_right, ref_n), ref_n, reviewers, people, not measured,
                      team, ci)


# -- reading the files -------------------------------------------------------------------------
def _rows(path: Path, required: Sequence[str], name: str | None = None
          ) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a UTF-8 CSV of at most ``MAX_CSV_BYTES`` (ValueError, one line naming
    the file ``name``, by default its file name)."""
    name = name or path.name
    try:
        size = path.stat().st_size
        if size > MAX_CSV_BYTES:
            raise ValueError(f"{name}: {size:,} bytes is more than the "
                             f"{MAX_CSV_BYTES:,} a CSV may have here")
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except UnicodeDecodeError:
        raise ValueError(f"{name}: not a UTF-8 text file") from None
    except csv.Error as err:
        raise ValueError(f"{name}: not a CSV file ({err})") from None
    except OSError as err:
        raise ValueError(f"{name}: cannot be read "
                         f"({(err.strerror or 'error').lower()})") from None
    if not rows:
        raise ValueError(f"{name}: empty; expected the columns {', '.join(required)}")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in required if c not in header]
    if missing:
        raise ValueError(f"{name}: no column \"{missing[0]}\"; expected "
                         f"{', '.join(required)}, got {', '.join(header) or 'none'}")
    return header, rows[1:]


def read_decisions(path: str | Path) -> DecisionTable:
    """``decisions.csv`` as ``uqviz.triage`` writes it.

    Raises:
        ValueError: unreadable, missing columns, a repeated id, a decision that is neither
            ``automate`` nor ``refer`` (one line with the line number).
    """
    path = Path(path)
    header, rows = _rows(path, ("id", "predicted", "decision"))
    col = {name: header.index(name) for name in ("id", "predicted", "decision")}
    ids, predicted, referred, seen = [], [], [], set()
    for line, row in enumerate(rows, start=2):
        if not row:
            continue
        if len(row) < len(header):
            raise ValueError(f"{path.name}: line {line} has {len(row)} cells, the header "
                             f"{len(header)}")
        image_id, decision = row[col["id"]], row[col["decision"]]
        if image_id in seen:
            raise ValueError(f"{path.name}: id {image_id!r} appears twice (line {line})")
        if decision not in ("automate", "refer"):
            raise ValueError(f"{path.name}: line {line}: decision must be automate or refer, "
                             f"got {decision!r}")
        seen.add(image_id)
        ids.append(image_id)
        predicted.append(row[col["predicted"]])
        referred.append(decision == "refer")
    if not ids:
        raise ValueError(f"{path.name}: no decisions")
    return DecisionTable(tuple(ids), tuple(predicted), np.asarray(referred, dtype=bool))


NONE_OF_THE_CLASSES = ("none", "other", "-")  # a reviewer's "none of the model's classes"
NONE_LABEL = "none of the classes"  # how read_labels returns it (never a class name's match)


def read_labels(path: str | Path, ids: Sequence[str], classes: Sequence[str], *,
                name: str | None = None) -> dict[str, str]:
    """Reviewed labels ``id,label`` (class names; other columns ignored; an empty label is a
    case not reviewed yet, skipped; ``none``, ``other`` or ``-`` for a case that is none of the
    classes, returned as ``NONE_LABEL``, when no class has that name).

    Args:
        name: the file's name in messages (an upload's own name, not the copy read); by
            default ``path``'s file name.

    Raises:
        ValueError: an id not among ``ids``, a label not among ``classes``, an id labelled
            twice (one line naming the file and the line), or no label at all.
    """
    path = Path(path)
    name = name or path.name
    header, rows = _rows(path, ("id", "label"), name)
    i_id, i_label = header.index("id"), header.index("label")
    known, names = set(ids), set(classes)
    none_of_them = {w for w in NONE_OF_THE_CLASSES if w not in {c.lower() for c in classes}}
    labels: dict[str, str] = {}
    for line, row in enumerate(rows, start=2):
        if not row or len(row) <= max(i_id, i_label):
            continue
        image_id, label = row[i_id].strip(), row[i_label].strip()
        if not label:
            continue
        if image_id not in known:
            raise ValueError(f"{name}: line {line}: id {image_id!r} is not in the "
                             "decisions")
        if label.lower() in none_of_them and label not in names:
            label = NONE_LABEL  # none of the model's classes: the model is wrong on it
        elif label not in names:
            raise ValueError(f"{name}: line {line}: label {label!r} is not one of the "
                             f"classes ({', '.join(classes)}); write 'none' for a case that "
                             "is none of them")
        if image_id in labels:
            raise ValueError(f"{name}: line {line}: id {image_id!r} is labelled twice")
        labels[image_id] = label
    if not labels:
        raise ValueError(f"{name}: no labels (the label column is empty)")
    return labels
