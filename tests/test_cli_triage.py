"""``python -m uqviz triage`` and ``team``: a policy from ``evaluate --model`` and ``referral
--out`` applied to new, unlabelled images; the decisions equal the model's own outputs image
by image; bad input gets one line and loses nothing."""

from __future__ import annotations

import csv
import json
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from tests.test_cli import run_cli
from tests.user_model_fixtures import (
    CLASSES,
    COLOURS,
    SIZE,
    export_torchscript,
    normalise,
    train_tiny_net,
    write_config,
)
from uqviz.__main__ import main


def mixed_pixels(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (n, H, W, 3) images mixing two class colours (weight w ~ U(0.3, 1) on the first)
    plus noise, labelled by the heavier colour: near w = 0.5 the tiny net is unsure and wrong."""
    a = rng.integers(0, 3, n)
    b = (a + rng.integers(1, 3, n)) % 3
    w = rng.uniform(0.3, 1.0, n)
    colours = np.asarray([COLOURS[c] for c in CLASSES], dtype=float)
    mean = w[:, None] * colours[a] + (1 - w[:, None]) * colours[b]
    pixels = mean[:, None, None] + rng.normal(0, 35, (n, SIZE, SIZE, 3))
    return np.clip(pixels, 0, 255).astype(np.uint8), np.where(w >= 0.5, a, b)


def write_images(folder, pixels, names) -> None:
    for array, name in zip(pixels, names, strict=True):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(folder / name)


def read_csv(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A scripted model, another one, model.json, a labelled folder of 120 mixed images, and a
    nested folder of 40 new unlabelled ones with a corrupt file and a text file among them."""
    root = tmp_path_factory.mktemp("triage")
    export_torchscript(train_tiny_net(seed=0, steps=40), root / "a.pt")
    export_torchscript(train_tiny_net(seed=1, steps=5), root / "other.pt")
    write_config(root)
    rng = np.random.default_rng(0)
    pixels, labels = mixed_pixels(rng, 120)
    write_images(root / "labelled", pixels,
                 [f"{CLASSES[k]}/{i}.png" for i, k in enumerate(labels)])
    pixels, labels = mixed_pixels(rng, 40)
    names = [f"day{1 + i % 2}/{'scan' if i % 3 else 'sub/scan'}{i}.png" for i in range(40)]
    write_images(root / "new", pixels, names)
    (root / "new" / "day1" / "broken.png").write_bytes(b"not an image")
    (root / "new" / "notes.txt").write_text("not an image either")
    (root / "truth.json").write_text(json.dumps(dict(zip(names, (CLASSES[k] for k in labels),
                                                         strict=True))))
    return root


@pytest.fixture(scope="module")
def policy(work):
    """``evaluate --model`` then ``referral --out``, run as the command line runs them."""
    assert main(["evaluate", "--model", str(work / "a.pt"), "--dataset",
                 f"folder:{work / 'labelled'}", "--methods", "softmax", "--corruptions",
                 "gaussian_noise", "--out", str(work / "ev")]) == 0
    path = work / "policy.json"
    assert main(["referral", str(work / "ev" / "predictions.parquet"), "--target-accuracy",
                 "0.9", "--calibration-share", "1", "--out", str(path)]) == 0
    return path


def test_referral_out_records_the_model_and_the_guarantee(policy, work):
    import hashlib

    doc = json.loads(policy.read_text())
    assert doc["format_version"] == 1 and doc["uqviz_version"]
    assert doc["method"] == "softmax" and doc["score"] == "max_prob"
    assert doc["classes"] == list(CLASSES)
    digest = hashlib.sha256((work / "a.pt").read_bytes()).hexdigest()
    assert doc["model"]["files"] == [{"name": "a.pt", "sha256": digest}]
    assert doc["model"]["config"]["classes"] == list(CLASSES)
    assert doc["model"]["config"]["input_size"] == [SIZE, SIZE]
    g = doc["guarantee"]
    assert g["target_accuracy"] == 0.9 and g["confidence"] == 0.95
    assert g["method"] == "ltt_fallback" and doc["calibration_size"] == g["n_calibration"]
    assert doc["threshold"] == g["threshold"]
    lo, hi = doc["expected_referral_rate_ci95"]
    assert lo <= doc["expected_referral_rate"] <= hi


@pytest.fixture(scope="module")
def triaged(work, policy):
    """The real command line on the nested folder, with the policy's threshold moved to 0.25
    so that some images are referred and some automated (the model record kept)."""
    doc = json.loads(policy.read_text())
    doc["threshold"] = 0.25
    moved = work / "policy-0.25.json"
    moved.write_text(json.dumps(doc))
    out = run_cli("triage", "--policy", moved, "--model", work / "a.pt", "--images",
                  work / "new", "--out", work / "out", "--batch-size", 7)
    assert out.returncode == 0, out.stderr
    assert "broken.png" in out.stderr and "Traceback" not in out.stderr
    return work / "out"


def test_decisions_equal_the_model_on_each_image_alone(work, triaged):
    rows = read_csv(triaged / "decisions.csv")
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)  # read order: by path
    assert len(rows) == 40 and "day1/broken.png" not in {r["id"] for r in rows}
    model = torch.jit.load(str(work / "a.pt")).eval()
    referred = 0
    for row in rows:
        image = np.asarray(Image.open(work / "new" / row["id"]).convert("RGB"))
        x = normalise(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0)
        with torch.no_grad():
            p = torch.softmax(model(x)[0].double(), 1)[0].numpy()
        score = 1.0 - p.max()
        assert row["predicted"] == CLASSES[int(p.argmax())]
        assert float(row["probability"]) == pytest.approx(p.max(), abs=1e-5)
        assert float(row["score"]) == pytest.approx(score, abs=1e-5)
        if abs(score - 0.25) > 1e-5:
            assert row["decision"] == ("refer" if score > 0.25 else "automate")
        referred += row["decision"] == "refer"
    assert 0 < referred < 40


