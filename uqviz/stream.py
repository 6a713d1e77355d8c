"""The incoming stream: what a deployed model receives, not only clean test cases.

A ``StreamMix`` mixes the clean test rows with a share of shifted rows (one corruption at one
severity, e.g. ``gaussian_noise:4`` or ``rotate:3``) and a share of out-of-distribution rows
(``ood:<name>``). The stream has as many rows as the clean test split; the draw is seeded, so
every method sees the same cases (a corrupted row and its clean original never both appear:
the shifted cases are other test images than the clean ones).

How rows count (the glossary's "Incoming stream"):

* accuracy, calibration and conformal sets are measured on the labelled rows (clean and
  shifted);
* referral counts an out-of-distribution row as an **error when automated** (the model cannot
  be right about a case outside its classes) and as a correct hand-over when referred.

The stream's rows keep their labels; clean and shifted rows are put in group ``stream`` (so
``Predictions.labelled_in_distribution()`` scores both) and OOD rows keep their ``ood:`` group.
``StreamMix.origin`` tells, per row, where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from uqviz.predictions import OOD_PREFIX, TEST_GROUP, Predictions

STREAM_GROUP = "stream"


@dataclass(frozen=True)
class StreamMix:
    """Which rows make the incoming stream.

    Attributes:
        shift: a ``<corruption>:<severity>`` group, or None.
        shift_share: share of the stream taken from ``shift`` (0–1).
        ood: an ``ood:<name>`` group, or None.
        ood_share: share of the stream taken from ``ood`` (0–1).
        seed: seeds the draw.
    """

    shift: str | None = None
    shift_share: float = 0.0
    ood: str | None = None
    ood_share: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name, share in (("shift_share", self.shift_share), ("ood_share", self.ood_share)):
            if not 0 <= share <= 1:
                raise ValueError(f"{name} must be between 0 and 1, got {share}")
        if self.shift_share + self.ood_share > 1:
            raise ValueError(f"shift_share + ood_share must be at most 1, got "
                             f"{self.shift_share} + {self.ood_share}")
        if self.shift_share > 0 and not self.shift:
            raise ValueError("a shift share needs a shift group, e.g. 'gaussian_noise:4'")
        if self.ood_share > 0 and not (self.ood or "").startswith(OOD_PREFIX):
            raise ValueError(f"an OOD share needs an 'ood:<name>' group, got {self.ood!r}")

    @property
    def is_clean(self) -> bool:
        return self.shift_share == 0 and self.ood_share == 0

    def describe(self) -> str:
        """``80% clean test, 15% gaussian_noise:4, 5% ood:mnist5k (seed 0)``."""
        parts = [f"{100 * (1 - self.shift_share - self.ood_share):.0f}% clean test"]
        if self.shift_share:
            parts.append(f"{100 * self.shift_share:.0f}% {self.shift}")
        if self.ood_share:
            parts.append(f"{100 * self.ood_share:.0f}% {self.ood}")
        return ", ".join(parts) + f" (seed {self.seed})"

    def to_dict(self) -> dict:
        return {"shift": self.shift, "shift_share": self.shift_share, "ood": self.ood,
                "ood_share": self.ood_share, "seed": self.seed}


CLEAN = StreamMix()
# The demo's default stream, chosen by benchmarks/stream_mixture.py (figures in
# benchmarks/RESULTS.md): the mixture where softmax and the ensembles differ most clearly.
DEMO_MIX = StreamMix(shift="brightness:5", shift_share=0.4, ood="ood:uniform_noise",
                     ood_share=0.2)


@dataclass(frozen=True, eq=False)
class Stream:
    """The rows of a stream within one method's predictions.

    Attributes:
        rows: (M,) indices into the predictions, in stream order.
        origin: (M,) str: ``test``, the shift group or the OOD group each row came from.
    """

    rows: np.ndarray
    origin: np.ndarray


def _take(candidates: np.ndarray, count: int, rng: np.random.Generator, what: str) -> np.ndarray:
    if count > candidates.size:
        raise ValueError(f"the stream needs {count:,} rows of {what} but there are only "
                         f"{candidates.size:,}")
    return np.sort(rng.choice(candidates, size=count, replace=False))


def stream_rows(p: Predictions, mix: StreamMix) -> Stream:
    """Which rows of ``p`` form the stream ``mix`` (module docstring).

    With ``mix`` clean, the stream is every labelled in-distribution row (fit rows, group
    ``fit``, are never part of a stream). Otherwise the stream
    has as many rows as the clean ``test`` group; the shifted cases are drawn among the test
    images not drawn as clean ones when the shift group lines up with the test group (same
    size: a corrupted copy), and the OOD cases from the OOD group.
    """
    if mix.is_clean:
        rows = np.flatnonzero(p.scored_mask)
        return Stream(rows, np.full(rows.size, TEST_GROUP, dtype=object))
    group = p.group.astype(str)
    clean = np.flatnonzero((group == TEST_GROUP) & (p.labels >= 0))
    if clean.size == 0:
        raise ValueError("the stream is drawn around the clean 'test' rows, and there are none")
    n = clean.size
    n_shift = int(round(mix.shift_share * n))
    n_ood = int(round(mix.ood_share * n))
    n_clean = n - n_shift - n_ood
    rng = np.random.default_rng(mix.seed)
    order = rng.permutation(n)
    picked = [clean[np.sort(order[:n_clean])]]
    origins = [np.full(n_clean, TEST_GROUP, dtype=object)]
    if n_shift:
        shifted = np.flatnonzero(group == mix.shift)
        if shifted.size == 0:
            raise ValueError(f"no rows in group {mix.shift!r}; groups: {', '.join(p.groups)}")
        if shifted.size == n:  # a corrupted copy of the test rows: other images than the clean
            chosen = shifted[np.sort(order[n_clean:n_clean + n_shift])]
        else:
            chosen = _take(shifted, n_shift, rng, mix.shift)
        picked.append(chosen)
        origins.append(np.full(n_shift, mix.shift, dtype=object))
    if n_ood:
        ood = np.flatnonzero(group == mix.ood)
        if ood.size == 0:
            raise ValueError(f"no rows in group {mix.ood!r}; groups: {', '.join(p.groups)}")
        picked.append(_take(ood, n_ood, rng, mix.ood))
        origins.append(np.full(n_ood, mix.ood, dtype=object))
    return Stream(np.concatenate(picked), np.concatenate(origins))


def stream_predictions(p: Predictions, mix: StreamMix) -> tuple[Predictions, Stream]:
    """The stream's rows of ``p`` (clean and shifted rows in group ``stream``, OOD rows in
    their ``ood:`` group) and where each came from; features and logits go with the rows."""
    stream = stream_rows(p, mix)
    rows = p.select(stream.rows)
    if mix.is_clean:
        return rows, stream
    group = np.where(rows.is_ood, rows.group, STREAM_GROUP).astype(object)
    return Predictions(rows.probs, rows.labels, group, rows.is_ood, rows.features, rows.scores,
                       rows.method, rows.class_names, rows.ids, rows.logits), stream
