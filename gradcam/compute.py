"""Compiled TensorFlow functions for one model: built once, shared by every thread.

Everything here works on the model's own input (already resized and preprocessed) and returns
NumPy arrays. Target classes arrive as *weight vectors* over the logits, shape (batch, classes),
each with a ``mode`` (:mod:`gradcam.targets`): a one-hot row explains one class, ``e_a - e_b``
explains "a rather than b"; a TOP_PREDICTION row is replaced by the one-hot of the image's top
prediction inside the compiled function, so that "explain the top class of a new image" costs one
pass, not two; a GROUP row (+1 on a group's members, -1 on the other group's) is replaced by the
gradient of its log-sum-exp score with respect to the logits, computed from the same pass's logits
(:func:`gradcam.targets.group_weights`), so a group costs what a class costs.
"""

from __future__ import annotations

from .tensorflow_import import import_tensorflow_quietly

import_tensorflow_quietly()  # before TensorFlow's own import, to hide its start-up notices

import threading
import warnings
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from tensorflow.python.framework import ops as tf_ops

from .model_graph import PreActivationDense, TracedLayer, TracedModel
from .targets import GROUP, TOP_PREDICTION

_GUIDED_RELU = "GradCamExplorerGuidedRelu"
# Up to this many classes with a non-zero target weight, a GAP + dense head's channel weights are
# computed from those classes' kernel columns only.
_FEW_CLASSES = 16
_GUIDED_RELU6 = "GradCamExplorerGuidedRelu6"


def _guided(op, grad, upper=None):
    # Guided backpropagation (Springenberg et al. 2015, eq. 6): pass a gradient only where both
    # the forward input and the incoming gradient are positive.
    x = op.inputs[0]
    gate = tf.cast(grad > 0, grad.dtype) * tf.cast(x > 0, grad.dtype)
    if upper is not None:
        gate *= tf.cast(x < upper, grad.dtype)
    return grad * gate


tf_ops.RegisterGradient(_GUIDED_RELU)(lambda op, grad: _guided(op, grad))
tf_ops.RegisterGradient(_GUIDED_RELU6)(lambda op, grad: _guided(op, grad, upper=6.0))


