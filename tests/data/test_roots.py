"""Data roots (``uqviz.data.roots``): folders listed under ``UQVIZ_DATA_ROOTS`` and user paths
refused outside them, after resolving ``..`` and symbolic links."""

from __future__ import annotations

import os

import pytest

from uqviz.data.roots import OutsideDataRoots, data_folders, data_roots, resolve_data_path


@pytest.fixture
def roots(tmp_path, monkeypatch):
    a, b, outside = tmp_path / "a", tmp_path / "b", tmp_path / "outside"
    for folder in (a / "cats", a / "dogs" / "puppies", a / ".hidden", b / "xrays", outside):
        folder.mkdir(parents=True)
    (a / "escape").symlink_to(outside, target_is_directory=True)
    (a / "alias").symlink_to(b / "xrays", target_is_directory=True)
    monkeypatch.setenv("UQVIZ_DATA_ROOTS", os.pathsep.join([str(a), str(b), str(tmp_path / "no")]))
    return a, b, outside


def test_folders_under_the_roots_are_listed(roots):
    a, b, _ = roots
    assert data_roots() == (a.resolve(), b.resolve())
    assert data_folders() == [a / "alias", a / "cats", a / "dogs", b / "xrays"]
    assert a / "dogs" / "puppies" in data_folders(depth=2)


def test_paths_inside_the_roots_resolve(roots):
    a, b, _ = roots
    assert resolve_data_path(a / "cats") == (a / "cats").resolve()
    assert resolve_data_path("folder:xrays") == (b / "xrays").resolve()
    assert resolve_data_path(a / "alias") == (b / "xrays").resolve()  # a link to another root
    with pytest.raises(FileNotFoundError):
        resolve_data_path(a / "birds")


def test_paths_outside_the_roots_are_refused_after_resolving_links(roots):
    a, b, outside = roots
    shown = f"({a.resolve()}, {b.resolve()})"
    for path in (outside, a / "escape", a / "cats" / ".." / ".." / "outside", "/etc",
                 "../outside", "escape/x"):
        with pytest.raises(OutsideDataRoots) as info:
            resolve_data_path(path)
        assert str(info.value) == f"{path}: outside the data folders {shown}"


def test_no_roots_refuses_everything(monkeypatch, tmp_path):
    monkeypatch.delenv("UQVIZ_DATA_ROOTS", raising=False)
    with pytest.raises(OutsideDataRoots) as info:
        resolve_data_path(tmp_path)
    assert str(info.value) == (f"no data folder is allowed: set UQVIZ_DATA_ROOTS to the folders "
                               f"users may read (separated by {os.pathsep!r})")
    assert data_folders() == []
