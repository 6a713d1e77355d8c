"""Safe with untrusted files: links that lead out of a scanned folder, model configs with
non-finite, tiny or huge values, deeply nested or unreadable config files, input batches above
the memory budget, and zips whose members cannot be written. Every file is made in the test."""

from __future__ import annotations

import json
import os
import threading
import zipfile

import numpy as np
import pytest
from PIL import Image

from uqviz.data.folder import folder_warnings, read_folder, walk_images
from uqviz.data.roots import data_folders
from uqviz.data.zip_upload import ZipRejected, extract_upload, extract_zip, remove_extraction
from uqviz.user_model.config import (
    INPUT_BUDGET_BYTES,
    ModelConfig,
    UserModelError,
    check_input_budget,
    estimated_batch_bytes,
    model_config,
    read_config_file,
)
from uqviz.user_model.images import iter_batches, load_images, scan_folder

CLASSES = ("red", "green")
LINK = "a link that leads outside the folder"


def save_png(path, value: int = 100, size: int = 8) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), value, dtype=np.uint8)).save(path)


def one_line(call, *args, **kwargs) -> str:
    with pytest.raises(UserModelError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.fixture
def linked(tmp_path):
    """``data/red`` (3 images, one a link to a file outside), ``data/green`` (2 images) with a
    sub-folder ``away`` linked outside, ``data/blue`` a class folder linked outside."""
    outside = tmp_path / "outside"
    save_png(outside / "secret.png", 7)
    save_png(outside / "blue" / "0.png", 9)
    data = tmp_path / "data"
    for i in range(2):
        save_png(data / "red" / f"{i}.png", 200)
        save_png(data / "green" / f"{i}.png", 50)
    (data / "red" / "leak.png").symlink_to(outside / "secret.png")
    (data / "green" / "away").symlink_to(outside / "blue", target_is_directory=True)
    (data / "blue").symlink_to(outside / "blue", target_is_directory=True)
    return data, outside


def config(size: int = 8) -> ModelConfig:
    return ModelConfig((size, size), 3, ("red", "green", "blue"))


# -- links in scan_folder (a user's model) ----------------------------------------------------
def test_scan_folder_skips_linked_class_folders_and_images_with_a_reason(linked):
    data, _ = linked
    images = scan_folder(data, config().classes)
    assert images.files == ("blue", "green/0.png", "green/1.png", "green/away", "red/0.png",
                            "red/1.png", "red/leak.png")
    batches = list(iter_batches(images, config(), 4))
    skipped = [reason for b in batches for reason in b.skipped]
    assert skipped == [f"blue: {LINK}", f"green/away: {LINK}", f"red/leak.png: {LINK}"]
    read = np.concatenate([b.rows for b in batches])
    assert [images.files[i] for i in read] == ["green/0.png", "green/1.png", "red/0.png",
                                               "red/1.png"]
    pixels = load_images(images, config())
    assert len(pixels) == 4 and not (pixels == 7 / 255).all(dim=(1, 2, 3)).any()
    assert len(images.fingerprint()) == 20


def test_scan_folder_unlabelled_and_nothing_left(linked, tmp_path):
    data, outside = linked
    ood = scan_folder(data)  # no classes: every image below, unlabelled
    assert "green/away" in ood.files and "red/leak.png" in ood.files
    assert all(".." not in f and not f.startswith("/") for f in ood.files)
    only_links = tmp_path / "only"
    only_links.mkdir()
    (only_links / "red").symlink_to(outside / "blue", target_is_directory=True)
    (only_links / "x.png").symlink_to(outside / "secret.png")
    assert one_line(scan_folder, only_links, config().classes) == (
        f"{only_links.resolve()}: no images in the folder (BMP, JPEG, JPG, PNG, TIF, TIFF, "
        "WEBP); 1 link that leads outside the folder skipped")
    assert one_line(scan_folder, only_links).endswith(
        "; 2 links that lead outside the folder skipped")


def test_links_that_stay_inside_are_followed_and_loops_end(tmp_path):
    data = tmp_path / "data"
    save_png(data / "red" / "0.png")
    save_png(data / "shared" / "1.png")
    (data / "green").symlink_to(data / "shared", target_is_directory=True)
    (data / "red" / "loop").symlink_to(data, target_is_directory=True)
    images = scan_folder(data, ("red", "green", "shared"))
    assert "green/1.png" in images.files and "red/0.png" in images.files
    files, outside = walk_images(data / "red", data.resolve())
    assert outside == [] and data / "red" / "0.png" in files


def test_a_file_swapped_for_a_link_or_a_pipe_after_the_scan_is_not_read(linked):
    data, outside = linked
    images = scan_folder(data / "red")
    (data / "red" / "0.png").unlink()
    (data / "red" / "0.png").symlink_to(outside / "secret.png")
    (data / "red" / "1.png").unlink()
    os.mkfifo(data / "red" / "1.png")
    done: list = []
    reader = threading.Thread(target=lambda: done.append(list(iter_batches(images, config(),
                                                                             8))))
    reader.start()
    reader.join(timeout=20)
    assert done, "reading a pipe must not block"
    assert list(done[0][0].skipped) == [f"0.png: {LINK}",
                                        "1.png: cannot be read (not a regular file)",
                                        f"leak.png: {LINK}"]


# -- links in folder: datasets ---------------------------------------------------------------
def test_folder_dataset_skips_links_that_lead_outside(linked):
    data, _ = linked
    images = read_folder(data)
    assert images.class_names == ("green", "red") and len(images.images) == 4
    assert images.outside_links == ("blue", "green/away", "red/leak.png")
    assert "Skipped 3 links that lead outside the folder (for example blue)." in \
        folder_warnings(images)


def test_folder_dataset_of_links_only_is_refused_with_the_usual_line(tmp_path, linked):
    _, outside = linked
    root = tmp_path / "links"
    root.mkdir()
    for name in ("a", "b"):
        (root / name).symlink_to(outside / "blue", target_is_directory=True)
    from uqviz.data import DatasetUnavailable

    with pytest.raises(DatasetUnavailable) as info:
        read_folder(root)
    assert str(info.value) == (
        f"image folder {root.resolve()} has no class sub-folders (2 links that lead outside "
        f"the folder skipped); put each class's images in {root.resolve()}/<class name>/.")


# -- links in the folder picker --------------------------------------------------------------
def test_data_folders_never_offer_a_folder_whose_real_path_leaves_the_roots(tmp_path,
                                                                           monkeypatch):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "cats" / "kittens").mkdir(parents=True)
    (outside / "deep" / "deeper").mkdir(parents=True)
    (root / "cats" / "escape").symlink_to(outside, target_is_directory=True)
    (root / "cats" / "kittens" / "escape").symlink_to(outside / "deep",
                                                      target_is_directory=True)
    (root / "cats" / "kittens" / "same").symlink_to(root / "cats", target_is_directory=True)
    monkeypatch.setenv("UQVIZ_DATA_ROOTS", str(root))
    found = data_folders(depth=4)
    assert all((p.resolve()).is_relative_to(root.resolve()) for p in found)
    assert root / "cats" / "kittens" in found and root / "cats" / "kittens" / "same" in found
    assert not any("escape" in p.parts for p in found)


