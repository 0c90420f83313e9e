"""Seeing inside a Keras classifier without changing it.

Grad-CAM needs two tensors from one forward pass: the activations of an inner layer and the
class logits. Keras cannot give both when the layer sits in a nested model (an application
model inside a Sequential: "Graph disconnected"), when a Sequential was built without an
``Input``, or when the last layer applies a softmax. So the model is *traced* once: every layer
is called again on a fresh symbolic input, recursing into nested Functional and Sequential
models, and each leaf layer's output is recorded under a path such as ``"mobilenetv2/out_relu"``.
All recorded tensors belong to one flat graph, from which a model ``input -> [activations,
logits]`` can be cut for any layer. The layers (and so the weights) are shared with the caller's
model; nothing of it is modified, and a final softmax is skipped rather than switched off.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .tensorflow_import import import_tensorflow_quietly

import_tensorflow_quietly()  # before TensorFlow's own import, to hide its start-up notices

import keras

from .errors import LayerError, NoSpatialLayerError, UnsupportedModelError

_PROBABILITY_ACTIVATIONS = ("softmax", "sigmoid")


def input_channels(keras_model: Any) -> int:
    """The number of channels of the model's (first) input: 1 for a grayscale model, usually 3;
    3 when the model does not say (a Sequential built without an ``Input``)."""
    try:
        return int(keras_model.inputs[0].shape[-1])
    except (AttributeError, IndexError, TypeError, ValueError):
        return 3


@dataclass(frozen=True)
class TracedLayer:
    """One leaf layer as seen in the traced graph.

    Attributes:
        path: ``"outer/inner/layer"``; the nested models' names joined by slashes.
        layer: the caller's Keras layer (shared, not copied).
        output: its output KerasTensor in the traced graph.
    """

    path: str
    layer: Any
    output: Any

    @property
    def is_spatial(self) -> bool:
        shape = self.output.shape
        # (batch, H, W, C) with a real spatial extent: a 1x1 map carries no "where".
        return len(shape) == 4 and not (shape[1] == 1 and shape[2] == 1)


class _PreActivationDense(keras.layers.Layer):
    """The logits of a Dense layer whose activation is a softmax or sigmoid, computed from its own
    kernel and bias so that the caller's layer keeps its activation untouched."""

    def __init__(self, dense, **kwargs):
        super().__init__(name=f"{dense.name}_logits", **kwargs)
        self.dense = dense

    def build(self, input_shape):
        # A Sequential built without an Input has not created the dense layer's weights yet.
        if not self.dense.built:
            self.dense.build(input_shape)
        self.built = True

    def call(self, inputs):
        outputs = keras.ops.matmul(inputs, self.dense.kernel)
        if self.dense.use_bias:
            outputs = outputs + self.dense.bias
        return outputs

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.dense.units)