class LayerFunctions:
    """The compiled functions that look at one layer.

    Attributes:
        layer: the traced layer.
        head_available: whether ``activations -> logits`` exists as its own model (no skip
            connection jumps over the layer). Cached activations can then answer a new class
            without running the network again, and Ablation-CAM can run.
    """

    def __init__(self, traced: TracedModel, layer: TracedLayer, jit_compile: bool | str = False):
        self.layer = layer
        #: For a token layer: its (h, w) grid and the number of extra tokens before the patch
        #: tokens. Every compiled function below works on the layer's own output ("outputs":
        #: (B, T, K) tokens for a token layer, the map itself otherwise), so the head gets back the
        #: image's own extra tokens; :meth:`to_grid` and :meth:`to_outputs` convert.
        self.token_grid = layer.token_grid
        self.extra_tokens = layer.extra_tokens
        features, head = traced.split(layer)
        self._dense = _gap_dense(head, layer)
        self._head = head
        self.has_linear_head = self._dense is not None
        self.head_available = head is not None
        classes = traced.num_classes
        x_spec = tf.TensorSpec((None, *traced.input.shape[1:]), tf.float32)
        a_spec = tf.TensorSpec((None, *layer.output.shape[1:]), tf.float32)
        w_spec = tf.TensorSpec((None, classes), tf.float32)
        mode_spec = tf.TensorSpec((None,), tf.int32)

        @tf.function(input_signature=[x_spec])
        def forward(x):
            activations, logits = features(x, training=False)
            return activations, logits

        @tf.function(input_signature=[x_spec, w_spec, mode_spec])
        def forward_gradients(x, weights, mode):
            with tf.GradientTape() as tape:
                activations, logits = features(x, training=False)
                weights = _choose_weights(logits, weights, mode, classes)
                score = tf.reduce_sum(logits * weights)
            return activations, logits, tape.gradient(score, activations), weights

        # XLA, where asked (CompiledModel's jit_compile), for the passes that run once per image
        # or class; not for the Score-CAM/ablation batches, whose sizes vary (one XLA compile each).
        self._forward = _Concrete(forward, jit_compile)
        self._forward_gradients = _Concrete(forward_gradients, jit_compile)
        if head is not None:

            @tf.function(input_signature=[a_spec, w_spec])
            def head_gradients(activations, weights):
                with tf.GradientTape() as tape:
                    tape.watch(activations)
                    logits = head(activations, training=False)
                    score = tf.reduce_sum(logits * weights)
                return logits, tape.gradient(score, activations)

            @tf.function(input_signature=[a_spec])
            def head_logits(activations):
                return head(activations, training=False)

            self._head_gradients = _Concrete(head_gradients, jit_compile)
            self._head_logits = _Concrete(head_logits)
        if self._dense is not None:
            kernel = self._dense.kernel

            @tf.function(input_signature=[w_spec])
            def channel_weights(weights):
                return tf.matmul(weights, kernel, transpose_b=True)

            @tf.function(input_signature=[x_spec, w_spec, mode_spec])
            def forward_linear(x, weights, mode):
                activations, logits = features(x, training=False)
                weights = _choose_weights(logits, weights, mode, classes)
                return activations, logits, tf.matmul(weights, kernel, transpose_b=True), weights

            self._channel_weights = _Concrete(channel_weights)
            self._forward_linear = _Concrete(forward_linear)

    @property
    def xla_batch_sizes(self) -> list[int] | None:
        """The batch sizes whose gradient pass runs XLA's compiled function: with ``BACKGROUND``,
        those compiled so far; None when ``jit_compile`` is True (every size, compiled at its first
        call); [] without XLA (also after XLA failed to compile the model)."""
        return self._forward_gradients.xla_batch_sizes

    def to_grid(self, outputs: np.ndarray) -> np.ndarray:
        """The activation map (B, h, w, K) from the layer's outputs: for a token layer (B, T, K),
        the patch tokens (the extra tokens dropped) reshaped row by row to the grid; a map as is.
        Gradients with respect to the outputs convert the same way."""
        if self.token_grid is None:
            return outputs
        h, w = self.token_grid
        return outputs[:, self.extra_tokens :].reshape(len(outputs), h, w, outputs.shape[-1])

    def to_outputs(self, activations: np.ndarray, extras: np.ndarray | None) -> np.ndarray:
        """The layer's outputs from maps (M, h, w, K): for a token layer, ``extras`` (1 or M, k, K),
        the image's own extra tokens, go back in front of the flattened patch tokens."""
        if self.token_grid is None:
            return activations
        tokens = activations.reshape(len(activations), -1, activations.shape[-1])
        if self.extra_tokens:
            if extras is None:
                raise ValueError(
                    f"Layer {self.layer.path!r} has {self.extra_tokens} extra token(s): pass them as extras."
                )
            extras = np.broadcast_to(extras, (len(activations), *extras.shape[1:]))
            tokens = np.concatenate([extras, tokens], axis=1)
        return np.ascontiguousarray(tokens, np.float32)

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Layer outputs (B, h, w, K), or (B, T, K) for a token layer, and logits (B, classes) for
        model inputs x (B, H, W, C)."""
        activations, logits = self._forward(x)
        return activations.numpy(), logits.numpy()

    def forward_gradients(self, x, weights, mode):
        """Layer outputs, logits, d(score)/d(outputs) and the weights actually used, in one pass."""
        outputs = self._forward_gradients(x, weights, mode)
        return tuple(t.numpy() for t in outputs)

    def head_gradients(self, activations, weights):
        """Logits (None on the GAP + dense shortcut) and d(score)/d(outputs) from given layer
        outputs, through the head only."""
        if self._dense is not None:
            # Global average pooling + dense: logits = mean_ij(A) W + b, so d(w . logits)/dA_ij is
            # (W w) / (h w) at every location: exact, without a backward pass. The kernel is read
            # inside TensorFlow (no copy out), so a model trained further is seen as it is now.
            # (For a token layer without extra tokens and average pooling over the tokens, T = h*w
            # plays the area.)
            area = _area(activations)
            used = np.flatnonzero(np.any(weights != 0, axis=0))
            if len(used) <= _FEW_CLASSES:
                # A target weights one or two classes (a class, a contrast): reading only their
                # kernel columns (one eager gather) instead of multiplying by the whole kernel
                # (5 MB for ImageNet, in a compiled call) saves a third of a new class's time.
                columns = tf.gather(_tf_variable(self._dense.kernel), used, axis=1).numpy()
                per_channel = (weights[:, used] @ columns.T) / area
            else:
                per_channel = self._channel_weights(weights).numpy() / area
            gradients = np.broadcast_to(_per_location(per_channel, activations), activations.shape)
            return None, gradients
        logits, grads = self._head_gradients(activations, weights)
        return logits.numpy(), grads.numpy()

    def forward_linear(self, x, weights, mode):
        """For a GAP + dense head only: activations, logits, d(score)/d(activations) (closed form,
        see head_gradients) and the weights used, in one compiled call."""
        activations, logits, per_channel, weights = (t.numpy() for t in self._forward_linear(x, weights, mode))
        gradients = np.broadcast_to(_per_location(per_channel / _area(activations), activations), activations.shape)
        return activations, logits, gradients, weights

    def head_logits(self, activations: np.ndarray) -> np.ndarray:
        """Logits from given layer outputs (B, h, w, K) or tokens (B, T, K), through the head only."""
        return self._head_logits(activations).numpy()

    def linear_head(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(kernel (K, classes), bias (classes,)) when the layer is followed by global average
        pooling, optional dropout and one dense layer without activation; else None. Read at
        each call, so a model trained further after the explainer was built is seen as it is."""
        if self._dense is None:
            return None
        kernel = np.asarray(self._dense.kernel.numpy(), np.float32)
        bias = (
            np.asarray(self._dense.bias.numpy(), np.float32)
            if self._dense.use_bias
            else np.zeros(kernel.shape[1], np.float32)
        )
        return kernel, bias

    def head_description(self) -> str:
        """The layers between this layer and the logits, for messages."""
        if self._head is None:
            return "a path that also goes around it (a skip connection)"
        return " -> ".join(type(layer).__name__ for layer in _head_layers(self._head)) or "nothing"


