"""Grad-CAM Explorer's explanation engine: why an image classifier decides what it decides.

    import gradcam
    explainer = gradcam.Explainer(model)                   # a model-zoo model or a keras.Model
    result = explainer.explain(image, target="espresso", method="gradcam++")
    picture = gradcam.overlay(image, result.heatmap, colormap="turbo")
"""
from ._quiet import import_tensorflow_quietly as _import_tensorflow_quietly

_import_tensorflow_quietly()

from .errors import (GradCamError, ImageError, LayerError, MethodError, MetricError, NoSpatialLayerError,
                     TargetError, UnknownClassError, UnsupportedModelError)
from .explainer import Explainer
from .explanation import Contrast, Explanation, shared_scale
from .methods import METHODS, Method, get_method
from .metrics import Evaluation, evaluate, rank_methods
from .render import COLORMAPS, colorize, keep_top, overlay

__version__ = "0.1.0"


def candidate_layers(model, input_size: tuple[int, int] | None = None) -> list[str]:
    """Paths of the layers of ``model`` (a keras.Model or a model-zoo model) with a spatial
    output, including those inside nested models, in order; the last is the default layer."""
    from .model_graph import TracedModel

    keras_model = getattr(model, "keras_model", model)
    size = input_size or getattr(model, "input_size", None)
    shape = None
    if size:
        try:
            channels = int(keras_model.inputs[0].shape[-1])
        except (AttributeError, IndexError, TypeError, ValueError):
            channels = 3
        shape = (int(size[0]), int(size[1]), channels)
    return [t.path for t in TracedModel(keras_model, shape).spatial_layers]


__all__ = [
    "COLORMAPS", "METHODS", "Contrast", "Evaluation", "Explainer", "Explanation", "GradCamError", "ImageError",
    "LayerError", "Method", "MethodError", "MetricError", "NoSpatialLayerError", "TargetError", "UnknownClassError",
    "UnsupportedModelError", "candidate_layers", "colorize", "evaluate", "get_method", "keep_top",
    "overlay", "rank_methods", "shared_scale",
]
