"""Referral policies: the four ways to set an operating point, the exported policy (what to
refer and what to expect, with 95% intervals), and that policy loaded back to run.

The exported document (``policy_document``, format ``POLICY_FORMAT``) holds everything needed
to apply it again and to refuse applying it wrongly: the method and score, the threshold (refer
a case when its score is ``> threshold``), the class names, and for a user's model the model
files' SHA-256, their ``model.json`` and the method's settings (the fitted temperature, the
test-time augmentation samples and seed); the guarantee (target accuracy, confidence, how it
was certified, the calibration size); the referred share expected with its 95% Wilson
interval; the uqviz version and the date.

``load(path)`` reads it back as a ``Policy``; ``Policy.decide(probs, logits=...)`` turns a
source's probabilities (S, N, C) into ``Decisions`` with the one score function
(``uqviz.metrics.scores.uncertainty``, or for a logit score ``uqviz.metrics.ood_scores``'s
max-logit, energy or GEN on the source's logits, with the settings the document records);
``Policy.check_model`` refuses, in one line, model files or classes other than those the
policy was made for.

**Which scores a policy can carry** (``EXPORTABLE_SCORES``): the probability scores and the
logit scores that need no fitted part (max-logit, energy, GEN). The feature-space scores
(KNN, ViM, Mahalanobis, relative Mahalanobis) depend on a feature bank, class means or a
principal space fitted on the fit rows, which a policy does not carry: ``policy_document``
refuses them in one line (``check_exportable``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from uqviz.metrics.classification import wilson_ci
from uqviz.metrics.ood_scores import (
    DEFAULT_ENERGY_TEMPERATURE,
    DEFAULT_GEN_GAMMA,
    LOGIT_FEATURE_SCORES,
    energy_score,
    gen_score,
    max_logit_score,
)
from uqviz.metrics.scores import UNCERTAINTY_SCORES, mean_probabilities, uncertainty
from uqviz.metrics.selective import OperatingPoint, ReferralIndex

POLICY_FORMAT = 1
MAX_POLICY_BYTES = 1 << 20

REFERRAL_MODES = {
    "threshold": "a threshold",
    "budget": "a referral budget",
    "target": "a target accuracy",
    "cost": "costs",
}
# scores computed from logits alone, with no fitted part: a policy can carry them
LOGIT_POLICY_SCORES = tuple(k for k, info in LOGIT_FEATURE_SCORES.items()
                            if info.needs == "logits" and not info.fitted)
EXPORTABLE_SCORES = (*UNCERTAINTY_SCORES, *LOGIT_POLICY_SCORES)


def guaranteed_accuracy(guarantee: Mapping | None) -> float | None:
    """The accuracy on automated cases a policy's threshold guarantees: the target when it was
    certified; else the highest accuracy the procedure certified at that threshold
    (``accuracy_bound``, when above 0); None without a guarantee, or when nothing could be."""
    if not guarantee:
        return None
    if guarantee.get("certified"):
        return guarantee.get("target_accuracy")
    bound = guarantee.get("accuracy_bound")
    return float(bound) if bound else None


def guarantee_warning(guarantee: Mapping | None) -> str | None:
    """One sentence when a policy carries a guarantee that was not certified (its target could
    not be guaranteed on the calibration cases); None otherwise."""
    if not guarantee or guarantee.get("certified") or guarantee.get("target_accuracy") is None:
        return None
    target = 100 * float(guarantee["target_accuracy"])
    reached = guaranteed_accuracy(guarantee)
    return (f"the policy's target accuracy {target:.4g}% was NOT certified: "
            + (f"its threshold guarantees only {100 * reached:.4g}% on automated cases"
               if reached else "its threshold carries no guarantee"))


def rule_words(score: str, threshold: float | None) -> str:
    """The policy's rule in words: ``refer when <score's label> > <threshold>``; ``refer every
    case`` at −∞ and ``refer no case`` at +∞ (or the largest float, how JSON carries it)."""
    label = (UNCERTAINTY_SCORES[score].label if score in UNCERTAINTY_SCORES else
             LOGIT_FEATURE_SCORES[score].label if score in LOGIT_FEATURE_SCORES else score)
    if threshold is None or math.isnan(threshold):
        return f"refer when {label} > (no threshold)"
    if threshold >= 1.7976931348623157e308:
        return f"refer no case ({label} is never above +inf)"
    if threshold <= -1.7976931348623157e308:
        return "refer every case"
    return f"refer when {label} > {threshold:.6g}"


def check_exportable(score: str) -> None:
    """Refuse (one line) a score a policy cannot carry (module docstring).

    Raises:
        ValueError: ``score`` is a feature-space score (fitted parts) or unknown; the message
            lists the scores that can be exported.
    """
    if score in EXPORTABLE_SCORES:
        return
    if score in LOGIT_FEATURE_SCORES:
        raise ValueError(
            f"a policy on {LOGIT_FEATURE_SCORES[score].label} ({score}) cannot be exported: it "
            "needs parts fitted on the fit rows (a feature bank, class means or a principal "
            "space) that a policy does not carry; scores that can be exported: "
            f"{', '.join(EXPORTABLE_SCORES)}")
    raise ValueError(f"unknown score {score!r}; scores that can be exported: "
                     f"{', '.join(EXPORTABLE_SCORES)}")


def operating_point(index: ReferralIndex, mode: str, value, *,
                    reviewer_accuracy: float = 1.0) -> OperatingPoint:
    """The operating point set by one of REFERRAL_MODES: a threshold, a budget (fraction
    referred), a target accuracy (fraction), or costs ``(cost_error, cost_review)`` (with
    reviewers right with probability ``reviewer_accuracy``: ``ReferralIndex.for_costs``)."""
    if mode == "threshold":
        return index.at_threshold(float(value))
    if mode == "budget":
        return index.at_budget(float(value))
    if mode == "target":
        return index.for_target_accuracy(float(value))
    if mode == "cost":
        cost_error, cost_review = value
        return index.for_costs(float(cost_error), float(cost_review),
                               reviewer_accuracy=reviewer_accuracy)
    raise ValueError(f"unknown referral mode {mode!r}; valid: {', '.join(REFERRAL_MODES)}")


def _target_reached(point: OperatingPoint, mode: str, guarantee: Mapping | None) -> bool:
    """``target_reached``: with a guarantee's target (the certified export), whether the
    accuracy measured on automated cases at ``point`` is at least that target; otherwise the
    workbench's own flag (False when a target mode could not meet its target)."""
    target = (guarantee or {}).get("target_accuracy")
    if mode == "target" and target is not None:
        accuracy = point.automated_accuracy
        return bool(accuracy == accuracy and accuracy >= float(target))
    return bool(point.reached)


