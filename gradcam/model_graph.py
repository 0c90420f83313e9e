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

import dataclasses
import math

import keras
import numpy as np

from .errors import LayerError, NoSpatialLayerError, UnsupportedModelError

_PROBABILITY_ACTIVATIONS = ("softmax", "sigmoid")
#: At most this many extra tokens (class, distillation, register tokens) before the patch tokens
#: of a token layer whose grid is inferred.
MAX_EXTRA_TOKENS = 8


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
    #: For a token layer (output (batch, T, C)): the (h, w) grid of its patch tokens, else None.
    token_grid: tuple[int, int] | None = None
    #: For a token layer: how many extra tokens (class, distillation, register) come before the
    #: h*w patch tokens; they are dropped from the map and kept for the head.
    extra_tokens: int = 0
    #: How the token grid was found ("patch embedding", "square", "token_grid argument"), or why
    #: a token layer has none.
    token_source: str = ""

    @property
    def is_token_layer(self) -> bool:
        """A (batch, T, C) output, whether or not its grid is known."""
        shape = self.output.shape
        return len(shape) == 3 and shape[1] is not None and shape[2] is not None

    @property
    def is_spatial(self) -> bool:
        """A (batch, H, W, C) output with a real spatial extent (a 1x1 map carries no "where"), or
        a token output whose grid is known."""
        shape = self.output.shape
        if self.token_grid is not None:
            return True
        return len(shape) == 4 and not (shape[1] == 1 and shape[2] == 1)

    @property
    def grid_shape(self) -> tuple[int, int, int]:
        """(h, w, K): the shape of one image's activation map as methods see it."""
        shape = self.output.shape
        if self.token_grid is not None:
            return (*self.token_grid, int(shape[-1]))
        return int(shape[1]), int(shape[2]), int(shape[3])

    @property
    def note(self) -> str:
        """For a token layer: "tokens (197, 192) -> 14x14 grid (1 extra token dropped, from the patch
        embedding)"; "" for an ordinary spatial layer."""
        if self.token_grid is None:
            return ""
        t, c = (int(d) for d in self.output.shape[1:])
        h, w = self.token_grid
        extra = (
            f"{self.extra_tokens} extra token{'s' if self.extra_tokens != 1 else ''} dropped, "
            if self.extra_tokens
            else ""
        )
        return f"tokens ({t}, {c}) reshaped to a {h}x{w} grid ({extra}grid from the {self.token_source})"


