"""Test-time augmentation: S passes of one network over label-preserving augmentations.

The samples are the image itself, then S − 1 random square crops of 85–95 % of the side at a
random place, resized back (small shifts and rescales that bring in no border), each also
mirrored with probability 1/2 when flips preserve the label. The S augmentations are drawn once
from the seed and shared by every image, so results do not depend on batching.

References: Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep Convolutional
Neural Networks", NeurIPS 2012 (averaging crops and flips at test time); Ayhan & Berens,
"Test-time Data Augmentation for Estimation of Heteroscedastic Aleatoric Uncertainty in Deep
Neural Networks", MIDL 2018.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from uqviz.labels import METHOD_LABELS
from uqviz.methods.augmentation import IDENTITY, Augmentation, augment, tta_augmentations
from uqviz.methods.base import MethodOutput
from uqviz.methods.network import Pass, TorchNetwork, run_passes
from uqviz.methods.softmax import SoftmaxMethod
from uqviz.numerics import softmax

TTA_SAMPLES = 8


class TTAMethod(SoftmaxMethod):
    """The average over S = 8 augmented copies of each image of one network's softmax
    (module docstring). On a built-in dataset the network is the softmax baseline's, and flips
    are off (a digit's mirror image is another digit); a user's model says in ``model.json``
    whether flips preserve its labels.
    """

    id = "tta"
    label = METHOD_LABELS["tta"]
    description = ("One network on several shifted and rescaled copies of each image; their "
                   "average is the prediction.")
    stochastic = True
    applies_to: ClassVar[frozenset[str]] = frozenset({"dataset", "model"})

    @classmethod
    def passes(cls, *, networks: int = 1, mc_samples: int = 0,
               augmentations: tuple[Augmentation, ...] = (IDENTITY,)) -> tuple[Pass, ...]:
        return tuple(Pass(augmentation=a) for a in augmentations)

    def predict(self, x: torch.Tensor, device: torch.device, *,
                row_offset: int = 0) -> MethodOutput:
        self._check_fitted()
        augs = tta_augmentations(TTA_SAMPLES, self.config.seed, flips=False)
        samples, feats = run_passes([TorchNetwork(self.net, device)], x,
                                    {self.id: self.passes(augmentations=augs)})
        logits = np.stack(samples[self.id]).astype(np.float32)
        return MethodOutput(softmax(logits, dtype=np.float32), feats, logits)


__all__ = ["TTA_SAMPLES", "Augmentation", "TTAMethod", "augment", "tta_augmentations"]
