"""The Explainer: any Keras classifier, any image, any class, any registered method."""
from __future__ import annotations

import difflib
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np

from . import limits
from .compute import CompiledModel, LayerFunctions
from .errors import ImageError, MethodError, TargetError, UnknownClassError, UnsupportedModelError
from .explanation import Contrast, Explanation, Target
from .images import as_rgb_uint8
from .methods import get_method
from .model_graph import TracedModel

#: Options every method accepts, besides its own (Method.options).
COMMON_OPTIONS = ("aug_smooth", "progress")
_TOP = -1  # the requested-class marker for "the top prediction"


class Explainer:
    """Explains one classifier's decisions. Build one per model and share it: it is thread-safe,
    it never changes the model, and it keeps compiled functions and recent activations.

    Args:
        model: a model-zoo model (anything with ``keras_model``, ``preprocess``, ``class_names``
            and ``input_size``), or a ``keras.Model``: Functional, Sequential (also one built
            without an ``Input``, given ``input_size``), or one with a nested backbone. A final
            softmax or sigmoid is skipped: maps explain logits.
        preprocess: callable, uint8 images (N, h, w, 3) -> float32 model inputs. Default: the
            zoo model's, else the pixel values as float32 (0-255).
        class_names: one name per output. Default: the zoo model's, else "class 0", "class 1", ...
        input_size: (height, width) the image is resized to. Default: the model's input shape.
    """

    def __init__(self, model: Any, *, preprocess: Callable | None = None,
                 class_names: Sequence[str] | None = None, input_size: tuple[int, int] | None = None):
        keras_model = getattr(model, "keras_model", model)
        #: The caller's Keras model (never modified); sanity checks clone it.
        self.keras_model = keras_model
        self.name: str = str(getattr(model, "name", None) or getattr(keras_model, "name", "model"))
        self.preprocess = preprocess or getattr(model, "preprocess", None) or _as_float
        input_size = input_size or getattr(model, "input_size", None)
        channels = _channels(keras_model)
        shape = (int(input_size[0]), int(input_size[1]), channels) if input_size else None
        self._traced = TracedModel(keras_model, shape)
        h, w = self._traced.input.shape[1:3]
        if h is None or w is None:
            raise UnsupportedModelError(
                f"The model accepts images of any size (input shape {tuple(self._traced.input.shape)}); "
                "pass input_size=(height, width) to the Explainer to choose the size images are resized to."
            )
        self.input_size: tuple[int, int] = (int(h), int(w))
        self._compiled = CompiledModel(self._traced)
        names = class_names if class_names is not None else getattr(model, "class_names", None)
        classes = self._traced.num_classes
        if names is None:
            names = [f"class {i}" for i in range(classes)]
        if len(names) != classes:
            raise UnknownClassError(
                f"{len(names)} class names were given but the model has {classes} outputs; "
                "give one name per output."
            )
        self.class_names: list[str] = [str(n) for n in names]
        self._by_name = {n.lower(): i for i, n in reversed(list(enumerate(self.class_names)))}
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple, dict] = OrderedDict()
        self._cache_bytes = 0

    # -- what the model offers ---------------------------------------------------------------
    @property
    def layers(self) -> list[str]:
        """Paths of the layers with a spatial output, in order; CAM methods can use any of them."""
        return [t.path for t in self._traced.spatial_layers]

    @property
    def default_layer(self) -> str:
        """The last spatial layer: the usual Grad-CAM choice."""
        return self._traced.find(None).path

    @property
    def output_activation(self) -> str:
        return self._traced.output_activation or "softmax"

    def class_index(self, target: int | str) -> int:
        """The index of a class given by index or name (case-insensitive)."""
        if isinstance(target, (bool, np.bool_)):
            raise TargetError(f"A class index or name is expected; got {target!r}.")
        if isinstance(target, (int, np.integer)):
            index = int(target)
            if not 0 <= index < len(self.class_names):
                raise UnknownClassError(
                    f"Class index {index} is out of range: the model has {len(self.class_names)} "
                    f"classes, 0 to {len(self.class_names) - 1}."
                )
            return index
        if isinstance(target, str):
            text = target.strip()
            if text.lower() in self._by_name:
                return self._by_name[text.lower()]
            if text.isdigit():
                return self.class_index(int(text))
            raise UnknownClassError(f"Unknown class {target!r}. {self._suggest(text)}")
        raise TargetError(f"A class index, a class name, None or a Contrast is expected; got {target!r}.")

    def _suggest(self, text: str) -> str:
        lowered = text.lower()
        close = difflib.get_close_matches(lowered, list(self._by_name), n=5, cutoff=0.6)
        close += [n for n in self._by_name if lowered in n and n not in close][: 5 - len(close)]
        if close:
            return "Closest names: " + ", ".join(repr(self.class_names[self._by_name[n]]) for n in close) + "."
        return f"The model has {len(self.class_names)} classes; see explainer.class_names."

    # -- predictions ---------------------------------------------------------------------------
    def model_input(self, image: np.ndarray) -> np.ndarray:
        """The image as the model sees it: uint8 (h, w, 3), the whole image squashed to the
        model's input size (no crop, so the map covers every pixel). Shrinking averages over
        each output pixel's area (OpenCV INTER_AREA, antialiased); enlarging is bicubic."""
        image = as_rgb_uint8(image)
        h, w = self.input_size
        if image.shape[:2] == (h, w):
            return image
        shrinking = image.shape[0] > h or image.shape[1] > w
        return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Probabilities from logits (B, classes), with the model's own output activation."""
        logits = logits.astype(np.float64)
        if self.output_activation == "sigmoid":
            return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
        shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return (shifted / shifted.sum(axis=-1, keepdims=True)).astype(np.float32)

    def predict(self, image: np.ndarray) -> np.ndarray:
        """Class probabilities (classes,) for one uint8 RGB image (H, W, 3)."""
        x = self._prepare([self.model_input(image)])
        return self.probabilities(self._compiled.logits(x))[0]

    def probabilities_of(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Class probabilities (N, classes) for uint8 images (N, h, w, 3) already at the model's
        input size, ``batch_size`` at a time through the compiled forward pass."""
        images = np.asarray(images)
        if images.ndim != 4 or tuple(images.shape[1:3]) != self.input_size:
            raise ImageError(
                f"Images of shape (N, {self.input_size[0]}, {self.input_size[1]}, 3) are expected "
                f"(the model's input size); got {images.shape}. Use explainer.model_input(image)."
            )
        if images.dtype != np.uint8:
            raise ImageError(f"uint8 images are expected; got {images.dtype}.")
        batch_size = max(1, int(batch_size))
        out = [self.probabilities(self._compiled.logits(self._prepare(list(images[start:start + batch_size]))))
               for start in range(0, len(images), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, len(self.class_names)), np.float32)

    def top_k(self, image: np.ndarray, k: int = 5) -> list[tuple[int, str, float]]:
        """The k most probable classes as (index, name, probability)."""
        return self._top(self.predict(image), k)

    def _top(self, probabilities: np.ndarray, k: int = 5) -> list[tuple[int, str, float]]:
        order = np.argsort(probabilities)[::-1][:k]
        return [(int(i), self.class_names[i], float(probabilities[i])) for i in order]

    # -- explanations --------------------------------------------------------------------------
    def explain(self, image: np.ndarray, target: Target = None, method: str = "gradcam",
                layer: str | None = None, **options) -> Explanation:
        """Explain one image.

        Args:
            image: uint8 RGB (H, W, 3), any size (gray, RGBA and float [0, 1] arrays are converted).
            target: class index, class name (case-insensitive), None for the top prediction, or
                ``Contrast(a, b)`` for "why a rather than b".
            method: a key of ``gradcam.METHODS``.
            layer: a path from ``explainer.layers``; default the last spatial layer. Ignored by
                pixel methods (saliency, SmoothGrad, guided backpropagation).
            **options: ``aug_smooth=True`` averages the map over flips and brightness changes
                (CAM methods); ``progress=callable(fraction, message)``; and the method's own
                (see its docstring).

        Returns:
            An :class:`Explanation` whose heatmap is aligned with ``image``'s pixels.
        """
        return self._explain([image], [target], method, layer, options)[0]

    def explain_targets(self, image: np.ndarray, targets: Sequence[Target], method: str = "gradcam",
                        layer: str | None = None, **options) -> list[Explanation]:
        """Several targets of one image, computed together: the network runs once and the head
        once for all targets (for gradient methods on a layer whose head stands alone)."""
        if len(targets) == 0:
            raise TargetError("No targets given; pass at least one class index, name or Contrast.")
        image = as_rgb_uint8(image)
        return self._explain([image] * len(targets), list(targets), method, layer, options)

    def explain_batch(self, images: Sequence[np.ndarray], targets: Target | Sequence[Target] = None,
                      method: str = "gradcam", layer: str | None = None, batch_size: int = 32,
                      **options) -> list[Explanation]:
        """Many images, ``batch_size`` at a time through the network.

        ``targets`` is one target per image (a list as long as ``images``), or a single target
        applied to every image (None: each image's own top prediction). A list of another length
        is refused, never applied to the first images only.
        """
        images = list(images)
        if isinstance(targets, (list, tuple)):
            if len(targets) != len(images):
                raise TargetError(
                    f"{len(targets)} targets were given for {len(images)} images; give one target "
                    "per image, or a single target (not in a list) to use for all of them."
                )
            targets = list(targets)
        else:
            targets = [targets] * len(images)
        results: list[Explanation] = []
        for start in range(0, len(images), batch_size):
            results += self._explain(images[start:start + batch_size], targets[start:start + batch_size],
                                     method, layer, options)
        return results

    # -- the shared path -----------------------------------------------------------------------
    def _explain(self, images, targets, method_name, layer_name, options) -> list[Explanation]:
        started = time.perf_counter()
        method = get_method(method_name)
        options = dict(options)
        progress = options.pop("progress", None) or (lambda fraction, message: None)
        aug_smooth = bool(options.pop("aug_smooth", False))
        unknown = set(options) - set(method.options)
        if unknown:
            valid = sorted(set(method.options) | set(COMMON_OPTIONS))
            raise MethodError(
                f"Unknown option(s) {', '.join(sorted(unknown))} for {method.label}; "
                f"valid options: {', '.join(valid) or 'none'}."
            )
        originals = [as_rgb_uint8(image) for image in images]
        requested = [self._resolve(t) for t in targets]
        functions = None
        if method.uses_layer:
            functions = self._compiled.layer(self._traced.find(layer_name))
        elif layer_name is not None and layer_name not in self.layers:
            self._traced.find(layer_name)  # still refuse a wrong layer name, with the valid ones
        notes: list[str] = []
        job = _Job(self, originals, requested, functions, options, progress)
        if aug_smooth and method.uses_layer:
            raw = self._smoothed_maps(method, job, options, progress)
            notes.append("averaged over 6 augmentations (flip x brightness 0.9/1.0/1.1)")
        else:
            if aug_smooth:
                notes.append("aug_smooth ignored: it applies to CAM methods, not to pixel methods")
            raw = method.compute(job)
        probabilities = self.probabilities(job.logits())
        weights = job.weights()
        inputs = job.model_inputs()
        seconds = (time.perf_counter() - started) / len(images)
        layer_path = functions.layer.path if functions is not None else None
        return [
            self._package(originals[b], inputs[b], raw[b], probabilities[b], weights[b],
                          job.attributions, b, method, layer_path, seconds, notes)
            for b in range(len(images))
        ]

    def _smoothed_maps(self, method, job, options, progress):
        # Test-time augmentation: each image is flipped and brightened/darkened, explained for the
        # class chosen on the original, and the maps are flipped back and averaged.
        weights = job.weights()
        augmentations = [(flip, gain) for flip in (False, True) for gain in (1.0, 1.1, 0.9)]
        maps = []
        for b, image in enumerate(job.model_inputs()):
            variants = [_augment(image, flip, gain) for flip, gain in augmentations]
            # The variants are already at the model's size and are not worth caching.
            variant_job = _Job(self, variants, [weights[b]] * len(variants), job._functions, options, progress,
                               cache=False)
            raw = method.compute(variant_job)
            maps.append(np.mean([m[:, ::-1] if flip else m for m, (flip, _) in zip(raw, augmentations)], axis=0))
        return np.stack(maps)

    def _resolve(self, target: Target) -> np.ndarray | int:
        """A requested target as a weight row over the logits, or _TOP."""
        if target is None:
            return _TOP
        row = np.zeros(len(self.class_names), np.float32)
        if isinstance(target, np.ndarray):
            if target.shape != row.shape:
                raise TargetError(f"A target weight vector must have shape {row.shape}; got {target.shape}.")
            return target.astype(np.float32)
        if isinstance(target, Contrast):
            a, b = self.class_index(target.target), self.class_index(target.other)
            if a == b:
                raise TargetError(f"A contrast needs two different classes; got {self.class_names[a]!r} twice.")
            row[a], row[b] = 1.0, -1.0
            return row
        row[self.class_index(target)] = 1.0
        return row

    def _package(self, original, model_input, raw, probabilities, weights, attributions, b, method,
                 layer, seconds, notes) -> Explanation:
        raw = np.nan_to_num(raw.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        coarse = np.maximum(raw, 0.0)
        height, width = original.shape[:2]
        # Bilinear with half-pixel centres (OpenCV's INTER_LINEAR): the map's cells line up with
        # the image's pixels, with no shift and no overshoot below zero.
        upsampled = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)
        peak = float(upsampled.max()) if upsampled.size else 0.0
        positive = np.flatnonzero(weights > 0)
        negative = np.flatnonzero(weights < 0)
        index = int(positive[0]) if len(positive) else int(np.argmax(probabilities))
        other = int(negative[0]) if len(negative) else None
        name = self.class_names[index]
        empty = not peak > 0.0
        message = None
        if empty:
            what = f"{name!r} rather than {self.class_names[other]!r}" if other is not None else repr(name)
            message = (
                f"No positive evidence for {what} at {layer or 'the input'} with {method.label}: "
                "every region lowers this score. Try another layer or method, or another class."
            )
            heatmap = np.zeros((height, width), np.float32)
        else:
            heatmap = (upsampled / peak).astype(np.float32)
        attribution = attributions[b].astype(np.float32) if attributions is not None else None
        return Explanation(
            heatmap=heatmap, coarse=coarse, peak=peak if not empty else 0.0,
            probabilities=probabilities, target_index=index, target_name=name,
            target_probability=float(probabilities[index]), method=method.key, layer=layer,
            seconds=seconds, model_input=model_input, top=tuple(self._top(probabilities)),
            contrast_index=other, contrast_name=self.class_names[other] if other is not None else None,
            empty=empty, message=message, attribution=attribution, notes=tuple(notes),
        )

    def _prepare(self, images: list[np.ndarray]) -> np.ndarray:
        batch = np.stack(images)
        if self._traced.input.shape[-1] == 1:  # a grayscale model: ITU-R BT.601 luma
            batch = np.round(batch @ np.array([0.299, 0.587, 0.114]))[..., None].astype(np.uint8)
        x = np.asarray(self.preprocess(batch), dtype=np.float32)
        return np.ascontiguousarray(x)

    # -- the cache of recent images ---------------------------------------------------------------
    # Keys are (digest of the image as given, what): "input" holds the resized image and its
    # logits, a layer path holds that layer's activations. Bounded in count and in bytes.
    def _cache_get(self, key):
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None:
                self._cache.move_to_end(key)
            return entry

    def _cache_put(self, key, entry: dict) -> None:
        size = sum(v.nbytes for v in entry.values() if isinstance(v, np.ndarray))
        with self._lock:
            old = self._cache.pop(key, None)
            self._cache_bytes -= old["_bytes"] if old else 0
            entry["_bytes"] = size
            self._cache[key] = entry
            self._cache_bytes += size
            budget = limits.ACTIVATION_CACHE_MB * 1024 * 1024
            while self._cache and (len(self._cache) > limits.ACTIVATION_CACHE_ENTRIES or self._cache_bytes > budget):
                _, evicted = self._cache.popitem(last=False)
                self._cache_bytes -= evicted["_bytes"]

    def clear_cache(self) -> None:
        """Forget every cached image, resized input and activation."""
        with self._lock:
            self._cache.clear()
            self._cache_bytes = 0


class _Job:
    """One batch of images and targets; computes what a method asks for, once, using the
    explainer's cache of recent images (keyed by the content of the image as given)."""

    def __init__(self, explainer: Explainer, images, requested, functions: LayerFunctions | None,
                 options: dict, progress, cache: bool = True):
        self._explainer = explainer
        self._functions = functions
        self._images = images
        self._cache = cache
        self.options = options
        self.progress = progress
        digests: dict[int, str] = {}  # explain_targets repeats one image object: hash it once
        for image in images:
            if id(image) not in digests:
                digests[id(image)] = _digest(image)
        self.keys = [digests[id(image)] for image in images]
        self._use_top = np.array([isinstance(r, int) and r == _TOP for r in requested])
        classes = len(explainer.class_names)
        self._requested = np.stack([np.zeros(classes, np.float32) if isinstance(r, int) else r for r in requested])
        self._weights = None if self._use_top.any() else self._requested
        self._inputs = None
        self._x = None
        self._activations = None
        self._logits = None
        self._gradients = None
        self.attributions = None

    def _get(self, key, what):
        return self._explainer._cache_get((key, what)) if self._cache else None

    def _put(self, key, what, entry):
        if self._cache:
            self._explainer._cache_put((key, what), entry)

    # Inputs -----------------------------------------------------------------------------------
    def model_inputs(self) -> list[np.ndarray]:
        """The images resized to the model's input size, uint8 (h, w, 3) each."""
        if self._inputs is None:
            inputs = []
            for key, image in zip(self.keys, self._images):
                entry = self._get(key, "input")
                if entry is None:
                    entry = {"model_input": self._explainer.model_input(image)}
                    self._put(key, "input", entry)
                inputs.append(entry["model_input"])
            self._inputs = inputs
        return self._inputs

    @property
    def x(self) -> np.ndarray:
        if self._x is None:
            self._x = self._explainer._prepare(self.model_inputs())
        return self._x

    # Layer quantities -------------------------------------------------------------------------
    def activations(self) -> np.ndarray:
        if self._activations is None:
            path = self._functions.layer.path
            found = {key: self._get(key, path) for key in dict.fromkeys(self.keys)}
            logits = {key: (self._get(key, "input") or {}).get("logits") for key in found}
            missing = [key for key, entry in found.items() if entry is None or logits[key] is None]
            if missing:
                rows = [self.keys.index(key) for key in missing]
                inputs = self.model_inputs()
                activations, batch_logits = self._functions.forward(
                    self._explainer._prepare([inputs[row] for row in rows]))
                for i, (key, row) in enumerate(zip(missing, rows)):
                    found[key], logits[key] = self._remember(row, activations[i:i + 1], batch_logits[i:i + 1])
            self._activations = np.concatenate([found[key]["activations"] for key in self.keys])
            self._logits = np.concatenate([logits[key] for key in self.keys])
        return self._activations

    def _remember(self, row: int, activations: np.ndarray, logits: np.ndarray):
        entry = {"activations": activations}
        self._put(self.keys[row], self._functions.layer.path, entry)
        self._put(self.keys[row], "input", {"model_input": self.model_inputs()[row], "logits": logits})
        return entry, logits

    def _all_new(self) -> bool:
        path = self._functions.layer.path
        return len(set(self.keys)) == len(self.keys) and all(self._get(key, path) is None for key in self.keys)

    def gradients(self) -> np.ndarray:
        if self._gradients is None:
            functions = self._functions
            if functions.has_linear_head and self._activations is None and self._all_new():
                # New images on a global-average-pooling + dense head: one compiled call gives the
                # activations, the logits and the closed-form gradient.
                activations, logits, self._gradients, self._weights = functions.forward_linear(
                    self.x, self._requested, self._use_top)
                for row in range(len(self.keys)):
                    self._remember(row, activations[row:row + 1], logits[row:row + 1])
                self._activations, self._logits = activations, logits
            elif functions.head_available:
                _, self._gradients = functions.head_gradients(self.activations(), self.weights())
            else:
                activations, logits, gradients, weights = functions.forward_gradients(
                    self.x, self._requested, self._use_top)
                self._activations, self._logits, self._gradients = activations, logits, gradients
                self._weights = weights
        return self._gradients

    def head_logits(self, activations: np.ndarray) -> np.ndarray:
        if not self._functions.head_available:
            raise MethodError(
                f"This method needs the logits to depend on the input only through layer "
                f"{self._functions.layer.path!r}, but another path (a skip connection) goes around "
                f"it. Choose a later layer, e.g. {self._explainer.default_layer!r}, or a gradient method."
            )
        return self._functions.head_logits(activations)

    def gap_dense_head(self):
        head = self._functions.linear_head()
        if head is not None:
            return head
        raise MethodError(
            f"CAM needs layer {self._functions.layer.path!r} to be followed by global average pooling "
            f"and one dense layer; after it comes {self._functions.head_description()}. Use Grad-CAM, "
            f"which equals CAM on such heads, or choose layer {self._explainer.default_layer!r}."
        )

    # Model quantities -------------------------------------------------------------------------
    def logits(self) -> np.ndarray:
        if self._logits is None:
            if self._functions is not None:
                self.activations()
            else:
                found = {key: (self._get(key, "input") or {}).get("logits") for key in dict.fromkeys(self.keys)}
                missing = [key for key, value in found.items() if value is None]
                if missing:
                    rows = [self.keys.index(key) for key in missing]
                    inputs = self.model_inputs()
                    batch = self._explainer._compiled.logits(self._explainer._prepare([inputs[r] for r in rows]))
                    for i, key in enumerate(missing):
                        found[key] = batch[i:i + 1]
                        self._put(key, "input", {"model_input": inputs[rows[i]], "logits": found[key]})
                self._logits = np.concatenate([found[key] for key in self.keys])
        return self._logits

    def weights(self) -> np.ndarray:
        if self._weights is None:
            top = np.argmax(self.logits(), axis=1)
            weights = self._requested.copy()
            for b in np.flatnonzero(self._use_top):
                weights[b] = 0.0
                weights[b, top[b]] = 1.0
            self._weights = weights
        return self._weights

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        return self._explainer.probabilities(self._explainer._compiled.logits(np.ascontiguousarray(x, np.float32)))

    def input_gradients(self, x, weights, guided: bool = False) -> np.ndarray:
        x = np.ascontiguousarray(x, np.float32)
        if weights is None:  # the job's own images and targets, resolved inside the pass
            logits, gradients = self._explainer._compiled.input_gradients(x, self._requested, self._use_top, guided)
            if self._logits is None:
                self._logits = logits
            return gradients
        no_top = np.zeros(len(x), bool)
        _, gradients = self._explainer._compiled.input_gradients(x, np.asarray(weights, np.float32), no_top, guided)
        return gradients


def _augment(image: np.ndarray, flip: bool, gain: float) -> np.ndarray:
    view = image[:, ::-1] if flip else image
    if gain != 1.0:
        view = np.clip(view.astype(np.float32) * gain + 0.5, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(view)


def _digest(image: np.ndarray) -> str:
    # SHA-256 runs on the CPU's SHA extensions where present: about twice as fast as BLAKE2 here.
    h = hashlib.sha256(memoryview(np.ascontiguousarray(image)).cast("B"))
    h.update(str(image.shape).encode())
    return h.hexdigest()[:32]


def _as_float(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32)


def _channels(keras_model) -> int:
    try:
        return int(keras_model.inputs[0].shape[-1])
    except (AttributeError, IndexError, TypeError, ValueError):
        return 3
