"""Your model, your images: a user's own classifier file(s) and image folders, headless.

* ``config``: ``ModelConfig``, the sidecar ``model.json`` (input size, channels, mean/std,
  classes, outputs, features output, flips) and its one-line checks.
* ``loading``: TorchScript, exported programs (``.pt2``) and ONNX loaded without pickle
  (``load_model``); a pickle is refused with one line saying why and how to export instead.
* ``images``: folders labelled by sub-folder *name*, a seeded stratified calibration/test split,
  images decoded in batches from disk.
* ``engine``: the streams of images and the one pass that computes every method asked for.
  The methods are ``uqviz.methods``' (``MODEL_METHOD_IDS``: softmax, temperature scaling,
  test-time augmentation, MC dropout for scripted models with dropout, the ensemble of the
  checkpoints given), run on the loaded models through ``uqviz.methods.network``; the per-row
  Mahalanobis score is ``uqviz.metrics.ood_scores``'.
* ``source``: ``ModelSource``, the dashboard source (a ``uqviz.sources.Source`` of kind
  ``"your model"``), with predictions cached on disk.

Every user error is a ``UserModelError`` with a one-line message. No streamlit, no plotly.
"""

from uqviz.methods import MODEL_METHOD_IDS as USER_METHODS
from uqviz.user_model.config import (
    MethodSettings,
    ModelConfig,
    UserModelError,
    ensemble_configs,
    model_config,
)
from uqviz.user_model.engine import MAHALANOBIS
from uqviz.user_model.images import ImageSet, Split, scan_folder, split_calibration
from uqviz.user_model.loading import UserModel, model_format
from uqviz.user_model.source import (
    MODEL_PREFIX,
    USER_PLAN,
    ModelSource,
    PartialResults,
    UserRun,
)
from uqviz.user_model.worker import load_model

__all__ = [
    "MAHALANOBIS", "MODEL_PREFIX", "USER_METHODS", "USER_PLAN",
    "ImageSet", "MethodSettings", "ModelConfig", "ModelSource", "PartialResults",
    "Split", "UserModel", "UserModelError", "UserRun", "ensemble_configs", "load_model",
    "model_config", "model_format", "scan_folder", "split_calibration",
]
