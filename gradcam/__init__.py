"""Grad-CAM Explorer's explanation engine: why an image classifier decides what it decides.

    import gradcam
    explainer = gradcam.Explainer(model)                   # a model-zoo model or a keras.Model
    result = explainer.explain(image, target="espresso", method="gradcam++")
    picture = gradcam.overlay(image, result.heatmap, colormap="turbo")
"""
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
from .explanation import Contrast, Explanation, shared_scale
from .render import COLORMAPS, colorize, keep_top, overlay

# The parts that need TensorFlow load on first use, so that `import gradcam.errors` (the model
# zoo's) and `python -m gradcam methods --help` stay light.
_LAZY = {
    "Explainer": "explainer", "METHODS": "methods", "Method": "methods", "get_method": "methods",
    "Evaluation": "metrics", "evaluate": "metrics", "rank_methods": "metrics",
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


def candidate_layers(model, input_size: tuple[int, int] | None = None) -> list[str]:
    """Paths of the layers of ``model`` (a keras.Model or a model-zoo model) with a spatial
    output, including those inside nested models, in order; the last is the default layer."""
    from .explainer import _channels
    from .model_graph import TracedModel

    keras_model = getattr(model, "keras_model", model)
    size = input_size or getattr(model, "input_size", None)
    shape = (int(size[0]), int(size[1]), _channels(keras_model)) if size else None
    return [t.path for t in TracedModel(keras_model, shape).spatial_layers]


__all__ = [
    "COLORMAPS", "METHODS", "Contrast", "Evaluation", "Explainer", "Explanation", "GradCamError", "ImageError",
    "LayerError", "Method", "MethodError", "MetricError", "NoSpatialLayerError", "TargetError", "UnknownClassError",
    "UnsupportedModelError", "candidate_layers", "colorize", "evaluate", "get_method", "keep_top",
    "overlay", "rank_methods", "shared_scale",
]