def _tf_variable(variable):
    # Keras 3 wraps a tf.Variable: the wrapped one takes TensorFlow's eager fast path (the wrapper
    # is converted to a tensor first, a copy of the whole kernel).
    inner = getattr(variable, "value", None)
    return inner if isinstance(inner, tf.Variable) else variable


def _head_layers(head) -> list:
    return [layer for layer in head.layers if type(layer).__name__ != "InputLayer"]


def _area(outputs: np.ndarray) -> int:
    """The number of locations of layer outputs (B, h, w, K) or tokens (B, T, K)."""
    return int(np.prod(outputs.shape[1:-1]))


def _per_location(per_channel: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """Per-channel values (B, K) shaped to broadcast over every location of ``outputs``."""
    return per_channel.reshape(len(per_channel), *([1] * (outputs.ndim - 2)), per_channel.shape[-1])


def _gap_dense(head, traced_layer: TracedLayer | None = None):
    """The dense layer of a global-average-pooling + (dropout) + dense head, else None. On a token
    layer without extra tokens, average pooling over the tokens (GlobalAveragePooling1D) is the
    average over the grid and counts too."""
    if head is None:
        return None
    core = [layer for layer in _head_layers(head) if not isinstance(layer, keras.layers.Dropout)]
    pooling = keras.layers.GlobalAveragePooling2D
    if traced_layer is not None and traced_layer.token_grid is not None and traced_layer.extra_tokens == 0:
        pooling = keras.layers.GlobalAveragePooling1D
    if len(core) != 2 or not isinstance(core[0], pooling) or core[0].data_format != "channels_last":
        return None
    if core[0].keepdims:
        return None
    last = core[1]
    # The pre-softmax logits of a Dense layer: this library's own, or the model zoo's for a user's
    # model whose last Dense applies a softmax (model_zoo.user_models.DenseLogits).
    if isinstance(last, PreActivationDense) or (
        getattr(last, "computes_dense_logits", False) and isinstance(getattr(last, "dense", None), keras.layers.Dense)
    ):
        return last.dense
    if isinstance(last, keras.layers.Dense) and getattr(last.activation, "__name__", "") == "linear":
        return last
    return None


#: ``jit`` of :class:`_Concrete`: run without XLA at first, compile with XLA in the background.
BACKGROUND = "background"


class _Concrete:
    """A tf.function with a fixed input signature, called through its concrete function: that
    skips tf.function's per-call argument binding, about 2 ms a call here (a tenth of a forward
    pass of a small model). Traced on first use, under a lock.

    ``jit``: False, the ordinary compiled function. True, compiled with XLA; XLA compiles at the
    first call of each batch size. ``BACKGROUND``: every call of a batch size that XLA has not
    compiled yet runs the ordinary function at once, and XLA compiles that batch size in a
    background thread; later calls of that size run XLA's. The first map is then as fast as
    without XLA, and the later ones as fast as with it. Either way a graph XLA cannot compile (an
    op it lacks, such as a ``tf.numpy_function``) runs without XLA from then on, with a warning.
    """

    def __init__(self, function, jit: bool | str = False):
        self._function = function
        self._jit = jit
        self._concrete: Any = None  # a tf ConcreteFunction once traced
        self._lock = threading.Lock()
        self._xla_lock = threading.Lock()  # held while the XLA function is traced (not the call path)
        self._xla: Any = None  # the XLA-compiled ConcreteFunction, once built
        self._xla_failed = False
        self._xla_shapes: set[tuple] = set()  # the batch shapes XLA has compiled (BACKGROUND)
        self._compiling: dict[tuple, threading.Thread] = {}

    def __call__(self, *args):
        if self._concrete is None:
            with self._lock:
                if self._concrete is None:
                    if self._jit is True:
                        return self._first_xla_call(args)
                    self._concrete = self._function.get_concrete_function()
        if self._jit == BACKGROUND and not self._xla_failed:
            shapes = tuple(tuple(arg.shape) for arg in args)
            if shapes in self._xla_shapes:
                return self._xla(*args)
            self._compile_in_background(shapes, args)
        return self._concrete(*args)

    @property
    def xla_batch_sizes(self) -> list[int] | None:
        if self._jit is True and not self._xla_failed:
            return None
        return sorted(shapes[0][0] for shapes in self._xla_shapes)

    def wait(self, timeout: float | None = None) -> None:
        """Until the background XLA compilations started so far have ended."""
        for thread in list(self._compiling.values()):
            thread.join(timeout)

    def _xla_function(self):
        return tf.function(
            self._function.python_function, input_signature=self._function.input_signature, jit_compile=True
        ).get_concrete_function()

    def _first_xla_call(self, args):
        xla = self._xla_function()
        try:
            result = xla(*args)
        except _XLA_ERRORS as error:
            self._give_up_xla(error)
            self._concrete = self._function.get_concrete_function()
            return self._concrete(*args)
        self._concrete = xla
        return result

    def _compile_in_background(self, shapes: tuple, args) -> None:
        with self._lock:
            if shapes in self._compiling or shapes in self._xla_shapes or self._xla_failed:
                return
            # Copies: the caller may reuse its arrays while XLA compiles.
            args = tuple(np.array(arg) for arg in args)
            # Not a daemon: the interpreter waits for it at exit rather than stopping TensorFlow
            # in the middle of a compilation.
            thread = threading.Thread(
                target=self._compile, args=(shapes, args), name=f"xla-{self._function.python_function.__name__}"
            )
            self._compiling[shapes] = thread
        thread.start()

    def _compile(self, shapes: tuple, args) -> None:
        try:
            with self._xla_lock:
                if self._xla is None:
                    self._xla = self._xla_function()
            self._xla(*args)  # compiles this batch size
            with self._lock:
                self._xla_shapes.add(shapes)
        except Exception as error:  # noqa: BLE001 -- an optimisation in the background: never fatal
            self._give_up_xla(error)
        finally:
            with self._lock:
                self._compiling.pop(shapes, None)

    def _give_up_xla(self, error) -> None:
        self._xla_failed = True
        reason = str(error).strip().splitlines()[0][:300]
        warnings.warn(
            f"XLA could not compile {self._function.python_function.__name__} for this model ({reason}); "
            "it runs without XLA (for a vision transformer on a CPU, about 1.6x slower). Pass "
            "jit_compile=False to the Explainer to skip the attempt.",
            RuntimeWarning,
            stacklevel=2,
        )


_XLA_ERRORS = (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError, tf.errors.NotFoundError)


def _choose_weights(logits, weights, mode, classes):
    top = tf.one_hot(tf.argmax(logits, axis=-1), classes, dtype=logits.dtype)
    chosen = tf.where((mode == TOP_PREDICTION)[:, None], top, weights)
    chosen = tf.where((mode == GROUP)[:, None], _group_weights(logits, weights), chosen)
    return tf.stop_gradient(chosen)


def _group_weights(logits, signs):
    # d lse(z[A]) / dz is the softmax of z restricted to A (zero outside); minus the same for B.
    total = tf.zeros_like(logits)
    for sign in (1.0, -1.0):
        mask = signs * sign > 0
        z = tf.where(mask, logits, tf.fill(tf.shape(logits), tf.constant(-1e30, logits.dtype)))
        e = tf.where(mask, tf.exp(z - tf.reduce_max(z, axis=-1, keepdims=True)), tf.zeros_like(logits))
        total += sign * tf.math.divide_no_nan(e, tf.reduce_sum(e, axis=-1, keepdims=True))
    return total


class CompiledModel:
    """Every compiled function of one traced classifier, built on first use and kept.

    Thread-safe: functions are built under a lock; calling a built tf.function concurrently is
    safe in TensorFlow.

    ``jit_compile``: compile each layer's forward, gradient and head-gradient passes with XLA:
    False, True or ``BACKGROUND`` (see :class:`_Concrete`; :class:`gradcam.Explainer` chooses).
    """

    def __init__(self, traced: TracedModel, jit_compile: bool | str = False):
        self.traced = traced
        self.jit_compile = jit_compile
        self._lock = threading.Lock()
        self._layers: dict[str, LayerFunctions] = {}
        classifier = traced.classifier()
        classes = traced.num_classes
        x_spec = tf.TensorSpec((None, *traced.input.shape[1:]), tf.float32)
        w_spec = tf.TensorSpec((None, classes), tf.float32)
        mode_spec = tf.TensorSpec((None,), tf.int32)

        @tf.function(input_signature=[x_spec])
        def logits(x):
            return classifier(x, training=False)

        @tf.function(input_signature=[x_spec, w_spec, mode_spec])
        def input_gradients(x, weights, mode):
            with tf.GradientTape() as tape:
                tape.watch(x)
                out = classifier(x, training=False)
                score = tf.reduce_sum(out * _choose_weights(out, weights, mode, classes))
            return out, tape.gradient(score, x)

        @tf.function(input_signature=[x_spec, w_spec, mode_spec])
        def guided_input_gradients(x, weights, mode):
            # tf.gradients (not a tape) so that the gradient override map applies to ReLU ops.
            graph = tf.compat.v1.get_default_graph()
            with graph.gradient_override_map({"Relu": _GUIDED_RELU, "Relu6": _GUIDED_RELU6}):
                out = classifier(x, training=False)
            score = tf.reduce_sum(out * _choose_weights(out, weights, mode, classes))
            return out, tf.gradients(score, x)[0]

        self._logits = _Concrete(logits)
        self._input_gradients = _Concrete(input_gradients)
        self._guided_input_gradients = _Concrete(guided_input_gradients)

    def layer(self, layer: TracedLayer) -> LayerFunctions:
        with self._lock:
            functions = self._layers.get(layer.path)
            if functions is None:
                functions = self._layers[layer.path] = LayerFunctions(self.traced, layer, self.jit_compile)
            return functions

    def wait_for_xla(self, timeout: float | None = None) -> None:
        """Until the background XLA compilations started so far have ended (``jit_compile`` is
        ``BACKGROUND``); then every batch size seen so far runs XLA's compiled function."""
        with self._lock:
            layers = list(self._layers.values())
        for functions in layers:
            for concrete in (
                functions._forward,
                functions._forward_gradients,
                getattr(functions, "_head_gradients", None),
            ):
                if concrete is not None:
                    concrete.wait(timeout)

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Logits (B, classes) for model inputs x (B, H, W, C)."""
        return self._logits(x).numpy()

    def input_gradients(self, x, weights, mode, guided: bool = False):
        """Logits and d(score)/d(input), shape (B, H, W, C); guided=True applies guided backprop."""
        fn = self._guided_input_gradients if guided else self._input_gradients
        out, grads = fn(x, weights, mode)
        return out.numpy(), grads.numpy()