def _num(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def policy_document(*, dataset: str, method: str, score: str, mode: str,
                    point: OperatingPoint, when: str, stream: dict | None = None,
                    guarantee: dict | None = None, classes: Sequence[str] | None = None,
                    model: dict | None = None, score_settings: dict | None = None,
                    reviewer_accuracy: float | None = None) -> dict:
    """The exported referral policy: what to refer and what to expect, with 95% CIs; with
    ``guarantee`` (``GuaranteedReferral.to_dict()``), the threshold with a guarantee, whose own
    ``method`` names how it was certified (``ltt_fallback``, ``ltt_fixed_sequence`` or ``sgr``;
    the document's ``method`` is the model's) and, with per-class targets, each target's
    record (``class_targets``). ``classes`` names output i; ``model`` (``model_provenance``)
    identifies a user's model files so that ``Policy.check_model`` can refuse others;
    ``score_settings``: a logit score's settings (default: the guarantee's
    ``score_settings``), what ``Policy.decide`` computes it with; ``reviewer_accuracy``: the
    reviewers' accuracy the cost mode used. The expected referred share's interval is
    Wilson's (95%) over the ``point.n`` cases it was measured on.

    Raises:
        ValueError: a score a policy cannot carry (``check_exportable``).
    """
    from uqviz import __version__

    check_exportable(score)
    if score_settings is None and guarantee is not None:
        score_settings = guarantee.get("score_settings")

    referred_ci = (wilson_ci(point.n_referred, point.n) if point.n
                   else (float("nan"), float("nan")))
    doc = {
        "format_version": POLICY_FORMAT,
        "uqviz_version": __version__,
        "dataset": dataset,
        "method": method,
        "score": score,
        "set_by": mode,
        "rule": f"refer a case to a human when its {score} uncertainty is > threshold",
        "threshold": _num(point.threshold),
        "expected_referral_rate": _num(point.referred_fraction),
        "expected_referral_rate_ci95": [_num(v) for v in referred_ci],
        "expected_automated_accuracy": _num(point.automated_accuracy),
        "expected_automated_accuracy_ci95": [_num(v) for v in point.automated_accuracy_ci],
        "expected_automated_error_rate": _num(point.automated_error_rate),
        "model_accuracy_on_referred": _num(point.referred_accuracy),
        "model_accuracy_on_referred_ci95": [_num(v) for v in point.referred_accuracy_ci],
        "expected_cost_per_case": _num(point.expected_cost),
        "target_reached": _target_reached(point, mode, guarantee),
        "n_test_cases": int(point.n),
        "date": when,
    }
    if score_settings is not None:
        doc["score_settings"] = _json_ready(dict(score_settings))
    if reviewer_accuracy is not None:  # the cost mode's reviewers
        doc["reviewer_accuracy"] = float(reviewer_accuracy)
    if stream is not None:  # the incoming stream the figures were measured on
        doc["stream"] = dict(stream, ood_rows="an automated out-of-distribution case counts as "
                                              "an error")
    if guarantee is not None:  # uqviz.study.GuaranteedReferral.to_dict()
        doc["guarantee"] = guarantee
        doc["calibration_size"] = guarantee.get("n_calibration")
    if classes is not None:
        doc["classes"] = [str(c) for c in classes]
    if model is not None:
        doc["model"] = model
    return doc


# -- the policy that runs ----------------------------------------------------------------------
def model_provenance(files: Sequence[tuple[str, str]], config: Mapping[str, Any] | None, *,
                     settings: Mapping[str, Any] | None = None) -> dict:
    """What identifies a user's model in a policy: its files (name and SHA-256 of the bytes, in
    the order given: the first makes every method's outputs but the ensemble's), their
    ``model.json`` values (``ModelConfig`` without ``source``) and the method's settings (the
    fitted ``temperature``, ``tta_samples``, ``seed``)."""
    return {
        "files": [{"name": Path(str(name)).name, "sha256": str(digest)} for name, digest in files],
        "config": None if config is None else _json_ready(dict(config)),
        "settings": _json_ready(dict(settings or {})),
    }


def _json_ready(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass(frozen=True, eq=False)
class Decisions:
    """What a policy decided for N cases.

    Attributes:
        predicted: int64 (N,) the predicted class, ``argmax_c p̄_c`` of the mean probabilities.
        probability: float64 (N,) ``p̄`` of the predicted class.
        score: float64 (N,) the policy's score (higher: more uncertain).
        refer: bool (N,) ``score > threshold``: the case goes to a person.
        top_classes: int64 (N, k) the k most probable classes, most probable first.
        top_probabilities: float64 (N, k) their mean probabilities.
    """

    predicted: np.ndarray
    probability: np.ndarray
    score: np.ndarray
    refer: np.ndarray
    top_classes: np.ndarray
    top_probabilities: np.ndarray

    @property
    def n(self) -> int:
        return int(self.refer.size)

    @property
    def n_referred(self) -> int:
        return int(self.refer.sum())


@dataclass(frozen=True, eq=False)
class Policy:
    """A referral policy loaded to run (``load``; the document is ``policy_document``'s).

    Attributes:
        method: the uncertainty method whose probabilities are scored (``softmax`` …).
        score: a key of ``EXPORTABLE_SCORES``: a probability score, or a logit score
            (``LOGIT_POLICY_SCORES``) computed from the method's logits.
        threshold: refer a case when its score is ``> threshold`` (``inf``: refer none).
        classes: the class names (output i is ``classes[i]``), or None when not recorded.
        model: ``model_provenance`` of a user's model, or None (a built-in or a file's).
        expected_referral_rate: the referred share measured when the policy was set, or None.
        expected_referral_rate_ci95: its 95% interval, or None.
        n_measured: the cases that share was measured on.
        guarantee: the guarantee's record (``GuaranteedReferral.to_dict()``), or None.
        score_settings: a logit score's settings (energy's ``temperature``, GEN's ``gamma``
            and ``top_m``); empty: the defaults of ``uqviz.metrics.ood_scores``.
        document: the whole document as read.
    """

    method: str
    score: str
    threshold: float
    classes: tuple[str, ...] | None = None
    model: dict | None = None
    expected_referral_rate: float | None = None
    expected_referral_rate_ci95: tuple[float, float] | None = None
    n_measured: int | None = None
    guarantee: dict | None = None
    score_settings: dict = field(default_factory=dict)
    document: dict = field(default_factory=dict)

    @classmethod
    def from_document(cls, doc: Mapping[str, Any], name: str = "policy") -> Policy:
        """The policy of a ``policy_document`` (or of ``referral --out``'s file).

        Raises:
            ValueError: one line naming ``name`` and the field that is missing or wrong.
        """
        if not isinstance(doc, Mapping):
            raise ValueError(f"{name}: must hold one JSON object (a uqviz policy), got "
                             f"{type(doc).__name__}")
        version = doc.get("format_version", POLICY_FORMAT)
        if not isinstance(version, int) or version > POLICY_FORMAT:
            raise ValueError(f"{name}: format_version {version!r} is newer than this uqviz reads "
                             f"({POLICY_FORMAT}); update uqviz")
        for key in ("method", "score", "threshold"):
            if doc.get(key) is None:
                raise ValueError(f"{name}: no \"{key}\"; is it a policy exported by uqviz?")
        score = doc["score"]
        try:
            check_exportable(score)
        except ValueError as err:
            raise ValueError(f"{name}: {err}") from None
        settings = doc.get("score_settings") or {}
        if not isinstance(settings, Mapping) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool)
                for k, v in settings.items() if k in _LOGIT_SETTINGS):
            raise ValueError(f"{name}: score_settings must map {', '.join(_LOGIT_SETTINGS)} to "
                             f"numbers, got {settings!r}")
        threshold = doc["threshold"]
        if (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                or math.isnan(threshold)):
            raise ValueError(f"{name}: threshold must be a number, got {threshold!r}")
        classes = doc.get("classes")
        if classes is not None and (not isinstance(classes, list) or not classes
                                    or not all(isinstance(c, str) for c in classes)):
            raise ValueError(f"{name}: classes must be a list of names, got {classes!r}")
        model = doc.get("model")
        if model is not None and not _valid_model(model):
            raise ValueError(f"{name}: model must hold files [{{name, sha256}}], config and "
                             "settings")
        rate, ci = doc.get("expected_referral_rate"), doc.get("expected_referral_rate_ci95")
        return cls(
            method=str(doc["method"]), score=score, threshold=_finite_or_inf(float(threshold)),
            classes=None if classes is None else tuple(classes), model=model,
            expected_referral_rate=None if rate is None else float(rate),
            expected_referral_rate_ci95=(tuple(float(v) for v in ci)
                                         if ci and None not in ci else None),
            n_measured=doc.get("n_test_cases", doc.get("n_calibration")),
            guarantee=doc.get("guarantee"),
            score_settings={k: settings[k] for k in _LOGIT_SETTINGS if k in settings},
            document=dict(doc))

    @property
    def needs_logits(self) -> bool:
        """The score is computed from logits (``LOGIT_POLICY_SCORES``): ``decide`` needs them."""
        return self.score in LOGIT_POLICY_SCORES

    @property
    def settings(self) -> dict:
        """The method's recorded settings (``temperature``, ``tta_samples``, ``seed``)."""
        return dict((self.model or {}).get("settings") or {})

    def check_model(self, files: Sequence[tuple[str, str]], classes: Sequence[str],
                    config: Mapping[str, Any] | None = None) -> None:
        """Refuse (one line) model files, classes or ``model.json`` values other than those
        the policy was made for.

        Args:
            files: (file name, SHA-256) of each model file, in the order given.
            classes: the model's class names.
            config: its ``model.json`` values (``model_provenance``'s ``config``), or None.

        Raises:
            ValueError: naming what differs.
        """
        classes = tuple(str(c) for c in classes)
        if self.classes is not None and classes != self.classes:
            raise ValueError(f"the policy is for the classes ({', '.join(self.classes)}) but the "
                             f"model has ({', '.join(classes)}): refused")
        if self.model is None:
            return
        want = [(f["name"], f["sha256"]) for f in self.model["files"]]
        got = [(Path(str(n)).name, str(d)) for n, d in files]
        if [d for _, d in want] != [d for _, d in got]:
            raise ValueError(f"the policy is for {_described(want)} but the model given is "
                             f"{_described(got)}: another model, refused")
        recorded = self.model.get("config")
        if recorded is not None and config is not None:
            given = _json_ready(dict(config))
            for key in sorted(set(recorded) | set(given)):
                if recorded.get(key) != given.get(key):
                    raise ValueError(f"the policy's model.json has {key} {recorded.get(key)!r} "
                                     f"but the one given has {given.get(key)!r}: refused")

    def decide(self, probs: np.ndarray, *, logits: np.ndarray | None = None,
               top: int = 3) -> Decisions:
        """Apply the policy to a source's probabilities (and logits, for a logit score).

        ``p̄ = mean_s p_s``; predicted ``argmax_c p̄_c``; score ``uncertainty(probs, score)``
        (``uqviz.metrics.scores``) or, for a logit score, ``max_logit_score``,
        ``energy_score`` or ``gen_score`` of ``logits`` with the recorded settings
        (``uqviz.metrics.ood_scores``), higher = more uncertain; refer when
        ``score > threshold``.

        Args:
            probs: (S, N, C) or (N, C) class probabilities of the policy's method.
            logits: (S, N, C) or (N, C) the same method's logits (needed when
                ``needs_logits``; ignored otherwise).
            top: how many most probable classes to keep per case.

        Raises:
            ValueError: C differs from the policy's number of classes; a logit score without
                logits, or logits of another shape than the probabilities.
        """
        mean = mean_probabilities(probs)
        if self.classes is not None and mean.shape[1] != len(self.classes):
            raise ValueError(f"the policy is for {len(self.classes)} classes, the probabilities "
                             f"have {mean.shape[1]}")
        if self.needs_logits:
            score = self._logit_score(logits, mean.shape)
        else:
            score = uncertainty(probs, self.score).astype(np.float64, copy=False)
        k = min(top, mean.shape[1])
        top_classes = np.argsort(-mean, axis=1, kind="stable")[:, :k]
        predicted = top_classes[:, 0] if k else np.zeros(len(mean), np.int64)
        return Decisions(
            predicted=predicted.astype(np.int64),
            probability=mean[np.arange(len(mean)), predicted],
            score=score, refer=score > self.threshold,
            top_classes=top_classes.astype(np.int64),
            top_probabilities=np.take_along_axis(mean, top_classes, axis=1))


    def _logit_score(self, logits: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
        """(N,) the policy's logit score of ``logits`` (N, C) or (S, N, C)."""
        if logits is None:
            raise ValueError(f"the policy's score {self.score!r} is computed from logits: give "
                             "the model's logits (a model that outputs logits, not "
                             "probabilities)")
        logits = np.asarray(logits)
        if logits.ndim not in (2, 3) or logits.shape[-2:] != tuple(shape):
            raise ValueError(f"logits must be (N, C) or (S, N, C) with (N, C) = {tuple(shape)} "
                             f"as the probabilities, got {logits.shape}")
        s = self.score_settings
        if self.score == "energy":
            return energy_score(logits, temperature=float(
                s.get("temperature", DEFAULT_ENERGY_TEMPERATURE)))
        if self.score == "gen":
            top_m = s.get("top_m")
            return gen_score(logits, gamma=float(s.get("gamma", DEFAULT_GEN_GAMMA)),
                             top_m=None if top_m is None else int(top_m))
        return max_logit_score(logits)


_LOGIT_SETTINGS = ("temperature", "gamma", "top_m")


def _valid_model(model: Any) -> bool:
    files = model.get("files") if isinstance(model, Mapping) else None
    return (isinstance(files, list) and bool(files)
            and all(isinstance(f, Mapping) and isinstance(f.get("name"), str)
                    and isinstance(f.get("sha256"), str) for f in files)
            and isinstance(model.get("config"), (Mapping, type(None)))
            and isinstance(model.get("settings", {}), Mapping))


def _described(files: list[tuple[str, str]]) -> str:
    return " + ".join(f"{name} (sha256 {digest[:12]}…)" for name, digest in files)


def _finite_or_inf(x: float) -> float:
    """The largest float of a sign back to infinity (``GuaranteedReferral.to_dict`` writes
    ±inf so, JSON having none)."""
    big = float(np.finfo(np.float64).max)
    return math.copysign(math.inf, x) if abs(x) >= big else x


def load(path: str | Path) -> Policy:
    """A policy file (``policy_document`` as JSON, at most 1 MiB) loaded to run.

    Raises:
        ValueError: one line naming the file (by its name): unreadable, not JSON, not a policy.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_POLICY_BYTES + 1)
    except OSError as err:
        raise ValueError(f"{path.name}: cannot be read ({(err.strerror or 'error').lower()})") \
            from None
    return Policy.from_document(policy_json(data, path.name), path.name)


def policy_json(data: bytes, name: str) -> dict:
    """The JSON document of a policy file's bytes (at most ``MAX_POLICY_BYTES``), not yet
    checked as a policy (``Policy.from_document`` does that).

    Raises:
        ValueError: one line naming the file: too large, or not JSON.
    """
    if len(data) > MAX_POLICY_BYTES:
        raise ValueError(f"{name}: more than the 1 MiB a policy file may have")
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ValueError(f"{name}: not a JSON policy file") from None
