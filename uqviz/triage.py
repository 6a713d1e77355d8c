"""Triage: a referral policy applied to new, unlabelled images, and what it hands to people.

``Triage`` runs a user's model (``uqviz.user_model``: every model in a worker process of its
own, vetted first) on a folder of images, ``batch_size`` at a time, and applies the policy
(``uqviz.policy.Policy.decide``) to each batch as it comes: memory holds one batch of pixels
and, per image, its id and a few numbers. Images are read with the defences of the user-model
path (``uqviz.user_model.images``: links that lead outside the folder are never followed,
size limits and decompression bombs are refused per image); a zip is extracted with
``uqviz.data.zip_upload.extract_zip`` (zip-slip, links, zip bombs refused whole). An image that
cannot be read is skipped and listed, the rest go on.

The outputs (``write_outputs``):

* ``decisions.csv``: one row per image read, in the order read: ``id`` (the path relative to
  the folder), ``predicted`` (class name), ``probability`` (the mean probability of it),
  ``score`` (the policy's uncertainty score), ``decision`` (``automate`` or ``refer``);
* ``review_queue.csv``: the referred images only, most uncertain first (highest score; ties in
  read order), with ``rank``, ``file`` (the name in ``review.zip``), the top three classes and
  their probabilities, and an empty ``label`` column for the reviewer;
* ``review.zip``: those images in the queue's order, named ``0001__<id, "/" as "__">`` so that
  the queue's rank and the id read at a glance, with ``labels.csv`` (``id,label``, the labels
  empty) for the reviewers to fill in and give back to ``python -m uqviz team``;
* ``summary.json``: counts, the referred share with its 95% Wilson interval, the policy's
  expected share with its interval, a warning in words when they disagree, the skipped files.

Only deterministic methods run here (``TRIAGE_METHODS``): MC dropout draws its masks per
batch, so its decisions would depend on how the images were batched.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from uqviz.metrics.classification import wilson_ci
from uqviz.policy import Decisions, Policy, guarantee_warning, guaranteed_accuracy

TRIAGE_METHODS = ("softmax", "temperature", "tta", "ensemble")
AUTOMATE, REFER = "automate", "refer"
TOP_CLASSES = 3
DECISION_COLUMNS = ("id", "predicted", "probability", "score", "decision")
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # review.zip's entries: the same bytes for the same queue


# -- the share referred against the one expected (pure) -----------------------------------------
@dataclass(frozen=True)
class ShareCheck:
    """The referred share seen in a triage against the share the policy expected.

    Attributes:
        n: images decided.
        referred: images referred.
        share: ``referred / n`` (NaN when n = 0).
        ci95: its 95% Wilson interval.
        expected: the policy's expected share, or None when it has none.
        expected_ci95: its 95% interval, or None.
        disagree: the two 95% intervals do not overlap (see ``check_share``).
        warning: the disagreement in words, or None.
    """

    n: int
    referred: int
    share: float
    ci95: tuple[float, float]
    expected: float | None
    expected_ci95: tuple[float, float] | None
    disagree: bool
    warning: str | None


def check_share(referred: int, n: int, expected: float | None,
                expected_ci95: tuple[float, float] | None) -> ShareCheck:
    """Compare the referred share ``k/n`` with the expected one.

    The share's interval is Wilson's (``wilson_ci``, 95%). They *disagree* when the two 95%
    intervals do not overlap (the expected share's own interval, or the point when it has
    none): a conservative test, rejecting "same share" at a level well below 5% for two
    independent samples (Schenker & Gentleman 2001), so a warning is rarely a false alarm. A
    disagreement says the images are not like those the policy was set on (the stream may have
    shifted, e.g. another scanner, another population), or the model is not the same: the
    guarantee, made for the calibration distribution, may not hold.

    References: Wilson, JASA 22 (1927); Schenker & Gentleman, "On judging the significance of
    differences by examining the overlap between confidence intervals", The American
    Statistician 55 (2001).
    """
    if n == 0:
        nan = float("nan")
        return ShareCheck(0, 0, nan, (nan, nan), expected, expected_ci95, False, None)
    lo, hi = wilson_ci(referred, n)
    share = referred / n
    if expected is None:
        return ShareCheck(n, referred, share, (lo, hi), None, None, False, None)
    e_lo, e_hi = expected_ci95 if expected_ci95 is not None else (expected, expected)
    disagree = hi < e_lo or lo > e_hi
    warning = None
    if disagree:
        more = "more" if share > expected else "fewer"
        warning = (f"{100 * share:.1f}% of the images were referred (95% interval "
                   f"{100 * lo:.1f}–{100 * hi:.1f}%), {more} than the {100 * expected:.1f}% "
                   f"the policy expected ({100 * e_lo:.1f}–{100 * e_hi:.1f}%): these images "
                   "may not be like those the policy was set on (a shift in the stream, "
                   "another model or another preprocessing); its guarantee may not hold here")
    return ShareCheck(n, referred, share, (lo, hi), expected,
                      None if expected_ci95 is None else tuple(expected_ci95), disagree, warning)


def review_name(rank: int, image_id: str, width: int = 4) -> str:
    """The name of a referred image in ``review.zip``: ``0001__scans__a.png`` for rank 1 and id
    ``scans/a.png`` (the rank zero-padded to ``width`` digits, ``/`` as ``__``)."""
    return f"{rank:0{width}d}__{image_id.replace('/', '__')}"


def queue_order(scores: np.ndarray) -> np.ndarray:
    """Indices of the referred rows, most uncertain (highest score) first, ties in read order."""
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")


# -- images to triage ---------------------------------------------------------------------------
@contextlib.contextmanager
def opened_images(path: str | Path) -> Iterator[Path]:
    """The folder of images to triage: ``path`` itself, or a ``.zip`` extracted safely into a
    temporary folder removed afterwards (``uqviz.data.zip_upload.extract_zip``).

    Raises:
        ValueError: no such file or folder, or an archive refused (``ZipRejected``), one line.
    """
    from uqviz.data.zip_upload import extract_zip

    path = Path(path).expanduser()
    if path.is_dir():
        yield path
        return
    if not path.is_file():
        raise ValueError(f"{path}: no such folder or zip")
    if path.suffix.lower() != ".zip":
        raise ValueError(f"{path.name}: give a folder of images or a .zip of them")
    with tempfile.TemporaryDirectory(prefix="uqviz-triage-") as tmp:
        yield extract_zip(path, Path(tmp) / "images").root


# -- the run -----------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class TriageBatch:
    """One batch decided.

    Attributes:
        ids: the images' ids (paths relative to the folder), in read order.
        decisions: the policy's ``Decisions`` for them.
        skipped: (id, why) of the files of this batch that could not be read.
    """

    ids: tuple[str, ...]
    decisions: Decisions
    skipped: tuple[tuple[str, str], ...]


@dataclass(frozen=True, eq=False)
class Triage:
    """A policy and the user's model files, checked against each other, ready to run.

    Build it with ``Triage.create`` (refuses another model, another class list or
    ``model.json``, and methods that do not run here, in one line).

    Attributes:
        policy: the ``Policy``.
        models: the model files (resolved paths).
        configs: their ``ModelConfig``.
        batch_size: images decoded and predicted at a time.
    """

    policy: Policy
    models: tuple[str, ...]
    configs: tuple
    batch_size: int = 64
    _loaded: list = field(default_factory=list, repr=False)

    @classmethod
    def create(cls, policy: Policy, models: Sequence[str | Path], *,
               config: str | Path | None = None, batch_size: int = 64) -> Triage:
        """Check the policy against the model files before anything is loaded.

        Raises:
            ValueError: a method that triage does not run, a missing temperature, model files
                or classes or config other than the policy's (one line).
        """
        from uqviz.user_model.config import ensemble_configs
        from uqviz.user_model.source import file_digest

        if batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {batch_size}")
        if policy.method not in TRIAGE_METHODS:
            raise ValueError(f"the policy's method {policy.method!r} does not run on new images "
                             f"here; triage runs {', '.join(TRIAGE_METHODS)} (MC dropout's "
                             "masks depend on the batching)")
        if not models:
            raise ValueError("give the model file(s) the policy was made for (--model)")
        paths = tuple(str(Path(m).expanduser().resolve()) for m in models)
        for path in paths:
            if not Path(path).is_file():
                raise ValueError(f"{Path(path).name}: no such model file")
        configs = ensemble_configs(list(paths), config)
        files = [(Path(p).name, file_digest(Path(p))) for p in paths]
        policy.check_model(files, configs[0].classes, config_values(configs[0]))
        if policy.method == "ensemble" and len(paths) < 2:
            raise ValueError("the policy's method is the ensemble: give its two or more model "
                             "files")
        if policy.method == "temperature" and policy.settings.get("temperature") is None:
            raise ValueError("the policy's method is temperature scaling but it records no "
                             "fitted temperature")
        if policy.needs_logits and any(c.outputs != "logits" for c in configs):
            raise ValueError(f"the policy's score {policy.score!r} is computed from logits but "
                             "the model outputs probabilities (model.json \"outputs\")")
        return cls(policy, paths, configs, batch_size)

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.configs[0].classes)

    def _engine(self, root: Path):
        from uqviz.training import no_progress
        from uqviz.user_model.engine import Engine
        from uqviz.user_model.images import ImageSet
        from uqviz.user_model.config import MethodSettings
        from uqviz.user_model.worker import load_model

        if not self._loaded:
            self._loaded.extend(load_model(p, c) for p, c in zip(self.models, self.configs,
                                                                 strict=True))
        s = self.policy.settings
        settings = MethodSettings(tta_samples=int(s.get("tta_samples", 8)),
                                  seed=int(s.get("seed", 0)), batch_size=self.batch_size)
        none = ImageSet(root, (), np.zeros(0, np.int64))
        return Engine(tuple(self._loaded), settings, none, [], root, [self.policy.method],
                      False, no_progress)

    def scan(self, root: Path):
        """The images under ``root`` (nested folders too; no labels needed), sorted by path
        (``uqviz.user_model.images.scan_folder``).

        Raises:
            ValueError: no images (one line).
        """
        from uqviz.user_model.images import scan_folder

        return scan_folder(root)

    def batches(self, images, share: tuple[int, int] = (0, 1)) -> Iterator[TriageBatch]:
        """Decide the images ``batch_size`` at a time, in read order. With ``share = (rank,
        world)`` only batches k with ``k % world == rank`` (one process's share): every batch
        holds the same files whatever the number of processes, so the decisions do too."""
        from uqviz.user_model.images import iter_batches

        rank, world = share
        engine = self._engine(images.root)
        temperature = self.policy.settings.get("temperature")
        for k in range(rank, -(-len(images) // self.batch_size), world):
            part = images.subset(np.arange(k * self.batch_size,
                                           min(len(images), (k + 1) * self.batch_size)))
            batch = next(iter_batches(part, self.configs[0], self.batch_size))
            skipped = tuple(_split_reason(r) for r in batch.skipped)
            ids = tuple(part.files[i] for i in batch.rows)
            if not ids:
                empty = np.zeros((1, 0, len(self.classes)))
                yield TriageBatch((), self.policy.decide(empty, logits=empty), skipped)
                continue
            yield TriageBatch(ids, _decide(engine, self.policy, batch.images, temperature),
                              skipped)

    def close(self) -> None:
        for model in self._loaded:
            close = getattr(model, "close", None)
            if close:
                close()
        self._loaded.clear()


def _decide(engine, policy: Policy, images, temperature: float | None) -> Decisions:
    """The policy's decisions on one batch: its method's probabilities and, when its score is
    computed from logits (``Policy.needs_logits``), the same pass's logits (``Engine.logits``:
    divided by the fitted temperature for temperature scaling), as ``Engine.predict_batch``
    makes the probabilities."""
    probs, logits = engine.batch_outputs(images, temperature, "triage")[policy.method]
    return policy.decide(probs, logits=logits if policy.needs_logits else None)


def model_record(models: Sequence[str | Path], configs: Sequence, *,
                 temperature: float | None, tta_samples: int, seed: int) -> dict:
    """A user's model as a policy records it (``uqviz.policy.model_provenance``): each file's
    name and SHA-256, the first config's values, and the settings triage needs to make the
    same probabilities (the fitted temperature, the test-time augmentation samples and seed)."""
    from uqviz.policy import model_provenance
    from uqviz.user_model.source import file_digest

    files = [(Path(p).name, file_digest(Path(p))) for p in models]
    return model_provenance(files, config_values(configs[0]),
                            settings={"temperature": temperature, "tta_samples": tta_samples,
                                      "seed": seed})


def config_values(config) -> dict:
    """A ``ModelConfig``'s values as ``model.json`` holds them (without ``source``), for a
    policy's record and its check."""
    values = asdict(config)
    values.pop("source", None)
    return values