# -- mean, std and input_size ----------------------------------------------------------------
@pytest.mark.parametrize("key, value, message", [
    ("std", [float("inf")] * 3,
     '"std" must be finite numbers between 1e-06 and 1e+06, got [inf, inf, inf]'),
    ("std", 1e-300, '"std" must be finite numbers between 1e-06 and 1e+06, got [1e-300, '
     '1e-300, 1e-300]'),
    ("std", [1, float("nan"), 1],
     '"std" must be finite numbers between 1e-06 and 1e+06, got [1.0, nan, 1.0]'),
    pytest.param("std", 10**400, '"std" must be finite numbers between 1e-06 and 1e+06, got '
                 '[inf, inf, inf]', id="std-int-too-large"),
    ("mean", [0, 0, 2e6],
     '"mean" must be finite numbers between -1e+06 and 1e+06, got [0.0, 0.0, 2000000.0]'),
    ("mean", float("-inf"),
     '"mean" must be finite numbers between -1e+06 and 1e+06, got [-inf, -inf, -inf]'),
    ("input_size", [4097, 8], '"input_size" must be at most 4096 pixels a side, got [4097, 8]'),
])
def test_config_numbers_out_of_range_are_refused_naming_the_key(key, value, message):
    kwargs = {"input_size": (8, 8), "channels": 3, "classes": ("a", "b"), key: value}
    assert one_line(ModelConfig, **kwargs) == f"arguments: {message}"