class TracedModel:
    """A flat, inspectable view of a single-input, single-output Keras classifier.

    Attributes:
        input: the symbolic input of the traced graph, shape (None, h, w, c).
        logits: the symbolic logits (pre-softmax output), shape (None, classes).
        layers: every leaf layer in call order; spatial_layers: those with a spatial output.
        output_activation: "softmax", "sigmoid" or None: what turns logits into probabilities.
    """

    def __init__(self, model, input_shape: tuple[int | None, ...] | None = None):
        if len(_flat(getattr(model, "inputs", None) or [None])) > 1:
            raise UnsupportedModelError(
                f"The model has {len(model.inputs)} inputs; a classifier with one image input "
                "(batch, height, width, channels) is expected."
            )
        shape = input_shape or _model_input_shape(model)
        if shape is None:
            raise UnsupportedModelError(
                "The model's input shape is unknown (a Sequential built without an Input layer). "
                "Pass input_size=(height, width) to the Explainer, or build the model first."
            )
        if len(shape) != 3:
            raise UnsupportedModelError(
                f"The model's input has shape {(None, *shape)}; an image input "
                "(batch, height, width, channels) is expected."
            )
        self.input = keras.Input(shape=shape, name="image")
        self.layers: list[TracedLayer] = []
        self._softmax_layer, self.output_activation = _final_probability_layer(model)
        output = self._trace(model, self.input, prefix="")
        if isinstance(output, (list, tuple, dict)):
            raise UnsupportedModelError(
                f"The model has {len(_flat(output))} outputs; a classifier with one output of "
                "shape (batch, classes) is expected."
            )
        if len(output.shape) != 2:
            raise UnsupportedModelError(
                f"The model's output has shape {tuple(output.shape)}; a classifier output of "
                "shape (batch, classes) is expected."
            )
        self.logits = output
        self.num_classes = int(output.shape[-1])
        self._by_path = {t.path: t for t in self.layers}
        self.spatial_layers: list[TracedLayer] = [t for t in self.layers if t.is_spatial]

    # -- tracing ---------------------------------------------------------------------------
    def _trace(self, container, inputs, prefix: str):
        if isinstance(container, keras.Sequential):
            x = inputs
            for layer in container.layers:
                x = self._call(layer, x, prefix=prefix)
            return x
        if _is_functional(container):
            def operation_fn(op):
                return lambda *args, **kwargs: self._call(op, *args, prefix=prefix, **kwargs)

            return container._run_through_graph([inputs], operation_fn=operation_fn)
        # A subclassed model: its inside is Python code, so it is one opaque step.
        return self._call_leaf(container, inputs, prefix=prefix, record=False)

    def _call(self, layer, *args, prefix: str, **kwargs):
        if isinstance(layer, keras.Model) and (isinstance(layer, keras.Sequential) or _is_functional(layer)):
            inner = args[0] if len(args) == 1 else list(args)
            if isinstance(inner, (list, tuple)) and len(inner) == 1:
                inner = inner[0]
            return self._trace(layer, inner, prefix=f"{prefix}{layer.name}/")
        return self._call_leaf(layer, *args, prefix=prefix, record=isinstance(layer, keras.layers.Layer), **kwargs)

    def _call_leaf(self, layer, *args, prefix: str, record: bool, **kwargs):
        if layer is self._softmax_layer:
            if isinstance(layer, keras.layers.Dense):
                output = _PreActivationDense(layer)(*args)
            else:  # Softmax or Activation("softmax"): the logits are its input.
                output = args[0]
            return output
        output = layer(*args, **kwargs)
        if record and not isinstance(output, (list, tuple, dict)):
            self.layers.append(TracedLayer(prefix + layer.name, layer, output))
        return output

    # -- queries ---------------------------------------------------------------------------
    def find(self, name: str | None) -> TracedLayer:
        """The layer called ``name`` (a full path, or a bare name if it is unique); ``None`` gives
        the last spatial layer."""
        spatial = self.spatial_layers
        if not spatial:
            raise NoSpatialLayerError(
                "The model has no layer with a spatial (height, width, channels) output, so CAM "
                "methods cannot run on it. Gradient saliency and SmoothGrad work on any "
                "differentiable model: use method='saliency' or 'smoothgrad'."
            )
        if name is None:
            return spatial[-1]
        found = self._by_path.get(name)
        if found is None:
            matches = [t for t in self.layers if t.path.rsplit("/", 1)[-1] == name]
            if len(matches) > 1:
                raise LayerError(
                    f"Layer name {name!r} is ambiguous; it appears as "
                    f"{', '.join(t.path for t in matches)}. Pass the full path."
                )
            found = matches[0] if matches else None
        if found is None:
            raise LayerError(
                f"No layer {name!r} in the model. Layers with a spatial output: "
                f"{_listing(spatial)}."
            )
        if not found.is_spatial:
            raise LayerError(
                f"Layer {found.path!r} has output shape {tuple(found.output.shape)}, not a spatial "
                f"(batch, height, width, channels) map. Choose one of: {_listing(spatial)}."
            )
        return found

    def split(self, layer: TracedLayer):
        """``(features, head)``: Keras models ``input -> [activations, logits]`` and, when the
        logits depend on the input only through this layer, ``activations -> logits`` (else None;
        e.g. a skip connection jumps over the layer)."""
        features = keras.Model(self.input, [layer.output, self.logits])
        try:
            head = keras.Model(layer.output, self.logits)
        except Exception:  # noqa: BLE001 -- Keras raises several kinds for a disconnected graph
            head = None
        return features, head

    def classifier(self):
        """``input -> logits`` as one Keras model."""
        return keras.Model(self.input, self.logits)


def _listing(layers: list[TracedLayer], limit: int = 12) -> str:
    names = [t.path for t in layers]
    if len(names) > limit:
        names = names[:3] + ["..."] + names[-(limit - 4):]
    return ", ".join(names)


def _flat(value) -> list:
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _is_functional(model) -> bool:
    return hasattr(model, "_run_through_graph") and hasattr(model, "_nodes_by_depth")


def _model_input_shape(model) -> tuple | None:
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if inputs:
        return tuple(inputs[0].shape[1:])
    shape = getattr(model, "_build_shapes_dict", None) or {}
    for value in shape.values():
        return tuple(value[1:])
    return None


def _final_probability_layer(model):
    """The layer that turns logits into probabilities at the model's output, if any, and which
    activation it applies."""
    layer = _output_layer(model)
    if layer is None:
        return None, None
    if isinstance(layer, keras.layers.Softmax):
        return layer, "softmax"
    if isinstance(layer, (keras.layers.Activation, keras.layers.Dense)):
        activation = getattr(layer.activation, "__name__", str(layer.activation))
        if activation in _PROBABILITY_ACTIVATIONS:
            return layer, activation
    return None, None


def _output_layer(model):
    if isinstance(model, keras.Sequential):
        layers = model.layers
        if not layers:
            return None
        last = layers[-1]
    elif _is_functional(model):
        outputs = model.outputs
        if len(outputs) != 1:
            return None
        last = outputs[0]._keras_history[0]
    else:
        return None
    if isinstance(last, keras.Model):
        return _output_layer(last)
    return last
