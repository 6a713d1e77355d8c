"""Referral policies: the four ways to set an operating point, and the exported policy (what
to refer and what to expect, with 95% intervals)."""

from __future__ import annotations

import math

from uqviz.metrics.selective import OperatingPoint, ReferralIndex

REFERRAL_MODES = {
    "threshold": "a threshold",
    "budget": "a referral budget",
    "target": "a target accuracy",
    "cost": "costs",
}


def operating_point(index: ReferralIndex, mode: str, value) -> OperatingPoint:
    """The operating point set by one of REFERRAL_MODES: a threshold, a budget (fraction
    referred), a target accuracy (fraction), or costs ``(cost_error, cost_review)``."""
    if mode == "threshold":
        return index.at_threshold(float(value))
    if mode == "budget":
        return index.at_budget(float(value))
    if mode == "target":
        return index.for_target_accuracy(float(value))
    if mode == "cost":
        cost_error, cost_review = value
        return index.for_costs(float(cost_error), float(cost_review))
    raise ValueError(f"unknown referral mode {mode!r}; valid: {', '.join(REFERRAL_MODES)}")


def _num(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def policy_document(*, dataset: str, method: str, score: str, mode: str,
                    point: OperatingPoint, when: str, stream: dict | None = None,
                    guarantee: dict | None = None) -> dict:
    """The exported referral policy: what to refer and what to expect, with 95% CIs; with
    ``guarantee`` (``GuaranteedReferral.to_dict()``), the threshold with a guarantee, whose own
    ``method`` names how it was certified (``ltt_fallback``, ``ltt_fixed_sequence`` or ``sgr``;
    the document's ``method`` is the model's)."""
    doc = {
        "dataset": dataset,
        "method": method,
        "score": score,
        "set_by": mode,
        "rule": f"refer a case to a human when its {score} uncertainty is > threshold",
        "threshold": _num(point.threshold),
        "expected_referral_rate": _num(point.referred_fraction),
        "expected_automated_accuracy": _num(point.automated_accuracy),
        "expected_automated_accuracy_ci95": [_num(v) for v in point.automated_accuracy_ci],
        "expected_automated_error_rate": _num(point.automated_error_rate),
        "model_accuracy_on_referred": _num(point.referred_accuracy),
        "model_accuracy_on_referred_ci95": [_num(v) for v in point.referred_accuracy_ci],
        "expected_cost_per_case": _num(point.expected_cost),
        "target_reached": bool(point.reached),
        "n_test_cases": int(point.n),
        "date": when,
    }
    if stream is not None:  # the incoming stream the figures were measured on
        doc["stream"] = dict(stream, ood_rows="an automated out-of-distribution case counts as "
                                              "an error")
    if guarantee is not None:  # uqviz.study.GuaranteedReferral.to_dict()
        doc["guarantee"] = guarantee
    return doc
