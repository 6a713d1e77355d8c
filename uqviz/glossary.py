"""Every term the app uses, in two sentences, and the page that shows it (no streamlit).

The same texts serve as ``help=`` tooltips across the app.
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
         "pages/compare.py"),
    Term("Epistemic uncertainty", "The model's own ignorance, largest far from the training data. "
         "It shrinks with more data and shows up as disagreement between ensemble members or "
         "dropout samples (mutual information).", "pages/compare.py"),
    Term("Predictive entropy", "Total uncertainty of the averaged prediction, in nats. It equals "
         "expected entropy (aleatoric) plus mutual information (epistemic).", "pages/compare.py"),
    Term("Calibration", "A model is calibrated when its confidence matches its accuracy: of all "
         "cases predicted with 80% confidence, 80% are right.", "pages/compare.py"),
    Term("ECE", "Expected calibration error: the average gap between confidence and accuracy "
         "over 15 confidence bins, weighted by how many cases fall in each.",
         "pages/compare.py"),
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
         "probability, such as 90%, whatever the model. Uncertain cases get larger sets.", None),
    Term("OOD", "Out-of-distribution inputs come from somewhere the model never saw in "
         "training, like noise or photos for a digit classifier. A good method is more "
         "uncertain on them.", "pages/compare.py"),
    Term("Temperature scaling", "Dividing the logits by one number T fitted on validation data. "
         "It fixes over- or under-confidence without changing any prediction.",
         "pages/compare.py"),
    Term("MC dropout", "Keeping dropout switched on at test time and averaging many passes. "
         "The spread of the passes approximates a Bayesian posterior.", "pages/compare.py"),
    Term("Deep ensemble", "Several networks trained from different random starts. They agree "
         "near the data and disagree away from it, which exposes epistemic uncertainty.",
         "pages/compare.py"),
    Term("Randomized prior", "Each ensemble member adds a fixed, random, untrained network to "
         "its output, scaled by β. Where data is missing the priors are not trained away, so "
         "the members keep disagreeing.", "pages/compare.py"),
    Term("Bootstrap CI", "A 95% interval from recomputing a metric on 1,000 resamples of the "
         "test set. It shows how much a number could move with a different test set.",
         "pages/compare.py"),
)


def term_text(term: str) -> str:
    """The text of one term (for a tooltip); ValueError listing the known terms."""
    for t in GLOSSARY:
        if t.term.lower() == term.lower():
            return t.text
    raise ValueError(f"unknown term {term!r}; known: {', '.join(t.term for t in GLOSSARY)}")