class PreActivationDense(keras.layers.Layer):
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
        layers: every leaf layer in call order; spatial_layers: those with a spatial output,
            including token layers (batch, T, C) whose token grid is known (see below).
        output_activation: "softmax", "sigmoid" or None: what turns logits into probabilities.

    Token layers. A vision transformer's layers output (batch, T, C): T = h*w patch tokens,
    possibly after k extra tokens (a class token, a distillation token, register tokens; k <= 8).
    Such a layer is offered as spatial when its (h, w) grid is known, in this order: the
    ``token_grid=(h, w)`` argument, when T - h*w is between 0 and 8; else the patch embedding:
    the last (batch, h, w, C) output before it (a strided Conv2D reshaped to tokens), when
    T - h*w is between 0 and 8; else, for a square input, T - k a perfect square s*s for exactly
    one k between 0 and 8 (extra tokens first). The extra tokens are the first k tokens; maps
    use the patch tokens only, and the head gets the image's own extra tokens back.
    """

    def __init__(
        self, model, input_shape: tuple[int | None, ...] | None = None, token_grid: tuple[int, int] | None = None
    ):
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
        self._assign_token_grids(token_grid)
        self._by_path = {t.path: t for t in self.layers}
        self.spatial_layers: list[TracedLayer] = [t for t in self.layers if t.is_spatial]
        self._default: TracedLayer | None = None

    def _assign_token_grids(self, token_grid) -> None:
        if token_grid is not None:
            try:
                valid = len(token_grid) == 2 and all(int(d) == d >= 1 for d in token_grid)
            except (TypeError, ValueError):
                valid = False
            if not valid:
                raise LayerError(f"token_grid={token_grid!r}: expected (h, w), two positive integers.")
            token_grid = (int(token_grid[0]), int(token_grid[1]))
        square_input = self.input.shape[1] is not None and self.input.shape[1] == self.input.shape[2]
        last_map = None  # the (h, w) of the last (batch, h, w, C) output so far: a patch embedding
        fitted = False
        for i, traced in enumerate(self.layers):
            shape = traced.output.shape
            if len(shape) == 4 and shape[1] is not None and shape[2] is not None:
                if shape[1] * shape[2] > 1:
                    last_map = (int(shape[1]), int(shape[2]))
                continue
            if not traced.is_token_layer:
                continue
            grid, extra, source = _infer_grid(int(shape[1]), token_grid, last_map, square_input)
            fitted |= source == "token_grid argument"
            self.layers[i] = dataclasses.replace(traced, token_grid=grid, extra_tokens=extra, token_source=source)
        if token_grid is not None and not fitted:
            counts = sorted({int(t.output.shape[1]) for t in self.layers if t.is_token_layer})
            raise LayerError(
                f"token_grid={token_grid} fits no token layer: a layer of T tokens fits when T - "
                f"{token_grid[0]}*{token_grid[1]} is between 0 and {MAX_EXTRA_TOKENS} (extra tokens first); "
                f"this model's token layers have T = {counts or 'none (no (batch, T, C) output)'}."
            )

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
                output = PreActivationDense(layer)(*args)
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
        the default layer (:meth:`default_layer`)."""
        spatial = self.find_spatial()
        if name is None:
            return self.default_layer()
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
            raise LayerError(f"No layer {name!r} in the model. Layers with a spatial output: {_listing(spatial)}.")
        if not found.is_spatial:
            if found.is_token_layer:
                raise LayerError(
                    f"Layer {found.path!r} has a token output {tuple(found.output.shape)}, but its token "
                    f"grid cannot be inferred: {found.token_source}. Pass token_grid=(h, w) to the "
                    f"Explainer (or to candidate_layers) to reshape its h*w patch tokens, the extra tokens "
                    f"first. Layers with a spatial output: {_listing(spatial)}."
                )
            raise LayerError(
                f"Layer {found.path!r} has output shape {tuple(found.output.shape)}, not a spatial "
                f"(batch, height, width, channels) map. Choose one of: {_listing(spatial)}."
            )
        return found

    def _token_hint(self) -> str:
        unknown = [t for t in self.layers if t.is_token_layer and t.token_grid is None]
        if not unknown:
            return ""
        first = unknown[0]
        return (
            f" It has {len(unknown)} token layer{'s' if len(unknown) > 1 else ''} (batch, T, C), e.g. "
            f"{first.path!r} with output {tuple(first.output.shape)}, whose token grid cannot be "
            f"inferred: {first.token_source}. Pass token_grid=(h, w) to the Explainer (or to "
            "candidate_layers) to reshape the h*w patch tokens into a map (extra tokens such as a "
            "class token come first and are dropped from the map)."
        )

    def default_layer(self) -> TracedLayer:
        """The layer CAM methods use unless told otherwise.

        For a CNN, the last spatial layer (the usual Grad-CAM choice). When that is a token layer
        (a vision transformer), the last token layer whose *patch* tokens the logits depend on:
        the gradient of the logits with respect to each token layer is taken once, on a fixed
        random input, and layers whose patch-token gradient is identically zero are skipped.
        With a class-token head, only the class token leaves the last attention, so every layer
        after it (the last block's attention output, second normalisation, MLP, the final norm)
        has zero gradient on the patch tokens, and the rule picks the input of the last attention:
        the last block's first normalisation, the layer the literature recommends
        (``model.blocks[-1].norm1``, pytorch-grad-cam's tutorial "How does it work with Vision
        Transformers", https://jacobgil.github.io/pytorch-gradcam-book/vision_transformers.html).
        With global average pooling over the tokens, every patch token reaches the logits and the
        rule picks the last token layer.
        """
        if self._default is None:
            spatial = self.find_spatial()
            default = spatial[-1]
            if default.token_grid is not None:
                tokens = [t for t in spatial if t.token_grid is not None]
                live = _patch_tokens_reach_logits(self, tokens)
                default = next((t for t, ok in zip(reversed(tokens), reversed(live)) if ok), default)
            self._default = default
        return self._default

    def find_spatial(self) -> list[TracedLayer]:
        """The spatial layers; NoSpatialLayerError (saying what to do) when there are none."""
        if not self.spatial_layers:
            raise NoSpatialLayerError(
                "The model has no layer with a spatial (height, width, channels) output, so CAM "
                "methods cannot run on it." + self._token_hint() + " Gradient saliency and SmoothGrad "
                "work on any differentiable model, and occlusion on any model: use method='saliency', "
                "'smoothgrad' or 'occlusion'."
            )
        return self.spatial_layers

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


