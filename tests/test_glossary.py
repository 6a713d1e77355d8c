"""One table of method labels: the registry's. The glossary, the sidebar's help and the plots'
legend say the same names."""

from uqviz.glossary import GLOSSARY, term_text
from uqviz.methods import METHODS

LABELS = {method_id: cls.label for method_id, cls in METHODS.items()}


def test_every_method_label_is_a_glossary_term():
    terms = {t.term for t in GLOSSARY}
    missing = sorted(set(LABELS.values()) - terms)
    assert not missing, f"methods without a glossary term of the same name: {missing}"
    assert LABELS["prior_ensemble"] == "Prior ensemble"
    assert "randomized prior" in term_text("Prior ensemble").lower()


def test_terms_are_unique():
    names = [t.term.lower() for t in GLOSSARY]
    assert len(names) == len(set(names))


def test_sidebar_help_uses_the_registry_labels():
    from uqviz.ui.state import METHODS_HELP

    for label in LABELS.values():
        assert f"**{label}**: {term_text(label)}" in METHODS_HELP
    assert "Randomized prior" not in METHODS_HELP


def test_plot_labels_are_the_registry_labels():
    from uqviz.labels import METHOD_LABELS

    assert METHOD_LABELS == LABELS