def test_queue_zip_and_summary(work, triaged):
    decisions = {r["id"]: r for r in read_csv(triaged / "decisions.csv")}
    queue = read_csv(triaged / "review_queue.csv")
    referred = [i for i, r in decisions.items() if r["decision"] == "refer"]
    assert sorted(r["id"] for r in queue) == sorted(referred)
    scores = [float(r["score"]) for r in queue]
    assert scores == sorted(scores, reverse=True)  # most uncertain first
    first = queue[0]
    assert first["rank"] == "1" and first["class_1"] == decisions[first["id"]]["predicted"]
    assert float(first["probability_1"]) >= float(first["probability_2"]) >= float(
        first["probability_3"])
    with zipfile.ZipFile(triaged / "review.zip") as archive:
        names = archive.namelist()
        assert names[:-1] == [r["file"] for r in queue] and names[-1] == "labels.csv"
        assert names[0] == "0001__" + first["id"].replace("/", "__")
        assert archive.read(names[0]) == (work / "new" / first["id"]).read_bytes()
        template = list(csv.DictReader(archive.read("labels.csv").decode().splitlines()))
    assert [t["id"] for t in template] == [r["id"] for r in queue]
    summary = json.loads((triaged / "summary.json").read_text())
    assert summary["images"] == 41 and summary["decided"] == 40
    assert summary["referred"] == len(referred)
    assert summary["referred_share"] == pytest.approx(len(referred) / 40)
    lo, hi = summary["referred_share_ci95"]
    assert lo < summary["referred_share"] < hi
    assert summary["skipped"][0]["id"] == "day1/broken.png"
    assert summary["classes"] == list(CLASSES)