def _infer_grid(tokens: int, token_grid, last_map, square_input: bool):
    """(grid, extra tokens, source) for a layer of ``tokens`` tokens; (None, 0, reason) when the
    grid cannot be inferred."""
    if token_grid is not None and 0 <= tokens - token_grid[0] * token_grid[1] <= MAX_EXTRA_TOKENS:
        return token_grid, tokens - token_grid[0] * token_grid[1], "token_grid argument"
    if last_map is not None and 0 <= tokens - last_map[0] * last_map[1] <= MAX_EXTRA_TOKENS:
        return last_map, tokens - last_map[0] * last_map[1], "patch embedding"
    squares = [
        (math.isqrt(tokens - k), k)
        for k in range(MAX_EXTRA_TOKENS + 1)
        if tokens - k >= 4 and math.isqrt(tokens - k) ** 2 == tokens - k
    ]
    if len(squares) == 1 and square_input:
        side, extra = squares[0]
        return (side, side), extra, "square token count"
    if len(squares) > 1:
        options = " or ".join(f"{s}x{s} + {k}" for s, k in squares)
        return None, 0, f"T = {tokens} is ambiguous ({options} extra tokens) and no patch embedding precedes it"
    if squares:
        return (
            None,
            0,
            (
                f"T = {tokens} could be {squares[0][0]}x{squares[0][0]} + {squares[0][1]}, but the "
                "input is not square and no patch embedding precedes it"
            ),
        )
    return (
        None,
        0,
        (
            f"T = {tokens} is not h*w + k (k <= {MAX_EXTRA_TOKENS} extra tokens) for any "
            "(batch, h, w, C) output before it, nor a square number of patch tokens"
        ),
    )


def _patch_tokens_reach_logits(traced: TracedModel, tokens: list[TracedLayer]) -> list[bool]:
    """For each token layer, whether the logits' gradient on its patch tokens is not identically
    zero, on one fixed random input (uniform 0-255) and fixed random class weights."""
    shape = traced.input.shape
    if any(d is None for d in shape[1:]):
        return [True] * len(tokens)
    import tensorflow as tf

    probe = keras.Model(traced.input, [t.output for t in tokens] + [traced.logits])
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(0, 255, size=(1, *shape[1:])).astype(np.float32))
    weights = tf.constant(rng.normal(size=(1, traced.num_classes)).astype(np.float32))
    with tf.GradientTape() as tape:
        *outputs, logits = probe(x, training=False)
        score = tf.reduce_sum(logits * weights)
    gradients = tape.gradient(score, outputs)
    return [g is not None and bool(np.any(g.numpy()[:, t.extra_tokens :] != 0)) for t, g in zip(tokens, gradients)]


def _listing(layers: list[TracedLayer], limit: int = 12) -> str:
    names = [t.path for t in layers]
    if len(names) > limit:
        names = names[:3] + ["..."] + names[-(limit - 4) :]
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
    """The layer that makes a model's only output (inside nested models), or None.

    A functional model's output tensor names its layer only in Keras' ``_keras_history`` (Keras
    has no public way; ``layer.output`` fails for a layer called twice). Tested on every model kind
    in tests/zoo/test_hostile_models.py and tests/engine/test_keras_models.py, so a Keras that drops it fails there."""
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
