"""``python -m gradcam methods | layers | models``: what exists."""
from __future__ import annotations

from types import SimpleNamespace

from ..errors import GradCamError
from .common import add_model_arguments, fail, load_model


def _methods_arguments(parser) -> None:
    pass


def _methods(args) -> int:
    from .. import METHODS

    for key, method in METHODS.items():
        layer = "layer" if method.uses_layer else "pixels"
        print(f"{key:15s} {method.label:24s} [{layer}; {method.passes}]")
        print(f"{'':15s} {method.summary}")
        print(f"{'':15s} {method.paper}")
    return 0


def _layers(args) -> int:
    from .. import Explainer

    try:
        explainer = Explainer(load_model(args))
        layers = explainer.layers
        default = explainer.default_layer
        notes = explainer.layer_notes
    except GradCamError as error:
        return fail(str(error))
    for path in layers:
        note = f"   [{notes[path]}]" if path in notes else ""
        print(f"{path}{'   (default)' if path == default else ''}{note}")
    return 0


def _models(args) -> int:
    import model_zoo

    for info in model_zoo.list_models():
        size = f"{info.input_size[0]}x{info.input_size[1]}"
        print(f"{info.name:20s} {size:8s} {info.status:16s} {info.status_message}")
    return 0


COMMANDS = [
    SimpleNamespace(NAME="methods", HELP="list the explanation methods with their papers",
                    add_arguments=_methods_arguments, run=_methods),
    SimpleNamespace(NAME="layers", HELP="list a model's layers with a spatial output",
                    add_arguments=add_model_arguments, run=_layers),
    SimpleNamespace(NAME="models", HELP="list the model zoo with each model's status",
                    add_arguments=_methods_arguments, run=_models),
]