def test_nan_and_infinity_in_a_model_json_are_refused(tmp_path):
    text = ('{"input_size": [8, 8], "channels": 1, "classes": ["a", "b"], "std": [Infinity], '
            '"mean": [0]}')
    (tmp_path / "model.json").write_text(text)
    assert one_line(model_config, tmp_path / "m.pt") == (
        'model.json: "std" must be finite numbers between 1e-06 and 1e+06, got [inf]')
    (tmp_path / "model.json").write_text(text.replace("[Infinity]", "[1]").replace("[0]",
                                                                                    "[NaN]"))
    assert one_line(model_config, tmp_path / "m.pt") == (
        'model.json: "mean" must be finite numbers between -1e+06 and 1e+06, got [nan]')
    assert ModelConfig((4096, 4096), 1, ("a", "b"), std=(1e-6,)).std == (1e-6,)


def test_the_input_budget_is_checked_before_a_batch_is_allocated(monkeypatch, tmp_path):
    big = ModelConfig((4096, 4096), 3, ("a", "b"))
    assert estimated_batch_bytes(big, 64) == 64 * 3 * 4096 * 4096 * 4
    assert INPUT_BUDGET_BYTES == 2 * 2**30
    monkeypatch.delenv("UQVIZ_INPUT_BUDGET_MB", raising=False)
    assert one_line(check_input_budget, big, 64) == (
        "a batch of 64 images of 3×4096×4096 needs 12.0 GiB, above the 2.0 GiB budget; lower "
        "input_size or the batch size")
    check_input_budget(big, 10)  # 1.9 GiB fits
    monkeypatch.setenv("UQVIZ_INPUT_BUDGET_MB", "1")
    assert one_line(check_input_budget, config(), 4096) == (
        "a batch of 4096 images of 3×8×8 needs 3.0 MiB, above the 1.0 MiB budget; lower "
        "input_size or the batch size")
    assert one_line(check_input_budget, big, 1).startswith("a batch of 1 image of 3×4096×4096")
    for i in range(3):
        save_png(tmp_path / "imgs" / f"{i}.png")
    images = scan_folder(tmp_path / "imgs")
    wide = ModelConfig((256, 256), 3, ("a", "b"))  # 768 KiB an image
    assert one_line(lambda: next(iter_batches(images, wide, 2))).startswith(
        "a batch of 2 images of 3×256×256 needs 1.5 MiB")
    assert one_line(load_images, images, wide, batch_size=1).startswith("a batch of 3 images")
    assert len(next(iter_batches(images, wide, 1)).images) == 1
    monkeypatch.setenv("UQVIZ_INPUT_BUDGET_MB", "lots")
    assert one_line(check_input_budget, big, 1) == (
        "UQVIZ_INPUT_BUDGET_MB must be a positive number of MiB, got 'lots'")


