"""Your model, your images (``uqviz.user_model``): loading without pickle, the sidecar config,
labels by folder name, the split, preprocessing, the methods and their one-line errors."""

from __future__ import annotations

import json
import shutil
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.covariance import EmpiricalCovariance

from tests.user_model_fixtures import (
    CLASSES,
    SIZE,
    TinyNet,
    export_onnx,
    export_pt2,
    export_torchscript,
    normalise,
    train_tiny_net,
    write_config,
    write_folder,
)
from uqviz.numerics import softmax
from uqviz.runs import EvalPlan
from uqviz.user_model import (
    MethodSettings,
    ModelConfig,
    ModelSource,
    PartialResults,
    UserModelError,
    load_model,
    model_config,
    scan_folder,
    split_calibration,
)
from uqviz.user_model.images import iter_batches
from uqviz.user_model.loading import EXPORT_HOW, load_in_process
from uqviz.methods.tta import Augmentation, augment, tta_augmentations

QUICK = EvalPlan(corruptions=(), ood_sets=())
COUNTS = {"green": 6, "blue": 5, "red": 7}


@pytest.fixture(scope="module")
def net():
    return train_tiny_net()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, net):
    """A TorchScript model with its model.json and a labelled folder of 16×16 PNGs."""
    root = tmp_path_factory.mktemp("user_model")
    export_torchscript(net, root / "net.pt")
    write_config(root)
    write_folder(root / "images", COUNTS)
    return root


def source(workdir, models=("net.pt",), data="images", plan=QUICK, **kwargs):
    return ModelSource.create([workdir / m for m in models], workdir / data, plan=plan, **kwargs)


