"""One batch of work for a method: the :class:`Job` protocol methods see, and its implementation.

A method asks the job for what it needs (activations, logits, gradients, ...); the job computes
each quantity at most once per batch, through the explainer's compiled functions, and reuses what
the explainer's cache already holds for an image seen before.

Shapes: B images, model input (B, H, W, C), layer activations (B, h, w, K), classes N.

Token layers (a vision transformer's (B, T, K) outputs): the job keeps, and caches, the layer's own
outputs, tokens included; methods see the patch tokens as a map (B, h, w, K) and gradients reshaped
the same way (:meth:`LayerFunctions.to_grid`), and :meth:`BatchJob.head_logits` puts the image's own
extra tokens (class token, ...) back in front of the maps it is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np

from .cache import ActivationCache, fill_rows
from .errors import MethodError
from .progress import Progress
from .targets import GROUP, TOP_PREDICTION, WEIGHTS, ResolvedTarget, group_scores, group_weights

if TYPE_CHECKING:
    from .compute import LayerFunctions
    from .explainer import Explainer


T = TypeVar("T")


def _computed(value: T | None) -> T:
    """A quantity the code just above has computed (for the type checker: it is no longer None)."""
    if value is None:  # pragma: no cover - a bug in this module, not a caller's mistake
        raise RuntimeError("A job quantity was read before it was computed.")
    return value


class Job(Protocol):
    """The quantities a method may ask for, computed lazily and at most once per batch."""

    keys: list[str]  #: per row, a digest of the image: equal keys, equal images
    options: Mapping[str, Any]  #: the method's options, defaults applied (see Method.options)
    progress: Progress

    @property
    def x(self) -> np.ndarray: ...  # model inputs, preprocessed, float32 (B, H, W, C)
    def option(self, name: str) -> Any: ...  # one of ``options``
    def activations(self) -> np.ndarray: ...  # (B, h, w, K) at the chosen layer
    def logits(self) -> np.ndarray: ...  # (B, N)
    def weights(self) -> np.ndarray: ...  # (B, N) d(score)/d(logits) per image
    def gradients(self) -> np.ndarray: ...  # d(score)/d(activations), (B, h, w, K)
    def scores(self, logits: np.ndarray, row: int) -> np.ndarray: ...  # (M,) row's score of logits (M, N)
    def probability_weights(self) -> np.ndarray: ...  # (B, N) the target's probability = probabilities . row
    # (M, N) from (M, h, w, K); ``image``: the batch row whose extra tokens go with the maps
    # (token layers with a class token; needed when the batch holds several images)
    def head_logits(self, activations: np.ndarray, image: int | None = None) -> np.ndarray: ...
    def probabilities_of_inputs(self, x: np.ndarray) -> np.ndarray: ...  # (M, N) for inputs (M, H, W, C)
    def logits_of_inputs(self, x: np.ndarray) -> np.ndarray: ...  # (M, N) for inputs (M, H, W, C)
    def input_gradients(self, x: np.ndarray, weights: np.ndarray | None, guided: bool = False) -> np.ndarray: ...
    def gap_dense_head(self) -> tuple[np.ndarray, np.ndarray]: ...  # kernel (K, N), bias (N,)


class BatchJob:
    """One batch of work for the engine: the images (as given, uint8 RGB), one target per image, the
    layer's compiled functions and the method's options; the :class:`Job` every method computes on.

    What it promises:

    * each quantity (model inputs, logits, activations, target weights, gradients) is computed at
      most once per batch, on first request, for all rows together;
    * rows are independent: row ``b``'s values depend only on image ``b`` and target ``b``;
    * with a ``cache``, an image seen before (same key) reuses its resized input, logits and layer
      outputs from it, and what is computed is put back; ``cache=None`` neither reads nor fills one;
    * nothing is written to the explainer or the images.

    Build one with :meth:`gradcam.Explainer.job` (which digests the images, resolves the targets
    and uses the explainer's cache); the explainer and :mod:`gradcam.augment` build theirs directly.

    Args:
        explainer: the explainer whose compiled functions, preprocessing and cache are used.
        images: one uint8 RGB array per row.
        keys: one digest per row (:func:`gradcam.images.image_digest`): equal keys, equal images.
        targets: one resolved target per row.
        functions: the compiled functions of the chosen layer; None for pixel methods.
        options: the method's options, defaults applied.
        progress: the progress callback.
        cache: the cache to read and fill; None to neither read nor fill it (augmented copies).
    """

    def __init__(
        self,
        explainer: Explainer,
        images: Sequence[np.ndarray],
        keys: Sequence[str],
        targets: Sequence[ResolvedTarget],
        functions: LayerFunctions | None,
        options: Mapping[str, Any],
        progress: Progress,
        cache: ActivationCache | None,
    ):
        self._explainer = explainer
        self._functions = functions
        self._images = list(images)
        self._cache = cache
        self.keys = list(keys)
        self.options: Mapping[str, Any] = dict(options)
        self.progress = progress
        self._targets = list(targets)
        self._mode = np.array([t.mode for t in targets], np.int32)
        classes = len(explainer.class_names)
        self._requested = np.stack(
            [t.weights if t.weights is not None and not t.is_top else np.zeros(classes, np.float32) for t in targets]
        )
        # Top predictions and groups need the logits to know their weights over the logits.
        self._weights: np.ndarray | None = None if (self._mode != WEIGHTS).any() else self._requested
        self._inputs: list[np.ndarray] | None = None
        self._x: np.ndarray | None = None
        # The layer's own outputs: the activations, or tokens for a token layer.
        self._outputs: np.ndarray | None = None
        self._activations: np.ndarray | None = None
        self._logits: np.ndarray | None = None
        self._gradients: np.ndarray | None = None

    @property
    def _layer(self) -> LayerFunctions:
        """The chosen layer's compiled functions; a pixel method (no layer) cannot ask for them."""
        if self._functions is None:
            raise MethodError("This quantity needs a layer, but the job was made for a pixel method (no layer).")
        return self._functions

    def option(self, name: str) -> Any:
        """The value of the method's option ``name`` (the caller's, else its declared default)."""
        return self.options[name]

    # The cache ------------------------------------------------------------------------------
    def _get(self, key: str, what: str) -> dict[str, Any]:
        entry = self._cache.get((key, what)) if self._cache is not None else None
        return entry or {}

    def _put(self, key: str, what: str, entry: dict) -> None:
        if self._cache is not None:
            self._cache.put((key, what), entry)

    def _remember(self, row: int, outputs: np.ndarray, logits: np.ndarray) -> None:
        """Keep one row's layer outputs (activations, or tokens), resized input and logits."""
        self._put(self.keys[row], self._layer.layer.path, {"activations": outputs})
        self._put(self.keys[row], "input", {"model_input": self.model_inputs()[row], "logits": logits})

    # Inputs -----------------------------------------------------------------------------------
    def model_inputs(self) -> list[np.ndarray]:
        """The images resized to the model's input size, uint8 (h, w, 3) each."""
        if self._inputs is None:

            def resize(rows):
                return [self._explainer.model_input(self._images[row]) for row in rows]

            def store(key, row, model_input):
                self._put(key, "input", {"model_input": model_input})

            self._inputs = fill_rows(self.keys, lambda key: self._get(key, "input").get("model_input"), resize, store)
        return self._inputs

    @property
    def x(self) -> np.ndarray:
        """The model inputs, preprocessed: float32 (B, H, W, C)."""
        if self._x is None:
            self._x = self._explainer.prepare_batch(self.model_inputs())
        return self._x

    # Layer quantities -------------------------------------------------------------------------
    def _set_outputs(self, outputs: np.ndarray) -> np.ndarray:
        self._outputs = outputs
        self._activations = activations = self._layer.to_grid(outputs)
        return activations

    def activations(self) -> np.ndarray:
        """The chosen layer's activations (B, h, w, K); also fills the logits."""
        if self._activations is None:
            path = self._layer.layer.path

            def cached(key):
                activations, logits = self._get(key, path).get("activations"), self._get(key, "input").get("logits")
                return None if activations is None or logits is None else (activations, logits)

            def forward(rows):
                inputs = self.model_inputs()
                activations, logits = self._layer.forward(self._explainer.prepare_batch([inputs[r] for r in rows]))
                return [(activations[i : i + 1], logits[i : i + 1]) for i in range(len(rows))]

            pairs = fill_rows(self.keys, cached, forward, lambda key, row, pair: self._remember(row, *pair))
            self._set_outputs(np.concatenate([outputs for outputs, _ in pairs]))
            self._logits = np.concatenate([logits for _, logits in pairs])
        return _computed(self._activations)

    def _all_new(self) -> bool:
        path = self._layer.layer.path
        return len(set(self.keys)) == len(self.keys) and not any(self._get(key, path) for key in self.keys)

    def gradients(self) -> np.ndarray:
        """d(score) / d(activations), (B, h, w, K), by the cheapest route available (for a group
        target, the gradient of its log-sum-exp: see :meth:`weights`)."""
        if self._gradients is None:
            functions = self._layer
            if functions.has_linear_head and self._activations is None and self._all_new():
                # New images on a global-average-pooling + dense head: one compiled call gives the
                # activations, the logits and the closed-form gradient.
                outputs, logits, gradients, self._weights = functions.forward_linear(
                    self.x, self._requested, self._mode
                )
                for row in range(len(self.keys)):
                    self._remember(row, outputs[row : row + 1], logits[row : row + 1])
                self._set_outputs(outputs)
                self._logits, self._gradients = logits, functions.to_grid(gradients)
            elif functions.head_available:
                self.activations()
                _, gradients = functions.head_gradients(self._outputs, self.weights())
                self._gradients = functions.to_grid(gradients)
            else:
                outputs, logits, gradients, weights = functions.forward_gradients(self.x, self._requested, self._mode)
                self._set_outputs(outputs)
                self._logits, self._gradients = logits, functions.to_grid(gradients)
                self._weights = weights
        return _computed(self._gradients)

    def head_logits(self, activations: np.ndarray, image: int | None = None) -> np.ndarray:
        """Logits (M, N) from given activations (M, h, w, K), through the layers after the layer.

        On a token layer with extra tokens (a class token, ...) the head needs them too: those of
        batch row ``image`` (the image the maps were derived from) are put back in front; without
        ``image``, the batch must hold one image (several targets of it)."""
        functions = self._layer
        if not functions.head_available:
            raise MethodError(
                f"This method needs the logits to depend on the input only through layer "
                f"{self._layer.layer.path!r}, but another path (a skip connection) goes around "
                f"it. Choose a later layer, e.g. {self._explainer.default_layer!r}, or a gradient method."
            )
        extras = None
        if functions.extra_tokens:
            if image is None:
                if len(set(self.keys)) > 1:
                    raise MethodError(
                        f"Layer {functions.layer.path!r} is a token layer with {functions.extra_tokens} extra "
                        "token(s) (a class token, ...) that the head needs back; with several images in the "
                        "batch, pass image=<batch row> to job.head_logits."
                    )
                image = 0
            self.activations()
            extras = _computed(self._outputs)[image : image + 1, : functions.extra_tokens]
        return functions.head_logits(functions.to_outputs(activations, extras))

    def gap_dense_head(self) -> tuple[np.ndarray, np.ndarray]:
        """(kernel (K, N), bias (N,)) of a global-average-pooling + dense head after the layer."""
        head = self._layer.linear_head()
        if head is not None:
            return head
        raise MethodError(
            f"CAM needs layer {self._layer.layer.path!r} to be followed by global average pooling "
            f"and one dense layer; after it comes {self._layer.head_description()}. Use Grad-CAM, "
            f"which equals CAM on such heads, or choose layer {self._explainer.default_layer!r}."
        )

    # Model quantities -------------------------------------------------------------------------
    def logits(self) -> np.ndarray:
        """The model's logits (B, N) for the batch's images."""
        if self._logits is None:
            if self._functions is not None:
                self.activations()
            else:
                compiled = self._explainer.compiled

                def forward(rows):
                    inputs = self.model_inputs()
                    logits = compiled.logits(self._explainer.prepare_batch([inputs[r] for r in rows]))
                    return [logits[i : i + 1] for i in range(len(rows))]

                def store(key, row, logits):
                    self._put(key, "input", {"model_input": self.model_inputs()[row], "logits": logits})

                self._logits = np.concatenate(
                    fill_rows(self.keys, lambda key: self._get(key, "input").get("logits"), forward, store)
                )
        return _computed(self._logits)

    def weights(self) -> np.ndarray:
        """The weights over the logits per image (B, N) whose linear score has the target's
        gradient: a class's one-hot row; the one-hot of the argmax of the logits for a top
        prediction (the lowest index among equal logits); for a group, the softmax of its members'
        logits (minus the other group's, see :func:`gradcam.targets.group_weights`)."""
        if self._weights is None:
            logits = self.logits()
            weights = self._requested.copy()
            for b in np.flatnonzero(self._mode == TOP_PREDICTION):
                weights[b] = 0.0
                weights[b, np.argmax(logits[b])] = 1.0
            groups = np.flatnonzero(self._mode == GROUP)
            if len(groups):
                weights[groups] = group_weights(logits[groups], self._requested[groups])
            self._weights = weights
        return _computed(self._weights)

    def fixed_target(self, row: int) -> ResolvedTarget:
        """Row ``row``'s target with a top prediction replaced by the class chosen on this image
        (augmented copies of the image are explained for it); other targets as given."""
        if self._mode[row] == TOP_PREDICTION:
            return ResolvedTarget.from_weights(self.weights()[row])
        return self._targets[row]

    def scores(self, logits: np.ndarray, row: int) -> np.ndarray:
        """The score that row ``row``'s target explains, for each row of ``logits`` (M, N): the
        weighted logits, or a group's log-sum-exp (Ablation-CAM scores ablated copies with it)."""
        logits = np.asarray(logits)
        if self._mode[row] == GROUP:
            return group_scores(logits, self._requested[row]).astype(np.float32)
        return logits @ self.weights()[row]

    def probability_weights(self) -> np.ndarray:
        """Rows (B, N) whose dot product with class probabilities is the target's probability
        score: :meth:`weights` for a class, a contrast or a top prediction; for a group +1 on its
        members (minus 1 on the other group's), so a group scores the sum of its probabilities
        (Score-CAM)."""
        groups = (self._mode == GROUP)[:, None]
        return np.where(groups, self._requested, self.weights()).astype(np.float32)

    def probabilities_of_inputs(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (M, N) of arbitrary model inputs x (M, H, W, C), already
        preprocessed (masked or noisy copies of ``self.x``)."""
        return self._explainer.probabilities_from_logits(self.logits_of_inputs(x))

    def logits_of_inputs(self, x: np.ndarray) -> np.ndarray:
        """Logits (M, N) of arbitrary model inputs x (M, H, W, C), already preprocessed
        (occluded copies of ``self.x``)."""
        return self._explainer.compiled.logits(np.ascontiguousarray(x, np.float32))

    def input_gradients(self, x: np.ndarray, weights: np.ndarray | None, guided: bool = False) -> np.ndarray:
        """d(weights . logits) / d(x), shape of x. ``weights`` None: the job's own images and
        targets (x is ``self.x``), a top prediction or a group resolved inside the pass."""
        x = np.ascontiguousarray(x, np.float32)
        compiled = self._explainer.compiled
        if weights is None:
            logits, gradients = compiled.input_gradients(x, self._requested, self._mode, guided)
            if self._logits is None:
                self._logits = logits
            return gradients
        as_given = np.full(len(x), WEIGHTS, np.int32)
        _, gradients = compiled.input_gradients(x, np.asarray(weights, np.float32), as_given, guided)
        return gradients
