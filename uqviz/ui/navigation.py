"""The app's pages in one table: app.py builds its navigation from it and other pages (the
glossary's links) read the titles from it, so a title is written once."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageEntry:
    path: str
    title: str
    icon: str
    default: bool = False


SECTIONS: dict[str, tuple[PageEntry, ...]] = {
    "Overview": (
        PageEntry("pages/home.py", "Home", ":material/home:", default=True),
        PageEntry("pages/story.py", "The story in a minute", ":material/slideshow:"),
        PageEntry("pages/data_models.py", "Data & models", ":material/model_training:"),
        PageEntry("pages/upload.py", "Your predictions", ":material/upload_file:"),
        PageEntry("pages/your_model.py", "Your model", ":material/neurology:"),
    ),
    "Analysis": (
        PageEntry("pages/compare.py", "Compare methods", ":material/compare:"),
        PageEntry("pages/referral.py", "Referral threshold", ":material/call_split:"),
        PageEntry("pages/triage.py", "Triage new images", ":material/fact_check:"),
        PageEntry("pages/monitor.py", "Monitor the stream", ":material/monitor_heart:"),
        PageEntry("pages/conformal.py", "Conformal prediction", ":material/checklist:"),
        PageEntry("pages/shift.py", "Dataset shift", ":material/blur_on:"),
        PageEntry("pages/ood.py", "Out-of-distribution", ":material/travel_explore:"),
        PageEntry("pages/your_images.py", "Your images", ":material/image:"),
        PageEntry("pages/embedding.py", "Embedding map", ":material/scatter_plot:"),
        PageEntry("pages/intervals.py", "Confidence intervals", ":material/straighten:"),
    ),
    "Learn": (
        PageEntry("pages/learn_regression.py", "Ensembles in 1-D", ":material/show_chart:"),
        PageEntry("pages/learn_moons.py", "Two moons", ":material/dark_mode:"),
        PageEntry("pages/learn_aleatoric.py", "Aleatoric vs epistemic", ":material/call_merge:"),
        PageEntry("pages/learn_active.py", "Active learning", ":material/school:"),
        PageEntry("pages/glossary.py", "Glossary", ":material/menu_book:"),
    ),
}


def page_title(path: str) -> str:
    """The navigation title of a page file such as ``pages/compare.py``."""
    for entries in SECTIONS.values():
        for entry in entries:
            if entry.path == path:
                return entry.title
    raise ValueError(f"unknown page {path!r}")
