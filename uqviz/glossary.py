"""Every term the app uses, in two sentences, and the page that shows it (no streamlit).

The same texts serve as ``help=`` tooltips across the app. A method's term is its label in the
registry (``uqviz.methods.METHODS[id].label``); tests/test_glossary.py keeps them equal (the
registry imports torch, this module does not).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    term: str
    text: str
    page: str | None = None


GLOSSARY: tuple[Term, ...] = (
    Term("Aleatoric uncertainty", "Ambiguity in the data itself, such as a digit that could be a "
         "4 or a 9. More training data does not remove it; expected entropy measures it.",
         "pages/learn_aleatoric.py"),
    Term("Epistemic uncertainty", "The model's own ignorance, largest far from the training data. "
         "It shrinks with more data and shows up as disagreement between ensemble members or "
         "dropout samples (mutual information).", "pages/learn_aleatoric.py"),
    Term("Predictive entropy", "Total uncertainty of the averaged prediction, in nats. It equals "
         "expected entropy (aleatoric) plus mutual information (epistemic).",
         "pages/learn_aleatoric.py"),
    Term("Expected entropy", "The average of each member's (or dropout sample's) own entropy, in "
         "nats. It is high when every sample agrees the case is ambiguous: aleatoric "
         "uncertainty.", "pages/learn_aleatoric.py"),
    Term("Mutual information", "Predictive entropy minus expected entropy, in nats. It is high "
         "only when the samples disagree with each other: epistemic uncertainty (BALD).",
         "pages/learn_moons.py"),
    Term("Max probability", "The probability of the predicted class; the app shows 1 − max "
         "probability so that higher means more uncertain. It is the simplest score and works "
         "with any classifier.", "pages/compare.py"),
    Term("Margin", "The gap between the two most likely classes. A small margin means two classes "
         "compete for the case.", "pages/compare.py"),
    Term("Incoming stream", "What the model receives in deployment: clean test cases mixed "
         "with a share of shifted cases (a corruption at a severity) and a share of "
         "out-of-distribution cases, drawn with a seed. Accuracy and calibration count the "
         "labelled cases; referral counts an automated out-of-distribution case as an error.",
         "pages/referral.py"),
    Term("Guaranteed threshold", "A referral threshold chosen on a calibration part so that the "
         "accuracy on the automated cases is at least A with probability at least 1 − δ "
         "(Learn then Test, Angelopoulos et al. 2021: the scores of a few held-out rows are the "
         "candidate thresholds; each is tested with an exact binomial test of 'error rate above "
         "1 − A', from the most confident outward, passing δ along the chain (the fallback "
         "procedure), so no union bound). When A cannot be certified with the data at hand, "
         "the highest A that can is shown.", "pages/referral.py"),
    Term("Drift alarm", "An alarm that needs no labels: each new case's uncertainty is ranked "
         "among the reference's and all earlier cases' (a conformal p-value), and a betting "
         "martingale grows when new cases rank unusually (Simple Jumper, Vovk et al. 2021). "
         "While the stream stays like the reference, the chance that it ever reaches 1/α, "
         "however long it is watched, is at most α (Ville's inequality).", "pages/monitor.py"),
    Term("Accuracy without labels", "The accuracy on unlabelled cases estimated from a "
         "labelled reference: the average confidence (AC), the reference's accuracy moved by "
         "the change in confidence (DoC), or the share of cases above a confidence threshold "
         "set on the reference (ATC). Under a shift it can be far off; the Dataset shift page "
         "shows how far.", "pages/monitor.py"),
    Term("Calibration", "A model is calibrated when its confidence matches its accuracy: of all "
         "cases predicted with 80% confidence, 80% are right.", "pages/compare.py"),
    Term("ECE", "Expected calibration error: the average gap between confidence and accuracy "
         "over 15 confidence bins, weighted by how many cases fall in each. Adaptive ECE uses "
         "bins of equal counts; MCE is the largest gap of any bin.", "pages/compare.py"),
    Term("NLL", "Negative log-likelihood: minus the log of the probability given to the true "
         "class, averaged. It punishes confident mistakes hardest.", "pages/compare.py"),
    Term("Brier score", "The squared distance between the predicted probabilities and the "
         "one-hot true label, averaged. Lower is better; it rewards being both right and "
         "honest.", "pages/compare.py"),
    Term("Reliability diagram", "Accuracy plotted against confidence, bin by bin. Bars under "
         "the diagonal mean the model is overconfident.", "pages/compare.py"),
    Term("Risk–coverage curve", "Keep only the most confident share of cases (coverage) and "
         "measure the error rate on them (risk). A good uncertainty score gives a low curve.",
         "pages/compare.py"),
    Term("AURC", "Area under the risk–coverage curve: the mean error rate over all coverage "
         "levels. E-AURC subtracts the best area possible with the same mistakes.",
         "pages/compare.py"),
    Term("Referral", "Handing the most uncertain cases to a human expert. The referral curve "
         "shows accuracy on the remaining cases as more are referred.", "pages/referral.py"),
    Term("Conformal set", "A set of classes that contains the true class with a chosen "
         "probability, such as 90%, whatever the model. Uncertain cases get larger sets.",
         "pages/conformal.py"),
    Term("OOD", "Out-of-distribution inputs come from somewhere the model never saw in "
         "training, like noise or photos for a digit classifier. A good method is more "
         "uncertain on them.", "pages/ood.py"),
    Term("AUROC", "The chance that a random wrong (or out-of-distribution) case gets a higher "
         "uncertainty than a random right (or in-distribution) one. 0.5 is guessing, 1 is "
         "perfect separation.", "pages/ood.py"),
    Term("FPR95", "The share of in-distribution cases flagged as out-of-distribution when the "
         "threshold catches 95% of the true out-of-distribution ones. Lower is better.",
         "pages/ood.py"),
    Term("Dataset shift", "Test inputs that differ from the training inputs, such as blurred, "
         "noisy or rotated images. Accuracy falls with the severity; a good method's "
         "uncertainty rises with it.", "pages/shift.py"),
    Term("Test-time augmentation", "Predicting on several altered copies of each image (small "
         "crops, and flips when they keep the class) and averaging the probabilities. Where "
         "the copies disagree the prediction is fragile: a cheap uncertainty needing no "
         "retraining (Wang et al., Neurocomputing 2019).", "pages/your_model.py"),
    Term("Mahalanobis score", "The distance of an image's penultimate features from the "
         "nearest class mean, under one covariance shared by the classes, all fitted on "
         "calibration images. Far from every class means out of distribution (Lee et al., "
         "NeurIPS 2018).", "pages/ood.py"),
    Term("Temperature scaling", "Dividing the logits by one number T fitted on validation data. "
         "It fixes over- or under-confidence without changing any prediction.",
         "pages/compare.py"),
    Term("Softmax", "The plain network's probabilities, one forward pass. ReLU networks are "
         "often confident far from their training data, so it serves as the baseline.",
         "pages/learn_moons.py"),
    Term("MC dropout", "Keeping dropout switched on at test time and averaging many passes. "
         "The spread of the passes approximates a Bayesian posterior.", "pages/learn_moons.py"),
    Term("Deep ensemble", "Several networks trained from different random starts. They agree "
         "near the data and disagree away from it, which exposes epistemic uncertainty.",
         "pages/learn_regression.py"),
    Term("Your ensemble", "The model files you gave (the same classes and input), each "
         "predicting every image; their probabilities are averaged. Where your checkpoints "
         "disagree the case is uncertain, as in a deep ensemble, though checkpoints fine-tuned "
         "from one start disagree less.", "pages/your_model.py"),
    Term("Prior ensemble", "An ensemble with randomized priors: each member adds a fixed, "
         "random, untrained network to its output, scaled by β. Where data is missing the "
         "priors are not trained away, so the members keep disagreeing.",
         "pages/learn_regression.py"),
    Term("SNGP", "Spectral-normalized neural Gaussian process: one network whose hidden layers are "
         "spectrally normalised so that they keep distances, under a Gaussian-process output "
         "layer. Its uncertainty grows with the distance from the training data in every "
         "direction, from a single forward pass (Liu et al., NeurIPS 2020).",
         "pages/learn_moons.py"),
    Term("Bootstrap (ensembles)", "Each ensemble member trains on its own resample of the data, "
         "drawn with replacement. The members then differ also because they saw different "
         "points, as they would with a different data set.", "pages/learn_regression.py"),
    Term("Bootstrap CI", "A 95% interval from recomputing a metric on 1,000 resamples of the "
         "test set. It shows how much a number could move with a different test set.",
         "pages/intervals.py"),
    Term("Wald interval", "The textbook interval p̂ ± 1.96·√(p̂(1−p̂)/n) for an accuracy p̂ on n "
         "cases. It is too narrow for small n or accuracy near 100%, where it can shrink to "
         "zero width or leave [0, 1].", "pages/intervals.py"),
    Term("Wilson interval", "The score interval for a proportion: it inverts the normal test "
         "instead of plugging in p̂. It stays inside [0, 1] and keeps close to 95% coverage even "
         "for small n, which is why the app uses it for accuracies.", "pages/intervals.py"),
    Term("Embedding map", "The network's internal features of every test image, flattened to "
         "two dimensions with UMAP. Uncertain and wrong cases tend to sit between the class "
         "clusters.", "pages/embedding.py"),
    Term("Active learning", "Choosing which unlabelled cases a human should label next, most "
         "uncertain first. Mutual information picks the cases that teach the model most.",
         "pages/learn_active.py"),
    Term("BALD", "Bayesian active learning by disagreement: label next the cases with the highest "
         "mutual information, where the sampled networks are each confident but disagree. "
         "Gal, Islam and Ghahramani (2017) use it with MC dropout.", "pages/learn_active.py"),
)


# Old names still asked for by pages/learn_moons.py and pages/learn_regression.py; delete once
# they ask for the new one.
def term_text(term: str) -> str:
    """The text of one term (for a tooltip); ValueError listing the known terms."""
    wanted = term.lower()
    for t in GLOSSARY:
        if t.term.lower() == wanted:
            return t.text
    raise ValueError(f"unknown term {term!r}; known: {', '.join(t.term for t in GLOSSARY)}")
