"""Grad-CAM Explorer's explanation engine: why an image classifier decides what it decides.

import gradcam
explainer = gradcam.Explainer(model)                   # a model-zoo model or a keras.Model
result = explainer.explain(image, target="espresso", method="gradcam++")
picture = gradcam.overlay(image, result.heatmap, colormap="turbo")
"""

from typing import TYPE_CHECKING

from .errors import (
    GradCamError,
    ImageError,
    LayerError,
    MethodError,
    MetricError,
    NoSpatialLayerError,
    TargetError,
    UnknownClassError,
    UnsupportedModelError,
)
from .explanation import Explanation, shared_scale
from .progress import Progress, no_progress
from .render import COLORMAPS, colorize, keep_top, overlay
from .targets import Contrast, Group, top_classes

if TYPE_CHECKING:
    # What __getattr__ below loads lazily, named here for type checkers and the API reference
    # (griffe reads this block statically), never imported at run time.
    from .compare import ModelComparison, compare_models
    from .concepts import Concepts
    from .explainer import Explainer
    from .images import image_digest
    from .methods import METHODS, Method, MethodOutput, Option, get_method
    from .metrics import Evaluation, rank_methods
    from .metrics.evaluate import evaluate
    from .metrics.layers import LayerScore, rank_layers
    from .sensitivity import ClassSensitivity, class_sensitivity

# The parts that need TensorFlow (or Pillow) load on first use, so that `import gradcam.errors` (the model
# zoo's) and `python -m gradcam methods --help` stay light.
_LAZY = {
    "Explainer": "explainer",
    "METHODS": "methods",
    "Method": "methods",
    "get_method": "methods",
    "MethodOutput": "methods",
    "Option": "methods",
    "image_digest": "images",
    "Concepts": "concepts",
    "Evaluation": "metrics",
    "evaluate": "metrics",
    "rank_methods": "metrics",
    "compare_models": "compare",
    "ModelComparison": "compare",
    "class_sensitivity": "sensitivity",
    "ClassSensitivity": "sensitivity",
    "rank_layers": "metrics.layers",
    "LayerScore": "metrics.layers",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gradcam' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__version__ = "0.1.0"


def candidate_layers(
    model, input_size: tuple[int, int] | None = None, token_grid: tuple[int, int] | None = None
) -> list[str]:
    """Paths of the layers of ``model`` (a keras.Model or a model-zoo model) with a spatial
    output, including those inside nested models and a vision transformer's token layers whose
    grid is known (``token_grid=(h, w)`` when it cannot be inferred; see ``Explainer``), in order.
    For a CNN the last is the default layer; for a vision transformer see
    ``Explainer.default_layer``."""
    from .model_graph import TracedModel, input_channels

    keras_model = getattr(model, "keras_model", model)
    size = input_size or getattr(model, "input_size", None)
    shape = (int(size[0]), int(size[1]), input_channels(keras_model)) if size else None
    return [t.path for t in TracedModel(keras_model, shape, token_grid=token_grid).spatial_layers]


__all__ = [
    "COLORMAPS",
    "METHODS",
    "ClassSensitivity",
    "Concepts",
    "Contrast",
    "Evaluation",
    "Explainer",
    "Explanation",
    "GradCamError",
    "Group",
    "LayerScore",
    "ImageError",
    "LayerError",
    "Method",
    "MethodError",
    "MethodOutput",
    "MetricError",
    "ModelComparison",
    "NoSpatialLayerError",
    "Option",
    "Progress",
    "TargetError",
    "UnknownClassError",
    "UnsupportedModelError",
    "candidate_layers",
    "class_sensitivity",
    "colorize",
    "compare_models",
    "evaluate",
    "get_method",
    "image_digest",
    "keep_top",
    "no_progress",
    "overlay",
    "rank_layers",
    "rank_methods",
    "shared_scale",
    "top_classes",
]
