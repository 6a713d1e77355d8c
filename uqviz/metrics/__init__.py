"""Metrics: every definition in one place. numpy/scipy only (no torch, streamlit or plotly).

Shapes: ``probs`` (S, N, C) or (N, C); metrics of a predictive distribution take (N, C) with the
S samples averaged, ``p̄ = mean_s p_s``; ``labels`` (N,) ints in 0..C-1 (select labelled rows
first); ``uncertainty`` (N,) with HIGHER = MORE UNCERTAIN; ``correct`` (N,) bool. Logs are
natural (nats). Empty inputs and mismatched shapes raise ``ValueError``.

Uncertainty scores (``scores``), (S, N, C) -> (N,)
    max_prob              max_c p̄_c                           (uncertainty: 1 - it)
    margin                p̄_(1) - p̄_(2)                      (uncertainty: 1 - it)
    entropy               H[p̄] = -sum_c p̄_c log p̄_c           total
    expected_entropy      mean_s H[p_s]                        aleatoric
    mutual_information    max(H[p̄] - mean_s H[p_s], 0)         epistemic (BALD)
    variance              Var_s p_s,ŷ, ŷ = argmax p̄ (divide by S)
    ``uncertainty(probs, key)`` gives any of them oriented; ``UNCERTAINTY_SCORES`` labels them.

Classification (``classification``), probs (N, C)
    accuracy              mean 1[argmax p_i = y_i]
    intervals             ``wilson_ci`` (Wilson 1927, for any proportion k/n: accuracy,
                          coverage, sensitivity), ``normal_ci`` (Wald p̂ ± z·sqrt(p̂(1-p̂)/n));
                          ``accuracy_intervals`` Wald, Wilson, bootstrap on nested subsamples
    nll                   mean -log max(p_i,y_i, 1e-12)
    brier                 mean_i sum_c (p_ic - 1[y_i = c])², range 0–2
    confusion_matrix      M[true, predicted] counts

Calibration (``calibration``), top label: conf = max_c p_c, correct = 1[argmax = y]
    bins                  equal-width: b/M <= conf < (b+1)/M, conf = 1 in the last bin
    ECE                   sum_b |B_b|/N |acc(B_b) - conf(B_b)|, M = 15 (torchmetrics "l1")
    MCE                   max over non-empty bins of |acc - conf| (torchmetrics "max")
    adaptive ECE          ECE over 15 equal-mass bins: stable sort by conf, np.array_split
    class-wise ECE        mean over classes k of the ECE of p_k vs 1[y = k] (Kull et al. 2019)
    ``reliability_bins`` per-bin range, count, confidence, accuracy, gap = conf - acc

Selective prediction (``selective``): sort by uncertainty ascending (stable)
    risk at k             errors among the k most confident / k, coverage k/N, k = 1..N
    AURC                  mean of that risk over k = 1..N
    E-AURC                AURC - AURC of the oracle (all correct first)
    coverage_at_risk      largest k/N with risk <= r;  risk_at_coverage at k = ceil(cN)
    referral curve        accuracy of the rest after referring the j most uncertain
    ``ReferralIndex``     refer uncertainty > threshold; queries by threshold, budget,
                          target accuracy, costs ((errors·c_err + referred·c_rev)/N;
                          reviewers right with probability q: a referred case costs
                          c_rev + (1 - q)·c_err)

OOD detection (``ood``): in-distribution is the positive class, score -uncertainty
    AUROC, AUPR-in (in positive), AUPR-out (OOD positive, score uncertainty),
    FPR95 = share of OOD with uncertainty <= the ceil(0.95 n_in)-th smallest in-dist value

OOD scores from logits l (S, N, C) and features f (N, D) (``ood_scores``), higher = more OOD;
fitted parts use the rows of group ``fit`` only; S logit samples: mean of the scores
    max_logit             -max_c l_c                             (Hendrycks et al. 2022)
    energy                -T log sum_c exp(l_c / T), T = 1       (Liu et al. 2020)
    gen                   sum_{j<=M} p_(j)^γ (1 - p_(j))^γ, γ = 0.1, M = min(100, C)  (Liu 2023)
    knn                   ‖z - z_(k)‖, z = f/‖f‖, k-th nearest fit row, k = 50  (Sun et al. 2022)
    vim                   α ‖(f - u)_P⊥‖ - log sum_c exp(l_c), u = -W⁺b, P: top-d principal
                          space of the fit rows, α = mean max l / mean ‖·‖  (Wang et al. 2022)
    mahalanobis           min_c (f - μ_c)ᵀ Σ⁻¹ (f - μ_c), Σ shared (Lee et al. 2018)
    relative_mahalanobis  min_c [d_c(f) - d_0(f)], d_0: one Gaussian of all fit rows (Ren 2021)

Bootstrap (``bootstrap``): percentile intervals over rows, np.random.default_rng(seed),
chunked; vectorised for means, ECE/MCE/adaptive ECE, AURC/E-AURC and OOD AUROC.

Checks of inputs (``uqviz.validation``, shared with ``Predictions`` and ``uqviz.conformal``):
``check_probs``, ``check_labels``, ``check_probs_labels``, ``check_scores_correct``.

Accuracy without labels (``label_free``), reference R labelled, target T unlabelled, conf = max p̄
    AC                    mean_T conf                            (Hendrycks & Gimpel 2017)
    DoC                   acc_R + mean_T conf - mean_R conf      (Guillory et al. 2021)
    ATC                   mean_T 1[s > t], t = s_(#errors on R) so mean_R 1[s > t] = acc_R;
                          s = max p̄ (MC) or sum_c p̄_c log p̄_c (NE)  (Garg et al. 2022)
    *_ts                  the same on softmax(log p̄ / T), T NLL-optimal on R (CBPE idea)
    interval              â ± z sqrt(se_boot² + â(1-â)/n_T), reference and target resampled

Summary (``summary``): ``method_summary(p)`` dict, ``metric_table(predictions)`` with
bootstrap intervals, ``METRIC_INFO`` labels and tooltips.
"""

