"""Test-time augmentation on the built-in dataset, chosen in the sidebar as a user would: the
sidebar offers it after the default methods, and Compare then scores it beside them."""

from __future__ import annotations

from tests.app_fixtures import framed_page, pretrain_digits


def test_the_sidebar_offers_tta_on_digits_and_compare_scores_it():
    pretrain_digits()
    at = framed_page("pages/compare.py", timeout=600)
    methods = at.sidebar.multiselect(key="methods")
    assert methods.options[-1] == "Test-time augmentation"
    assert "Test-time augmentation" not in methods.value and len(methods.value) == 5
    methods.select("tta").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value
    text = table.to_string()
    assert "Test-time augmentation" in text and "Deep ensemble" in text