def error_of(call, *args, **kwargs) -> str:
    with pytest.raises(UserModelError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def reference_probs(net, folder, ids) -> np.ndarray:
    """The trained network's own softmax on each image, read here with Pillow alone."""
    pixels = np.stack([np.asarray(Image.open(folder / i).convert("RGB")) for i in ids])
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255.0
    with torch.no_grad():
        return softmax(net(normalise(x))[0].numpy(), dtype=np.float32)


# -- the config -------------------------------------------------------------------------------
def test_sidecar_is_read_and_explicit_values_win(workdir):
    config = model_config(workdir / "net.pt")
    assert config.input_shape == (3, SIZE, SIZE) and config.classes == CLASSES
    assert config.mean == (0.5,) * 3 and config.features_output == 1
    assert config.outputs == "logits" and not config.flips_preserve_label
    config = model_config(workdir / "net.pt", input_size=[8, 8], channels=None,
                          flips_preserve_label=True)
    assert config.input_size == (8, 8) and config.channels == 3 and config.flips_preserve_label
    assert ModelConfig((4, 4), 1, ("a", "b")).mean == (0.0,) and config.source == "model.json"


@pytest.mark.parametrize("key, value, message", [
    ("input_size", [0, 16], '"input_size" must be [height, width] in whole pixels, got [0, 16]'),
    ("input_size", 16, '"input_size" must be [height, width] in whole pixels, got 16'),
    ("channels", 4, '"channels" must be 1 or 3, got 4'),
    ("mean", [0.5], '"mean" must have one number per channel (3), got [0.5]'),
    ("std", [1, 0, 1], '"std" must be positive, got [1.0, 0.0, 1.0]'),
    ("classes", ["a"], '"classes" must be a list of 2 or more names, got ["a"]'),
    ("classes", ["a", "b", "a"],
     '"classes" must be distinct names (\'a\' repeats), got ["a", "b", "a"]'),
    ("outputs", "softmax", '"outputs" must be "logits" or "probabilities", got "softmax"'),
    ("features_output", 1.5,
     '"features_output" must be an output index (0, 1, …) or name, got 1.5'),
    ("flips_preserve_label", "yes", '"flips_preserve_label" must be true or false, got "yes"'),
])
def test_each_bad_config_value_is_one_line_naming_key_and_value(tmp_path, key, value, message):
    write_config(tmp_path, **{key: value})
    assert error_of(model_config, tmp_path / "m.pt") == f"model.json: {message}"


def test_config_file_problems(tmp_path):
    (tmp_path / "model.json").write_text('{"input_size": [16, 16],}')
    assert error_of(model_config, tmp_path / "m.pt") == (
        "model.json: not valid JSON (line 1: Expecting property name enclosed in double quotes)")
    write_config(tmp_path, input_shape=[3, 16, 16])
    assert error_of(model_config, tmp_path / "m.pt") == (
        'model.json: unknown key "input_shape"; valid: input_size, channels, mean, std, '
        "classes, outputs, features_output, flips_preserve_label")
    (tmp_path / "model.json").write_text(json.dumps({"channels": 3, "input_size": [2, 2]}))
    assert error_of(model_config, tmp_path / "m.pt") == (
        'model.json: "classes" is missing; a model config needs input_size, channels, classes '
        "(and mean, std)")
    (tmp_path / "model.json").unlink()
    assert error_of(model_config, tmp_path / "m.pt") == (
        "m.pt: no model.json next to it; write one with input_size, channels, mean, std, "
        "classes (and optionally outputs, features_output, flips_preserve_label) or give a "
        "config")


# -- loading without pickle -------------------------------------------------------------------
def test_a_pickle_or_any_other_file_is_refused_with_how_to_export(tmp_path, workdir, net):
    config = model_config(workdir / "net.pt")
    torch.save(net, tmp_path / "module.pt")
    torch.save(net.state_dict(), tmp_path / "weights.pth")
    torch.save(net.state_dict(), tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    refused = ("a plain torch.save pickle is refused (loading a pickle can run any code); "
               + EXPORT_HOW)
    for name in ("module.pt", "weights.pth", "legacy.pt"):
        assert error_of(load_model, tmp_path / name, config) == f"{name}: {refused}"
    (tmp_path / "notes.txt").write_text("hello")
    assert error_of(load_model, tmp_path / "notes.txt", config) == (
        "notes.txt: not a TorchScript, exported-program (.pt2) or ONNX model file; " + EXPORT_HOW)
    (tmp_path / "broken.onnx").write_bytes(b"\x08\x07garbage")
    assert error_of(load_model, tmp_path / "broken.onnx", config).startswith(
        "broken.onnx: not a readable ONNX model (")
    assert error_of(load_model, tmp_path / "absent.pt", config) == (
        f"{tmp_path / 'absent.pt'}: no such file")
    assert EXPORT_HOW == (
        "export it with torch.jit.script(model).save(path) (or torch.jit.trace(model, "
        "example).save(path)), torch.export.save(torch.export.export(model, (example,)), path) "
        "or torch.onnx.export(model, (example,), path, external_data=False)")


def test_an_exported_program_with_a_pickled_part_is_refused(tmp_path, workdir, net):
    export_pt2(net, tmp_path / "ok.pt2")
    with zipfile.ZipFile(tmp_path / "ok.pt2") as src, \
            zipfile.ZipFile(tmp_path / "pickled.pt2", "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("model_weights_config.json"):
                config = json.loads(data)
                first = next(iter(config["config"]))
                config["config"][first]["use_pickle"] = True
                data = json.dumps(config).encode()
            dst.writestr(info, data)
    config = model_config(workdir / "net.pt")
    assert load_model(tmp_path / "ok.pt2", config).format == "exported program"
    assert error_of(load_model, tmp_path / "pickled.pt2", config) == (
        "pickled.pt2: refused, it holds a pickled tensor (conv.weight), and loading it would run "
        "a pickle, which can run any code; an uploaded model may only compute its outputs")


def test_input_shape_and_output_width_are_checked_against_the_config(tmp_path, workdir, net):
    export_pt2(net, tmp_path / "net.pt2")
    config = model_config(workdir / "net.pt", input_size=[20, 24])
    assert error_of(load_model, tmp_path / "net.pt2", config) == (
        "net.pt2: the model takes input (N, 3, 16, 16) but model.json (channels 3, input_size "
        "[20, 24]) gives (N, 3, 20, 24)")
    grey = model_config(workdir / "net.pt", channels=1, mean=[0.5], std=[0.25])
    assert error_of(load_model, workdir / "net.pt", grey).startswith(
        "net.pt: the model fails on input (N, 1, 16, 16) from model.json (channels 1, "
        "input_size [16, 16]) (its first convolution takes 3 channels): ")
    four = model_config(workdir / "net.pt", classes=["a", "b", "c", "d"])
    assert error_of(load_model, workdir / "net.pt", four) == (
        "net.pt gives 3 outputs per image but model.json lists 4 classes")
    names = model_config(workdir / "net.pt", features_output=5)
    assert error_of(load_model, workdir / "net.pt", names) == (
        'model.json: "features_output" 5 but net.pt has 2 output(s)')


def test_torchscript_and_pt2_probabilities_equal_the_networks_own(tmp_path, workdir, net):
    export_pt2(net, tmp_path / "net.pt2")
    export_pt2(net, tmp_path / "fixed.pt2", batch=4)  # padded batches of exactly 4
    shutil.copy(workdir / "model.json", tmp_path / "model.json")
    shutil.copytree(workdir / "images", tmp_path / "images")
    expected = None
    for name in ("net.pt", "net.pt2", "fixed.pt2"):
        folder = workdir if name == "net.pt" else tmp_path
        p = source(folder, (name,)).predictions(["softmax"])["softmax"]
        ids = p.ids[p.group == "test"]
        expected = reference_probs(net, folder / "images", ids) if expected is None else expected
        np.testing.assert_allclose(p.probs[0, p.group == "test"], expected, atol=1e-4)
        assert p.probs.dtype == np.float32
    assert load_model(tmp_path / "fixed.pt2", model_config(workdir / "net.pt")).fixed_batch == 4


@pytest.mark.slow
def test_onnx_probabilities_equal_the_networks_own(tmp_path, workdir, net):
    export_onnx(net, tmp_path / "net.onnx")
    shutil.copy(workdir / "model.json", tmp_path / "model.json")
    shutil.copytree(workdir / "images", tmp_path / "images")
    src = source(tmp_path, ("net.onnx",), settings=MethodSettings(batch_size=5))
    assert src.loaded[0].format == "ONNX"
    p = src.predictions(["softmax", "tta"])["softmax"]
    ids = p.ids[p.group == "test"]
    np.testing.assert_allclose(p.probs[0, p.group == "test"],
                               reference_probs(net, tmp_path / "images", ids), atol=1e-4)
    assert src.why_not("mc_dropout") == (
        "net.onnx is an ONNX model: its dropout layers are fixed in inference mode and cannot "
        "be switched on; export it with torch.jit.script(model).save(path) to sample dropout")
    assert src.methods == ["softmax", "temperature", "tta"]
    config = model_config(workdir / "net.pt", input_size=[8, 8])
    assert error_of(load_model, tmp_path / "net.onnx", config) == (
        "net.onnx: the model takes input (N, 3, 16, 16) but model.json (channels 3, input_size "
        "[8, 8]) gives (N, 3, 8, 8)")


# -- images -----------------------------------------------------------------------------------
def test_labels_come_from_folder_names_not_their_order(workdir):
    images = scan_folder(workdir / "images", CLASSES)
    assert len(images) == sum(COUNTS.values())
    for name, label in zip(images.files, images.labels, strict=True):
        assert CLASSES[label] == name.split("/")[0]
    assert images.files[0] == "blue/0.png"  # sorted by path, labelled by name (blue = 2)
    assert images.labels[0] == 2


def test_a_sub_folder_that_is_not_a_class_is_refused(tmp_path):
    write_folder(tmp_path, {"red": 1, "purple": 1})
    assert error_of(scan_folder, tmp_path, CLASSES) == (
        f'{tmp_path}: sub-folder "purple" is not one of the model\'s classes (red, green, blue)')


def test_empty_and_unlabelled_folders(tmp_path, workdir):
    (tmp_path / "empty" / "red").mkdir(parents=True)
    assert error_of(scan_folder, tmp_path / "empty", CLASSES) == (
        f"{tmp_path / 'empty'}: no images in the folder (BMP, JPEG, JPG, PNG, TIF, TIFF, WEBP)")
    for i, file in enumerate(sorted((workdir / "images" / "red").iterdir())[:3]):
        shutil.copy(file, tmp_path / f"{i}.png")
    loose = scan_folder(tmp_path, CLASSES)
    assert loose.files == ("0.png", "1.png", "2.png") and (loose.labels == -1).all()
    shutil.copy(workdir / "net.pt", tmp_path / "net.pt")
    shutil.copy(workdir / "model.json", tmp_path / "model.json")
    src = ModelSource.create([tmp_path / "net.pt"], tmp_path, plan=QUICK)
    assert src.methods == ["softmax", "tta", "mc_dropout"]
    assert src.why_not("temperature") == (
        "Temperature scaling needs labelled calibration images to fit on, and "
        f"{tmp_path} has no class sub-folders (its images are unlabelled)")
    assert src.why_no_mahalanobis().startswith("The Mahalanobis score needs labelled calibration")
    p = src.predictions(["softmax"])["softmax"]
    assert (p.labels == -1).all() and p.n == 3 and "mahalanobis" not in p.scores


def test_stratified_split_sizes_are_seeded(workdir):
    images = scan_folder(workdir / "images", CLASSES)
    split = split_calibration(images, 0.3, seed=0)
    # per class round(0.3 n): green 6 -> 2, blue 5 -> 2 (1.5 rounds to even), red 7 -> 2
    assert split.sizes == {"calibration": 6, "test": 12}
    assert np.bincount(split.calibration.labels, minlength=3).tolist() == [2, 2, 2]
    again = split_calibration(images, 0.3, seed=0)
    assert again.calibration.files == split.calibration.files
    other = split_calibration(images, 0.3, seed=1)
    assert other.calibration.files != split.calibration.files
    assert set(split.calibration.files).isdisjoint(split.test.files)
    assert source(workdir).sizes == {"calibration": 6, "test": 12, "ood": 0}


def test_an_image_at_the_input_size_is_not_resampled(tmp_path, workdir):
    rng = np.random.default_rng(3)
    exact = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    (tmp_path / "red").mkdir()
    Image.fromarray(exact).save(tmp_path / "red" / "exact.png")
    Image.fromarray(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)).save(
        tmp_path / "red" / "large.png")
    config = model_config(workdir / "net.pt")
    batch = next(iter_batches(scan_folder(tmp_path, CLASSES), config, 8))
    assert batch.images.shape == (2, 3, SIZE, SIZE)
    assert np.array_equal(np.round(batch.images[0].numpy() * 255).astype(np.uint8),
                          exact.transpose(2, 0, 1))
    assert batch.images.dtype == torch.float32 and 0 <= batch.images.min() <= 1


def test_unreadable_images_are_skipped_and_counted(tmp_path, workdir):
    shutil.copytree(workdir / "images", tmp_path / "images")
    shutil.copy(workdir / "net.pt", tmp_path)
    shutil.copy(workdir / "model.json", tmp_path)
    (tmp_path / "images" / "red" / "zz.png").write_bytes(b"\x89PNG\r\n\x1a\ncut short")
    src = source(tmp_path)
    run = src.run(["softmax"])
    assert src.sizes == {"calibration": 6, "test": 13, "ood": 0}
    assert run.warnings == (
        f"{tmp_path / 'images'} (test part): skipped 1 unreadable image of 13 (first: "
        "red/zz.png: truncated or corrupt image (Truncated File Read))",)
    assert run.predictions["softmax"].in_group("test").n == 12
    assert len(src.test_images()) == 12
    for file in (tmp_path / "images").rglob("*.png"):
        file.write_bytes(b"not an image")
    assert error_of(source(tmp_path).run, ["softmax"]) == (
        f"{tmp_path / 'images'}: none of the 6 calibration images could be read (first: "
        "blue/0.png: not an image Pillow can read (PNG, JPEG, BMP, TIFF or WebP))")


def test_every_kind_of_source_implements_the_protocol(workdir):
    """``ModelSource`` is a ``uqviz.sources.Source`` as ``TrainedSource`` and ``FileSource``
    are: its spec, no training split, and its groups' images made as its engine made them."""
    from uqviz.sources import YOUR_MODEL, FileSource, NoImages, Source, TrainedSource

    members = [n for n in vars(Source) if not n.startswith("_")]
    assert {"kind", "label", "spec", "splits", "group_images", "with_plan"} <= set(members)
    for cls in (TrainedSource, FileSource, ModelSource):
        assert [n for n in members if not hasattr(cls, n)] == [], cls
    src = source(workdir)
    assert isinstance(src, Source) and src.kind == YOUR_MODEL
    spec = src.spec()
    assert spec.class_names == tuple(src.config.classes) and spec.name == src.key
    with pytest.raises(NoImages, match="no training split"):
        src.splits()
    clean = src.group_images("test")
    noisy = src.group_images("gaussian_noise:3")
    assert len(clean) == 12 and noisy.shape == clean.shape and not np.array_equal(noisy, clean)
    file = FileSource("mine.csv", "ab12cd34", loaded=None)
    for call in (file.spec, file.splits, file.test_images, lambda: file.group_images("test"),
                 lambda: file.ood_images("ood:x")):
        with pytest.raises(NoImages, match=r"mine.csv \(your predictions\) holds predictions"):
            call()


def test_streaming_holds_one_batch(workdir):
    images = scan_folder(workdir / "images", CLASSES)
    sizes = [len(b.rows) for b in iter_batches(images, model_config(workdir / "net.pt"), 5)]
    assert sizes == [5, 5, 5, 3]


# -- methods ----------------------------------------------------------------------------------
def test_methods_groups_ids_cache_and_key(workdir, tmp_path):
    ood = write_folder(tmp_path / "street", {"x": 3}, seed=5)
    plan = EvalPlan(corruptions=("gaussian_noise",), severities=(2,), ood_sets=("uniform_noise",),
                    ood_size=4)
    src = source(workdir, plan=plan, ood=ood, settings=MethodSettings(tta_samples=3,
                                                                      mc_samples=4))
    assert src.methods == ["softmax", "temperature", "tta", "mc_dropout"]
    assert src.key.startswith("model:net.pt#") and len(src.key) == len("model:net.pt#") + 8
    run = src.run(src.methods)
    shapes = {m: p.probs.shape for m, p in run.predictions.items()}
    n = 12 + 12 + 3 + 4 + 6  # test, noisy test, two OOD sets, the calibration part as fit rows
    assert shapes == {"softmax": (1, n, 3), "temperature": (1, n, 3), "tta": (3, n, 3),
                      "mc_dropout": (4, n, 3)}
    p = run.predictions["tta"]
    assert p.groups == ["test", "gaussian_noise:2", "ood:street", "ood:uniform_noise", "fit"]
    assert p.ids[12] == f"gaussian_noise:2/{p.ids[0]}" and p.ids[24] == "ood:street/x/0.png"
    assert (p.labels[p.is_ood] == -1).all() and p.is_ood.sum() == 7
    assert p.features.shape == (n, 8) and p.scores["mahalanobis"].shape == (n,)
    assert run.temperature > 0 and run.predictions["softmax"].class_names == CLASSES
    assert src.missing(src.methods) == []
    again = source(workdir, plan=plan, ood=ood, settings=MethodSettings(tta_samples=3,
                                                                        mc_samples=4))
    np.testing.assert_array_equal(again.predictions(["mc_dropout"])["mc_dropout"].probs,
                                  run.predictions["mc_dropout"].probs)


def test_tta_augmentations_are_seeded_and_flip_only_when_allowed():
    a, b = tta_augmentations(6, 0, flips=True), tta_augmentations(6, 0, flips=True)
    assert a == b and a[0] == Augmentation() and len(a) == 6
    assert tta_augmentations(6, 1, flips=True) != a
    assert not any(aug.flip for aug in tta_augmentations(50, 0, flips=False))
    assert any(aug.flip for aug in tta_augmentations(50, 0, flips=True))
    assert all(0.85 <= aug.side <= 0.95 and abs(aug.dx) <= 1 - aug.side
               for aug in tta_augmentations(50, 0, flips=True)[1:])
    x = torch.rand(2, 3, 8, 8)
    assert augment(x, Augmentation()) is x
    assert torch.allclose(augment(x, Augmentation(1.0, 0.0, 0.0, True)), x.flip(-1), atol=1e-6)
    assert augment(x, a[1]).shape == x.shape


def test_tta_predictions_are_seeded(workdir):
    def tta(seed):
        settings = MethodSettings(tta_samples=4, seed=seed)
        return source(workdir, settings=settings).predictions(["tta"])["tta"]

    first, again, other = tta(0), tta(0), tta(1)  # the seed also draws the split
    assert first.in_group("test").probs.shape == (4, 12, 3)
    np.testing.assert_array_equal(first.probs, again.probs)
    shared = [i for i in first.ids if i in set(other.ids)]
    a = first.probs[:, [list(first.ids).index(i) for i in shared]]
    b = other.probs[:, [list(other.ids).index(i) for i in shared]]
    np.testing.assert_array_equal(a[0], b[0])  # the image itself
    assert len(shared) >= 6 and not np.allclose(a[1:], b[1:])  # other crops


def test_mc_dropout_switches_on_only_dropout(workdir, net, tmp_path):
    model = load_in_process(workdir / "net.pt", model_config(workdir / "net.pt"),
                            torch.device("cpu"))
    assert model.why_no_dropout() is None
    x = torch.rand(4, 3, SIZE, SIZE)
    before = {k: v.clone() for k, v in model.module.state_dict().items()}
    with model.dropout_sampling():
        on = {name: m.training for name, m in model.module.named_modules()}
        first, second = model.run(x)[0], model.run(x)[0]
    assert on == {"": False, "conv": False, "bn": False, "drop": True, "fc": False}
    assert not np.array_equal(first, second)
    assert all(torch.equal(before[k], v) for k, v in model.module.state_dict().items())
    assert not any(m.training for m in model.module.modules())
    np.testing.assert_array_equal(model.run(x)[0], model.run(x)[0])
    # through the model's own process: seeded by the caller's generator, off outside
    worker = load_model(workdir / "net.pt", model_config(workdir / "net.pt"))
    with worker.dropout_sampling():
        torch.manual_seed(7)
        seeded, other = worker.run(x)[0], worker.run(x)[0]
        torch.manual_seed(7)
        np.testing.assert_array_equal(worker.run(x)[0], seeded)
    assert not np.array_equal(seeded, other)
    np.testing.assert_array_equal(worker.run(x)[0], model.run(x)[0])
    export_torchscript(net, tmp_path / "traced.pt", trace=True)
    export_torchscript(TinyNet(dropout=0.0).eval(), tmp_path / "plain.pt")
    export_pt2(net, tmp_path / "net.pt2")
    config = model_config(workdir / "net.pt")
    assert load_model(tmp_path / "traced.pt", config).why_no_dropout() == (
        "traced.pt has dropout layers, but switching them on changes nothing (a traced model "
        "records dropout as off); export it with torch.jit.script(model).save(path) to sample "
        "dropout")
    assert load_model(tmp_path / "plain.pt", config).why_no_dropout() == (
        "plain.pt has no dropout layer (with p > 0) to sample")
    assert load_model(tmp_path / "net.pt2", config).why_no_dropout() == (
        "net.pt2 is an exported program model: its dropout layers are fixed in inference mode "
        "and cannot be switched on; export it with torch.jit.script(model).save(path) to "
        "sample dropout")


def test_an_ensemble_of_checkpoints(workdir, tmp_path):
    shutil.copy(workdir / "net.pt", tmp_path / "a.pt")
    export_torchscript(train_tiny_net(seed=1, steps=20), tmp_path / "b.pt")
    write_config(tmp_path)
    shutil.copytree(workdir / "images", tmp_path / "images")
    src = source(tmp_path, ("a.pt", "b.pt"))
    assert "ensemble" in src.methods
    p = src.predictions(["ensemble"])["ensemble"]
    p = p.in_group("test")
    assert p.probs.shape == (2, 12, 3) and not np.allclose(p.probs[0], p.probs[1])
    assert source(workdir).why_not("ensemble") == (
        "An ensemble needs two or more model files with the same classes; only net.pt was given")
    write_config(tmp_path, name="b.pt.json", classes=["red", "green", "teal"])
    assert error_of(source, tmp_path, ("a.pt", "b.pt")) == (
        'b.pt and a.pt cannot form an ensemble: classes ["red", "green", "teal"] in b.pt.json '
        'but ["red", "green", "blue"] in model.json')
    write_config(tmp_path, name="b.pt.json", input_size=[8, 8])
    assert error_of(source, tmp_path, ("a.pt", "b.pt")) == (
        "b.pt and a.pt cannot form an ensemble: input_size [8, 8] in b.pt.json but [16, 16] in "
        "model.json")


class _NaNForRed(torch.nn.Module):
    """Logits of a fixed linear map of the mean colour, NaN where red dominates."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        colour = x.mean(dim=(2, 3))
        logits = colour * 4.0
        red = colour[:, 0] > colour[:, 2] + 0.5
        return torch.where(red[:, None], torch.full_like(logits, float("nan")), logits)


def test_nan_outputs_name_how_many_rows(tmp_path, workdir):
    torch.jit.script(_NaNForRed()).save(str(tmp_path / "nan.pt"))
    write_config(tmp_path, features_output=None)
    shutil.copytree(workdir / "images", tmp_path / "images")
    src = source(tmp_path, ("nan.pt",))
    red_test = sum(f.startswith("red/") for f in src.split.test.files)
    assert red_test == 5
    assert error_of(src.run, ["softmax"]) == (
        "nan.pt gave NaN outputs for 5 of 12 rows (Softmax; first: red/0.png)")
    first_red = next(f for f in src.split.calibration.files if f.startswith("red/"))
    assert error_of(src.run, ["temperature"]) == (
        f"nan.pt gave NaN outputs for 2 of 6 rows (the calibration part; first: {first_red})")


def test_a_failing_method_loses_nothing_already_computed(tmp_path, workdir):
    shutil.copy(workdir / "net.pt", tmp_path)
    torch.jit.script(_NaNForRed()).save(str(tmp_path / "nan.pt"))
    write_config(tmp_path)
    write_config(tmp_path, name="nan.pt.json", features_output=None)
    shutil.copytree(workdir / "images", tmp_path / "images")
    src = source(tmp_path, ("net.pt", "nan.pt"))
    with pytest.raises(PartialResults) as info:
        src.run(["softmax", "ensemble"])
    assert str(info.value) == (
        "nan.pt gave NaN outputs for 7 of 18 rows (Your ensemble; first: "
        "red/0.png)")
    assert list(info.value.predictions) == ["softmax"]
    assert src.missing(["softmax", "ensemble"]) == ["ensemble"]


def test_probabilities_outputs_are_checked(tmp_path, workdir):
    write_config(tmp_path, outputs="probabilities")
    shutil.copy(workdir / "net.pt", tmp_path)
    shutil.copytree(workdir / "images", tmp_path / "images")
    assert error_of(source(tmp_path).run, ["softmax"]).startswith(
        "net.pt: outputs are not probabilities (a row sums to ")


def test_the_runs_mahalanobis_score_is_the_ood_pages_fitted_on_the_fit_rows(workdir):
    """One Mahalanobis: the per-row score a run adds is ``uqviz.metrics.ood_scores``'
    ``fit_mahalanobis`` fitted on the fit rows (the labelled calibration part)."""
    from uqviz.metrics.ood_scores import fit_mahalanobis

    p = source(workdir).predictions(["softmax"])["softmax"]
    fit = p.in_group("fit")
    expected = fit_mahalanobis(fit.features, fit.labels).score(p.features)
    np.testing.assert_array_equal(p.scores["mahalanobis"], expected)


def test_mahalanobis_matches_scikit_learn():
    """``fit_mahalanobis`` (float32 storage, a 1e-6 ridge) against scikit-learn's empirical
    covariance of the class-centred features."""
    from uqviz.metrics.ood_scores import fit_mahalanobis

    rng = np.random.default_rng(200)
    labels = rng.integers(0, 3, 200)
    features = rng.normal(size=(200, 5)) + labels[:, None]
    fit = fit_mahalanobis(features.astype(np.float32), labels)
    means = np.stack([features[labels == c].mean(0) for c in range(3)])
    shared = EmpiricalCovariance(assume_centered=True).fit(features - means[labels])
    queries = rng.normal(size=(50, 5)) * 2
    expected = np.stack([shared.mahalanobis(queries - m) for m in means], axis=1)
    np.testing.assert_allclose(fit.score(queries.astype(np.float32)), expected.min(axis=1),
                               rtol=1e-4)


# -- single pictures (the Your images page) -----------------------------------------------------
def test_a_picture_is_predicted_as_the_run_predicts_its_file(workdir, net):
    """A picture prepared by ``prepare_picture`` (a file of the folder, and the same file at
    another size) gets, for every method, the probabilities the run gave that file; softmax
    equals the network's own."""
    from uqviz.user_model.images import prepare_picture

    src = source(workdir)
    methods = src.methods
    run = src.predictions(methods)
    p = run["softmax"]
    ids = [i for i in p.ids[p.group == "test"]][:3]
    pictures = [prepare_picture(Image.open(workdir / "images" / i), src.config) for i in ids]
    assert "kept at 16×16 px" in pictures[0].steps
    got = src.predict_images(torch.stack([pic.tensor for pic in pictures]), methods)
    rows = [int(np.flatnonzero((p.ids == i) & (p.group == "test"))[0]) for i in ids]
    for m in methods:
        assert got[m].shape == (run[m].probs.shape[0], 3, 3)
        np.testing.assert_allclose(got[m].sum(axis=-1), 1.0, atol=1e-5)
        if m not in ("tta", "mc_dropout"):  # these draw augmentations / masks per batch
            np.testing.assert_allclose(got[m], run[m].probs[:, rows], atol=1e-5, err_msg=m)
    np.testing.assert_allclose(got["softmax"][0], reference_probs(net, workdir / "images", ids),
                               atol=1e-4)
    big = Image.open(workdir / "images" / ids[0]).resize((64, 48))
    assert "resized to 16×16 px (bilinear)" in prepare_picture(big, src.config).steps


def test_a_picture_for_a_method_that_does_not_apply_is_one_line(workdir):
    src = source(workdir)
    message = error_of(src.predict_images, torch.zeros(1, 3, 16, 16), ["ensemble"])
    assert "ensemble" in message.lower()