def _split_reason(line: str) -> tuple[str, str]:
    name, _, why = line.partition(": ")
    return name, why or "cannot be read"


# -- the outputs -------------------------------------------------------------------------------
@dataclass
class _Queue:
    """The referred rows kept for the queue: id, score, top classes (a few numbers each)."""

    ids: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    top: list[list[tuple[str, float]]] = field(default_factory=list)


def write_outputs(out: Path, batches: Iterator[TriageBatch], classes: Sequence[str],
                  policy: Policy, images_root: Path | None, *, source: str = "",
                  pictures: Callable[[str], bytes] | None = None) -> dict:
    """Write ``decisions.csv``, ``review_queue.csv``, ``review.zip`` and ``summary.json``
    (module docstring) under ``out`` from the batches as they come; returns the summary.

    ``pictures``: an image's PNG bytes by id, for images that are no files (a built-in
    dataset's group, ``DemoTriage``; ``review.zip`` names them ``….png``); None reads each
    referred file again under ``images_root``.

    Each file is written under a temporary name and renamed when complete, so a run that
    fails leaves no half file.

    Raises:
        ValueError: no image could be read (one line).
    """
    from uqviz.data.folder import open_inside

    out.mkdir(parents=True, exist_ok=True)
    n = referred = 0
    skipped: list[tuple[str, str]] = []
    queue = _Queue()
    partial = out / ".decisions.csv.partial"
    with open(partial, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(DECISION_COLUMNS)
        for batch in batches:
            skipped += batch.skipped
            d = batch.decisions
            for i, image_id in enumerate(batch.ids):
                refer = bool(d.refer[i])
                writer.writerow([image_id, classes[d.predicted[i]], f"{d.probability[i]:.6g}",
                                 f"{d.score[i]:.9g}", REFER if refer else AUTOMATE])
                if refer:
                    queue.ids.append(image_id)
                    queue.scores.append(float(d.score[i]))
                    queue.top.append([(classes[c], float(p)) for c, p in
                                      zip(d.top_classes[i], d.top_probabilities[i], strict=True)])
            n += len(batch.ids)
            referred += int(d.refer.sum()) if len(batch.ids) else 0
    if n == 0:
        partial.unlink()
        first = f" (first: {skipped[0][0]}: {skipped[0][1]})" if skipped else ""
        raise ValueError(f"{source or images_root.name}: none of the {len(skipped)} images could "
                         f"be read{first}")
    os.replace(partial, out / "decisions.csv")
    order = queue_order(np.asarray(queue.scores))
    width = max(4, len(str(len(order))))
    suffix = ".png" if pictures else ""
    names = [review_name(rank + 1, queue.ids[k], width) + suffix
             for rank, k in enumerate(order)]
    _write_queue(out / "review_queue.csv", queue, order, names)
    _write_review_zip(out / "review.zip", queue, order, names, images_root, open_inside,
                      pictures)
    check = check_share(referred, n, policy.expected_referral_rate,
                        policy.expected_referral_rate_ci95)
    summary = {
        "images": n + len(skipped), "decided": n, "automated": n - referred,
        "referred": referred, "referred_share": check.share,
        "referred_share_ci95": list(check.ci95),
        "expected_referred_share": check.expected,
        "expected_referred_share_ci95": None if check.expected_ci95 is None
        else list(check.expected_ci95),
        "shift_warning": check.warning,
        "skipped": [{"id": i, "why": w} for i, w in skipped],
        "classes": list(classes),
        "policy": {"method": policy.method, "score": policy.score,
                   "threshold": policy.threshold,
                   "target_accuracy": (policy.guarantee or {}).get("target_accuracy"),
                   "confidence": (policy.guarantee or {}).get("confidence"),
                   "certified": (policy.guarantee or {}).get("certified"),
                   "guaranteed_accuracy": guaranteed_accuracy(policy.guarantee)},
        "guarantee_warning": guarantee_warning(policy.guarantee),
        "source": source,
    }
    _atomic_text(out / "summary.json", json.dumps(_finite(summary), indent=2))
    return summary


def _finite(value):
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _queue_rows(queue: _Queue, order: np.ndarray, names: list[str]) -> Iterator[list]:
    for rank, (k, name) in enumerate(zip(order, names, strict=True), start=1):
        top = queue.top[k] + [("", float("nan"))] * (TOP_CLASSES - len(queue.top[k]))
        cells = [rank, queue.ids[k], name, f"{queue.scores[k]:.9g}"]
        for cls_name, p in top[:TOP_CLASSES]:
            cells += [cls_name, "" if p != p else f"{p:.6g}"]
        yield cells + [""]


def _write_queue(path: Path, queue: _Queue, order: np.ndarray, names: list[str]) -> None:
    header = ["rank", "id", "file", "score"]
    for j in range(1, TOP_CLASSES + 1):
        header += [f"class_{j}", f"probability_{j}"]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header + ["label"])
    writer.writerows(_queue_rows(queue, order, names))
    _atomic_text(path, buffer.getvalue())