def test_team_from_reviewed_labels(work, triaged, tmp_path):
    truth = json.loads((work / "truth.json").read_text())
    decisions = read_csv(triaged / "decisions.csv")
    labelled = [r["id"] for r in decisions if r["decision"] == "refer"]
    audit = [r["id"] for r in decisions if r["decision"] == "automate"][:10]
    with open(tmp_path / "reviewed.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "label"])
        writer.writerows([i, truth[i]] for i in labelled + audit)
    out = run_cli("team", triaged / "decisions.csv", "--labels", tmp_path / "reviewed.csv",
                  "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    by_id = {r["id"]: r for r in decisions}
    right = sum(by_id[i]["predicted"] == truth[i] for i in audit)
    assert doc["audited"]["n"] == 10 and doc["audited"]["correct"] == right
    assert doc["reviewed"] == len(labelled) and doc["reviewer_accuracy_assumed"]
    n_ref = len(labelled)
    assert doc["team_accuracy"] == pytest.approx(((40 - n_ref) * right / 10 + n_ref) / 40)
    assert doc["guarantee"]["target"] == 0.9


def one_line(capsys, argv) -> str:
    """``main`` in this process exits 2 with exactly one line on stderr."""
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err.strip().removeprefix("error: ")


def test_a_policy_for_another_model_or_class_list_is_refused(work, policy, tmp_path, capsys):
    base = ["triage", "--policy", policy, "--images", work / "new", "--out", tmp_path / "o"]
    assert "another model, refused" in one_line(capsys, [*base, "--model", work / "other.pt"])
    doc = json.loads(policy.read_text())
    doc["classes"] = ["cat", "dog", "bird"]
    (tmp_path / "cats.json").write_text(json.dumps(doc))
    line = one_line(capsys, ["triage", "--policy", tmp_path / "cats.json", "--model",
                             work / "a.pt", "--images", work / "new", "--out", tmp_path / "o"])
    assert line.startswith("the policy is for the classes (cat, dog, bird)")
    (tmp_path / "broken.json").write_text("{not json")
    assert one_line(capsys, ["triage", "--policy", tmp_path / "broken.json", "--model",
                             work / "a.pt", "--images", work / "new", "--out",
                             tmp_path / "o"]) == "broken.json: not a JSON policy file"
    assert not (tmp_path / "o").exists()


def test_an_empty_folder_and_a_zip_attack_are_refused(work, policy, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    base = ["triage", "--policy", policy, "--model", work / "a.pt", "--out", tmp_path / "o"]
    assert "no images in the folder" in one_line(capsys, [*base, "--images", tmp_path / "empty"])
    with zipfile.ZipFile(tmp_path / "slip.zip", "w") as archive:
        archive.writestr("ok.png", next((work / "new").rglob("*.png")).read_bytes())
        archive.writestr("../../evil.png", b"x")
    line = one_line(capsys, [*base, "--images", tmp_path / "slip.zip"])
    assert line == "slip.zip: refused, member '../../evil.png' climbs out of the folder with '..'"
    assert not (tmp_path / "o").exists() and not (tmp_path.parent / "evil.png").exists()


def test_a_zip_of_images_is_triaged_like_the_folder(work, policy, tmp_path, capsys):
    with zipfile.ZipFile(tmp_path / "new.zip", "w") as archive:
        for path in sorted((work / "new" / "day2").rglob("*.png")):
            archive.write(path, path.relative_to(work / "new").as_posix())
    assert main(["triage", "--policy", str(policy), "--model", str(work / "a.pt"), "--images",
                 str(tmp_path / "new.zip"), "--out", str(tmp_path / "z")]) == 0
    zipped = read_csv(tmp_path / "z" / "decisions.csv")
    assert len(zipped) == 20 and all(r["id"].startswith("day2/") for r in zipped)


def test_labels_with_unknown_ids_or_classes_are_refused(triaged, tmp_path, capsys):
    decisions = read_csv(triaged / "decisions.csv")
    (tmp_path / "ids.csv").write_text("id,label\nnobody.png,red\n")
    line = one_line(capsys, ["team", triaged / "decisions.csv", "--labels",
                             tmp_path / "ids.csv"])
    assert line == "ids.csv: line 2: id 'nobody.png' is not in the decisions"
    (tmp_path / "cls.csv").write_text(f"id,label\n{decisions[0]['id']},purple\n")
    line = one_line(capsys, ["team", triaged / "decisions.csv", "--labels",
                             tmp_path / "cls.csv"])
    assert line == ("cls.csv: line 2: label 'purple' is not one of the classes (red, green, "
                    "blue); write 'none' for a case that is none of them")


def test_referral_on_the_model_directly_writes_the_same_policy(work, policy, tmp_path):
    """``referral --model … --dataset folder:DIR`` predicts on the same test part as
    ``evaluate --model`` then ``referral FILE``: the same threshold and model record."""
    assert main(["referral", "--model", str(work / "a.pt"), "--dataset",
                 f"folder:{work / 'labelled'}", "--target-accuracy", "0.9",
                 "--calibration-share", "1", "--out", str(tmp_path / "direct.json")]) == 0
    direct, via_file = (json.loads(p.read_text()) for p in (tmp_path / "direct.json", policy))
    assert direct["threshold"] == via_file["threshold"]
    assert direct["model"] == via_file["model"]
    assert direct["guarantee"]["n_calibration"] == via_file["guarantee"]["n_calibration"]


def test_a_temperature_policy_records_and_applies_its_temperature(work, tmp_path):
    assert main(["referral", "--model", str(work / "a.pt"), "--dataset",
                 f"folder:{work / 'labelled'}", "--method", "temperature",
                 "--target-accuracy", "0.9", "--out", str(tmp_path / "t.json")]) == 0
    doc = json.loads((tmp_path / "t.json").read_text())
    temperature = doc["model"]["settings"]["temperature"]
    assert doc["method"] == "temperature" and temperature > 0
    doc["threshold"] = 0.25
    (tmp_path / "t.json").write_text(json.dumps(doc))
    assert main(["triage", "--policy", str(tmp_path / "t.json"), "--model", str(work / "a.pt"),
                 "--images", str(work / "new" / "day2"), "--out", str(tmp_path / "o")]) == 0
    model = torch.jit.load(str(work / "a.pt")).eval()
    for row in read_csv(tmp_path / "o" / "decisions.csv"):
        image = np.array(Image.open(work / "new" / "day2" / row["id"]).convert("RGB"))
        x = normalise(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0)
        with torch.no_grad():
            p = torch.softmax(model(x)[0].double() / temperature, 1)[0].numpy()
        assert float(row["probability"]) == pytest.approx(p.max(), abs=1e-5)


@pytest.mark.slow
def test_two_processes_write_the_same_files(work, triaged):
    """``--devices 2`` (Lightning Fabric, gloo, two CPU processes): batch k goes to rank
    k % 2; every output file is byte for byte the one process's."""
    doc = json.loads((work / "policy-0.25.json").read_text())
    assert doc["threshold"] == 0.25
    out = run_cli("triage", "--policy", work / "policy-0.25.json", "--model", work / "a.pt",
                  "--images", work / "new", "--out", work / "out2", "--batch-size", 7,
                  "--devices", 2)
    assert out.returncode == 0, out.stderr
    for name in ("decisions.csv", "review_queue.csv", "review.zip", "summary.json"):
        assert (work / "out2" / name).read_bytes() == (triaged / name).read_bytes(), name
    assert not (work / "out2" / ".shards").exists()