from uqviz.metrics.bootstrap import (
    TABLE_METRICS,
    bootstrap_ci,
    bootstrap_classification_cis,
    bootstrap_ece_ci,
    bootstrap_mean_ci,
    bootstrap_ood_auroc_ci,
    bootstrap_two_sample_ci,
    resample_indices,
)
from uqviz.metrics.calibration import (
    ReliabilityBins,
    adaptive_calibration_error,
    classwise_calibration_error,
    expected_calibration_error,
    maximum_calibration_error,
    reliability_bins,
    top_label,
)
from uqviz.metrics.classification import (
    AccuracyIntervals,
    accuracy,
    accuracy_intervals,
    brier_score,
    confusion_matrix,
    negative_log_likelihood,
    normal_ci,
    subsample_sizes,
    wilson_ci,
)
from uqviz.metrics.ood import OODResult, fpr_at_tpr, ood_detection
from uqviz.metrics.scores import (
    UNCERTAINTY_SCORES,
    ScoreInfo,
    entropy,
    expected_entropy,
    margin,
    max_prob,
    mean_probabilities,
    mutual_information,
    predicted_class_variance,
    uncertainty,
)
from uqviz.metrics.selective import (
    OneVsRestRates,
    OperatingPoint,
    ReferralCurve,
    ReferralIndex,
    RiskCoverageCurve,
    area_under_risk_coverage,
    coverage_at_risk,
    downsample_curve,
    excess_aurc,
    one_vs_rest_rates,
    oracle_aurc,
    referral_curve,
    risk_at_coverage,
    risk_coverage_curve,
)
from uqviz.metrics.summary import (
    METRIC_INFO,
    MetricInfo,
    MetricTable,
    method_summary,
    metric_table,
)

__all__ = [
    "METRIC_INFO",
    "AccuracyIntervals",
    "TABLE_METRICS",
    "UNCERTAINTY_SCORES",
    "MetricInfo",
    "MetricTable",
    "OODResult",
    "OneVsRestRates",
    "OperatingPoint",
    "ReferralCurve",
    "ReferralIndex",
    "ReliabilityBins",
    "RiskCoverageCurve",
    "ScoreInfo",
    "accuracy",
    "accuracy_intervals",
    "adaptive_calibration_error",
    "area_under_risk_coverage",
    "bootstrap_ci",
    "bootstrap_classification_cis",
    "bootstrap_ece_ci",
    "bootstrap_mean_ci",
    "bootstrap_ood_auroc_ci",
    "bootstrap_two_sample_ci",
    "brier_score",
    "classwise_calibration_error",
    "confusion_matrix",
    "coverage_at_risk",
    "downsample_curve",
    "entropy",
    "excess_aurc",
    "expected_calibration_error",
    "expected_entropy",
    "fpr_at_tpr",
    "margin",
    "max_prob",
    "maximum_calibration_error",
    "mean_probabilities",
    "method_summary",
    "metric_table",
    "mutual_information",
    "negative_log_likelihood",
    "normal_ci",
    "one_vs_rest_rates",
    "ood_detection",
    "oracle_aurc",
    "predicted_class_variance",
    "referral_curve",
    "reliability_bins",
    "resample_indices",
    "risk_at_coverage",
    "risk_coverage_curve",
    "subsample_sizes",
    "top_label",
    "uncertainty",
    "wilson_ci",
]