def _write_review_zip(path: Path, queue: _Queue, order: np.ndarray, names: list[str],
                      root: Path | None, open_inside,
                      pictures: Callable[[str], bytes] | None = None) -> None:
    """The referred images' bytes, read again safely (``open_inside``; or ``pictures``), in
    queue order, with a ``labels.csv`` to fill in."""
    tmp = path.with_name(f".{path.name}.partial")
    real_root = None if root is None else root.resolve()
    labels = io.StringIO()
    writer = csv.writer(labels)
    writer.writerow(["id", "label", "file"])
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
        for k, name in zip(order, names, strict=True):
            image_id = queue.ids[k]
            if pictures is not None:
                archive.writestr(zipfile.ZipInfo(name, ZIP_TIME), pictures(image_id))
                writer.writerow([image_id, "", name])
                continue
            try:
                with open_inside(real_root / image_id, real_root) as handle:
                    archive.writestr(zipfile.ZipInfo(name, ZIP_TIME), handle.read())
            except OSError:  # removed or replaced since it was read: listed, not packed
                name = ""
            writer.writerow([image_id, "", name])
        archive.writestr(zipfile.ZipInfo("labels.csv", ZIP_TIME), labels.getvalue())
    os.replace(tmp, path)


# -- the built-in demo: a dataset's group of rows as the new images ----------------------------
@dataclass(frozen=True, eq=False)
class DemoImages:
    """A built-in dataset's group of rows (``test``, ``brightness:5``, ``ood:uniform_noise`` …)
    as triage's images: image ``id`` is the row's position in the group.

    Attributes:
        group: the group's name.
        images: float32 (N, C, H, W) in [0, 1], the rows as the evaluation makes them
            (``uqviz.runs.evaluation_inputs``: the same corruption seeds, the same OOD draw).
    """

    group: str
    images: np.ndarray
    root = None

    def __len__(self) -> int:
        return len(self.images)

    def picture(self, image_id: str) -> bytes:
        """Row ``image_id``'s PNG (grey for one channel), for ``review.zip``."""
        from PIL import Image

        pixels = np.clip(np.rint(self.images[int(image_id)] * 255.0), 0, 255).astype(np.uint8)
        image = Image.fromarray(pixels[0] if pixels.shape[0] == 1 else pixels.transpose(1, 2, 0))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()