# -- config files that cannot be read --------------------------------------------------------
def test_config_file_problems_are_one_line_naming_only_the_file(tmp_path):
    deep = tmp_path / "model.json"
    deep.write_text("[" * 100_000)
    assert one_line(read_config_file, deep) == "model.json: nested too deeply to be a model config"
    deep.write_text('{"a": ' * 100_000)
    assert one_line(read_config_file, deep) == "model.json: nested too deeply to be a model config"
    folder = tmp_path / "sub" / "model.json"
    folder.mkdir(parents=True)
    assert one_line(read_config_file, folder) == "model.json: a folder, not a file"
    assert one_line(read_config_file, tmp_path / "absent.json") == "absent.json: no such file"
    long = tmp_path / ("x" * 300 + ".json")
    assert one_line(read_config_file, long) == f"{long.name}: file name too long"
    deep.write_text('{"channels": ' + "9" * 5000 + "}")
    assert one_line(read_config_file, deep) == (
        "model.json: not valid JSON (a number with too many digits)")
    deep.write_bytes(b" " * (1 << 20) + b"{}")
    assert one_line(read_config_file, deep) == (
        "model.json: more than the 1 MiB a model config may have")
    for message in (one_line(read_config_file, folder), one_line(read_config_file, long)):
        assert str(tmp_path) not in message


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root reads any file")
def test_a_config_without_read_permission(tmp_path):
    path = tmp_path / "model.json"
    path.write_text("{}")
    path.chmod(0)
    assert one_line(read_config_file, path) == "model.json: permission denied"


# -- zips whose members cannot be written ----------------------------------------------------
def png_bytes() -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def zip_of(names: list[str]) -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, png_bytes())
    return buffer.getvalue()


def refused(data: bytes, target) -> str:
    with pytest.raises(ZipRejected) as info:
        extract_zip(data, target, name="images.zip")
    message = str(info.value)
    assert "\n" not in message and str(target) not in message and "Errno" not in message
    assert not any(target.iterdir())
    return message


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_zip_members_that_cannot_be_written_are_one_line_without_the_server_path(tmp_path):
    target = tmp_path / "x"
    same = "images.zip: refused, member {} could not be extracted (a file and a folder have " \
           "the same name)"
    assert refused(zip_of(["a/b.png", "a/b.png/c.png"]), target) == same.format("'a/b.png/c.png'")
    assert refused(zip_of(["a/b.png/c.png", "a/b.png"]), target) == same.format("'a/b.png'")
    long = "a/" + "n" * 300 + ".png"
    assert refused(zip_of(["b/ok.png", long]), target) == (
        f"images.zip: member 'a/{'n' * 20}…' could not be extracted (file name too long)")
    assert refused(zip_of(["b/ok.png", "b/ok.png"]), target) == (
        "images.zip: refused, member 'b/ok.png' appears twice")


def test_an_upload_is_extracted_once_and_removed(tmp_path):
    data = zip_of(["pets/cats/1.png", "pets/dogs/2.png"])
    parent = tmp_path / "uploads"
    root = extract_upload(data, "pets.zip", parent)
    assert root.name == "pets" and (root / "cats" / "1.png").is_file()
    assert extract_upload(data, "again.zip", parent) == root
    assert len(list(parent.iterdir())) == 1, "the same bytes reuse the same folder"
    other = extract_upload(zip_of(["cats/1.png", "dogs/2.png"]), "flat.zip", parent)
    assert other != root and other.parent == parent.resolve()
    with pytest.raises(ZipRejected):
        extract_upload(b"not a zip", "bad.zip", parent)
    assert len(list(parent.iterdir())) == 2, "a refused upload leaves nothing behind"
    remove_extraction(root, parent)
    assert not root.exists() and other.exists()
    remove_extraction(root, parent)  # gone already: nothing to do
    with pytest.raises(ValueError):
        remove_extraction(tmp_path, parent)
    assert extract_upload(data, "pets.zip", parent) == root  # extracted afresh
    assert json.dumps(sorted(p.name for p in parent.iterdir())).count(".") == 0
