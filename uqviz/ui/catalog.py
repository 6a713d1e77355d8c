"""The core's catalogues as the pages read them: the names a page offers in a select box or
looks up in a table (uncertainty scores, methods, corruptions, OOD sets, referral modes, the
glossary). Pages import these from here, not from the core (``tests/test_architecture.py``);
each is the core's own object, re-exported unchanged."""

from __future__ import annotations

from uqviz.data.ood import OOD_SETS as OOD_SETS
from uqviz.glossary import GLOSSARY as GLOSSARY
from uqviz.glossary import term_text as term_text
from uqviz.methods import METHODS as METHODS
from uqviz.metrics.scores import UNCERTAINTY_SCORES as UNCERTAINTY_SCORES
from uqviz.metrics.summary import OOD_SUMMARY_SCORES as OOD_SUMMARY_SCORES
from uqviz.policy import REFERRAL_MODES as REFERRAL_MODES
from uqviz.predictions import OOD_PREFIX as OOD_PREFIX
from uqviz.shifts import CORRUPTIONS as CORRUPTIONS
from uqviz.shifts import ROTATION_ANGLES as ROTATION_ANGLES