def review_pictures(images) -> Callable[[str], bytes] | None:
    """``write_outputs``'s ``pictures`` for images that are no files (``DemoImages``)."""
    return images.picture if isinstance(images, DemoImages) else None


def demo_block(spec, group: str, n_test: int):
    """The ``uqviz.precompute.Block`` that makes ``group`` of a built-in dataset with the app's
    plan's seed (``uqviz.sources.APP_PLAN``): ``test``, ``<corruption>:<1-5>`` (any
    corruption) or ``ood:<set>`` (the dataset's OOD sets).

    Raises:
        ValueError: another group (one line listing the valid ones).
    """
    from uqviz.precompute import Block
    from uqviz.predictions import OOD_PREFIX, TEST_GROUP, parse_shift_group
    from uqviz.runs import EvalPlan
    from uqviz.shifts import CORRUPTIONS
    from uqviz.sources import APP_PLAN

    if group == TEST_GROUP:
        return Block(TEST_GROUP, n_test, True, None)
    parsed = parse_shift_group(group)
    if parsed is not None and parsed[0] in CORRUPTIONS and 1 <= parsed[1] <= 5:
        plan = EvalPlan(corruptions=(parsed[0],), severities=(parsed[1],), ood_sets=(),
                        seed=APP_PLAN.seed)
        return Block(group, n_test, True, plan)
    name = group.removeprefix(OOD_PREFIX)
    if group.startswith(OOD_PREFIX) and name in spec.ood_sets:
        plan = EvalPlan(corruptions=(), ood_sets=(name,), ood_size=APP_PLAN.ood_size,
                        seed=APP_PLAN.seed)
        return Block(group, APP_PLAN.ood_size or n_test, False, plan)
    sets = ", ".join(f"{OOD_PREFIX}{n}" for n in spec.ood_sets)
    raise ValueError(f"--group {group!r}: not a group of {spec.name}; give test, a corruption "
                     f"and severity such as brightness:5 (corruptions: {', '.join(CORRUPTIONS)}) "
                     f"or an OOD set ({sets})")


@dataclass(frozen=True, eq=False)
class DemoTriage:
    """A policy exported for a built-in dataset, run on one of its groups of rows with the
    built-in method's own networks (``uqviz.methods``, the app's configuration and split: the
    networks the Referral page set the policy on). Build it with ``DemoTriage.create``.

    The method predicts ``batch_size`` rows at a time with their absolute ``row_offset``, and
    ``batch_size`` is a multiple of ``uqviz.inference.MC_SEED_ROWS``: MC dropout draws the same
    masks as when the whole group is predicted at once, so the decisions equal thresholding
    the method's own mean probabilities on the group (``uqviz.runs.run_evaluation``'s), for
    every method, deterministic or not, and any number of processes.

    Attributes:
        policy: the ``Policy`` (its ``dataset`` is this one, its method a built-in one).
        dataset: the dataset's name.
        group: the group of rows to triage.
        batch_size: rows predicted at a time.
    """

    policy: Policy
    dataset: str
    group: str
    batch_size: int
    _fitted: list = field(default_factory=list, repr=False)

    @classmethod
    def create(cls, policy: Policy, dataset: str, group: str, *,
               batch_size: int = 64) -> DemoTriage:
        """Check the policy against the dataset now (one-line ValueError): a policy exported
        for another dataset or for a user's model, a method that is not built in, other
        classes, an unknown group. ``batch_size`` is rounded up to a multiple of
        ``MC_SEED_ROWS``."""
        from uqviz.data import get_dataset
        from uqviz.inference import MC_SEED_ROWS
        from uqviz.methods import METHOD_IDS

        made_for = policy.document.get("dataset")
        if policy.model is not None:
            raise ValueError("the policy is for your own model files: give them with --model "
                             "and the new images with --images")
        if made_for != dataset:
            raise ValueError(f"the policy was exported for {made_for!r}, not for the built-in "
                             f"dataset {dataset!r}: refused")
        if policy.method not in METHOD_IDS:
            raise ValueError(f"the policy's method {policy.method!r} is not a built-in method "
                             f"({', '.join(METHOD_IDS)})")
        spec = get_dataset(dataset)
        policy.check_model([], spec.class_names)
        demo_block(spec, group, 0)  # validates the group
        if batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {batch_size}")
        rounded = -(-batch_size // MC_SEED_ROWS) * MC_SEED_ROWS
        return cls(policy, dataset, group, rounded)

    @property
    def classes(self) -> tuple[str, ...]:
        from uqviz.data import get_dataset

        return tuple(get_dataset(self.dataset).class_names)

    def _data(self):
        from uqviz.data import get_dataset
        from uqviz.sources import DATA_SEED

        spec = get_dataset(self.dataset)
        return spec, spec.load(DATA_SEED)

    def scan(self, root=None) -> DemoImages:
        """The group's images (``demo_block`` built as the evaluation builds it)."""
        from uqviz.precompute import build_block

        spec, data = self._data()
        images = build_block(spec, data, demo_block(spec, self.group, len(data.test_y))).images
        return DemoImages(self.group, images.numpy().astype(np.float32, copy=False))

    def _method(self):
        """The policy's method fitted on the app's networks (the cache or the shipped weights;
        trains what is in neither)."""
        if not self._fitted:
            from uqviz.device import default_device
            from uqviz.methods import get_method
            from uqviz.sources import APP_CONFIG, DATA_SEED
            from uqviz.training import no_progress

            spec, data = self._data()
            device = default_device()
            method = get_method(self.policy.method, APP_CONFIG).fit(spec, data, device,
                                                                    no_progress, DATA_SEED)
            self._fitted.append((method, device))
        return self._fitted[0]

    def batches(self, images: DemoImages,
                share: tuple[int, int] = (0, 1)) -> Iterator[TriageBatch]:
        """Decide the rows ``batch_size`` at a time, in row order; with ``share = (rank,
        world)`` only batches k with ``k % world == rank``."""
        import torch

        method, device = self._method()
        rank, world = share
        for start in range(rank * self.batch_size, len(images), world * self.batch_size):
            stop = min(len(images), start + self.batch_size)
            out = method.predict(torch.from_numpy(images.images[start:stop]), device,
                                 row_offset=start)
            ids = tuple(str(i) for i in range(start, stop))
            yield TriageBatch(ids, self.policy.decide(out.probs, logits=out.logits), ())

    def close(self) -> None:
        self._fitted.clear()


# -- on several processes ----------------------------------------------------------------------
_ARRAYS = ("predicted", "probability", "score", "refer", "top_classes", "top_probabilities")


def _save_share(path: Path, batches: list[TriageBatch]) -> None:
    """One process's batches as plain arrays (read back with ``allow_pickle=False``)."""
    skipped = [s for b in batches for s in b.skipped]
    arrays = {
        "ids": np.asarray([i for b in batches for i in b.ids], dtype=str),
        "lengths": np.asarray([len(b.ids) for b in batches], dtype=np.int64),
        "skipped_counts": np.asarray([len(b.skipped) for b in batches], dtype=np.int64),
        "skipped": np.asarray(skipped, dtype=str).reshape(-1, 2),
    }
    for name in _ARRAYS:
        parts = [getattr(b.decisions, name) for b in batches if len(b.ids)]
        arrays[name] = np.concatenate(parts) if parts else np.zeros(0)
    tmp = path.with_name(f".{path.name}.partial")
    with open(tmp, "wb") as handle:
        np.savez(handle, **arrays)
    os.replace(tmp, path)


def _load_share(path: Path) -> list[TriageBatch]:
    with np.load(path, allow_pickle=False) as z:
        a = {k: z[k] for k in z.files}
    batches, start, s_start = [], 0, 0
    for n, n_skipped in zip(a["lengths"].tolist(), a["skipped_counts"].tolist(), strict=True):
        rows = slice(start, start + n)
        decided = Decisions(*(a[name][rows] for name in _ARRAYS))
        skipped = tuple((str(i), str(w)) for i, w in a["skipped"][s_start:s_start + n_skipped])
        batches.append(TriageBatch(tuple(a["ids"][rows].tolist()), decided, skipped))
        start, s_start = start + n, s_start + n_skipped
    return batches


def _sharded_work(fabric, triage: Triage, images, out: Path, source: str) -> dict | None:
    """Each process decides its batches (``Triage.batches`` with its share) and saves them
    under ``out/.shards``; after a barrier, global rank 0 puts the batches back in read order
    and writes the outputs (``out`` must be one folder all processes see)."""
    import shutil

    rank, world = fabric.global_rank, fabric.world_size
    shards = out / ".shards"
    shards.mkdir(parents=True, exist_ok=True)
    try:
        _save_share(shards / f"{rank}.npz", list(triage.batches(images, (rank, world))))
    finally:
        triage.close()
    fabric.barrier()
    if rank != 0:
        return None
    shares = [_load_share(shards / f"{r}.npz") for r in range(world)]
    ordered = (shares[k % world][k // world] for k in range(sum(map(len, shares))))
    try:
        return write_outputs(out, ordered, triage.classes, triage.policy, images.root,
                             source=source, pictures=review_pictures(images))
    finally:
        shutil.rmtree(shards, ignore_errors=True)


def run_on_processes(triage: Triage | DemoTriage, images, out: Path, launch, *,
                     source: str = "") -> dict | None:
    """``write_outputs`` over Lightning Fabric's processes (``launch``: a
    ``uqviz.precompute.LaunchConfig``; CPU processes, GPUs or nodes, started by Fabric's own
    launcher, torchrun or SLURM as for ``precompute``). Batch k goes to rank ``k % world``;
    the decisions equal a single process's (each batch holds the same files). Returns the
    summary on global rank 0, None elsewhere."""
    import torch

    from uqviz.precompute import make_fabric, stop_children

    fabric = make_fabric(launch)
    try:
        return fabric.launch(_sharded_work, triage, images, out, source)
    except BaseException:
        stop_children(fabric)  # they would wait in the barrier for a failed rank 0
        raise
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
