"""The Explainer: any Keras classifier, any image, any class, any registered method.

A facade: targets are resolved in :mod:`gradcam.targets`, the work of one batch is done by
:mod:`gradcam.job` through the compiled functions of :mod:`gradcam.compute`, recent images are
kept in :mod:`gradcam.cache`, test-time augmentation is :mod:`gradcam.augment`, and
:meth:`gradcam.Explanation.from_raw` turns a method's raw map into the heatmap.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from . import augment
from .cache import ActivationCache, DigestMemo
from .compute import BACKGROUND, CompiledModel, LayerFunctions
from .errors import ImageError, LayerError, TargetError, UnknownClassError, UnsupportedModelError
from .explanation import LAYER_JOINER, Explanation, fuse_layers
from .images import as_rgb_uint8
from .job import BatchJob
from .methods import COMMON_OPTIONS, get_method
from .model_graph import TracedModel, input_channels
from .progress import Progress, no_progress
from .result_cache import ResultCache, model_fingerprint, target_token
from .targets import Group, ResolvedTarget, Target, TargetResolver, top_classes

__all__ = ["COMMON_OPTIONS", "Explainer"]


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
        token_grid: (h, w), for a vision transformer whose token grid cannot be inferred: token
            layers (batch, T, C) with T = h*w + k (k <= 8 extra tokens, such as a class token,
            first) are reshaped to (h, w) maps. Default: inferred from the patch embedding (the
            last (batch, h, w, C) output before the tokens) or, for a square input, from T - k
            being a perfect square for exactly one k (see :class:`gradcam.model_graph.TracedModel`).
        jit_compile: compile the passes that explain an image (forward, gradients, the head's
            gradients) with XLA. True: from the first call; XLA compiles once per batch size
            (measured 0.6 s for the tests' tiny ViT, 1.7 s for a ViT-Ti/16-shaped one), and the
            call waits. False: never. Default (None): for a vision transformer (a model with token
            layers), each batch size runs without XLA at once while XLA compiles it in a
            background thread, and with XLA once compiled; for any other model, never. Measured
            on a 2-core CPU (``benchmarks/bench_engine.py``): XLA makes Grad-CAM on a
            ViT-Ti/16-shaped ViT about 1.6x faster, and EfficientNet-Lite0's passes about 5x
            slower (XLA's CPU depthwise convolutions). A model XLA cannot compile runs without it,
            with a warning.
        cache_dir: a folder (or a :class:`gradcam.result_cache.ResultCache`) where finished
            explanations are kept on disk, keyed by content (the weights, the image's pixels, the
            method, layer, target, options and the library version), so that a restarted process,
            or another process on the same folder, finds them without computing. Default: None,
            nothing is kept on disk. See :mod:`gradcam.result_cache` (size bound, eviction).
        model_id: what names the model's weights in that cache's keys; default: the zoo model's
            name and weights SHA-256, else a SHA-256 of the Keras model's weights. Give one for a
            ``keras.Model`` whose ``preprocess`` is not the default.
    """

    def __init__(
        self,
        model: Any,
        *,
        preprocess: Callable | None = None,
        class_names: Sequence[str] | None = None,
        input_size: tuple[int, int] | None = None,
        token_grid: tuple[int, int] | None = None,
        jit_compile: bool | None = None,
        cache_dir: str | os.PathLike | ResultCache | None = None,
        model_id: str | None = None,
    ):
        keras_model = getattr(model, "keras_model", model)
        #: The caller's Keras model (never modified); sanity checks clone it.
        self.keras_model = keras_model
        self.name: str = str(getattr(model, "name", None) or getattr(keras_model, "name", "model"))
        self.preprocess = preprocess or getattr(model, "preprocess", None) or _as_float
        input_size = input_size or getattr(model, "input_size", None)
        shape = (int(input_size[0]), int(input_size[1]), input_channels(keras_model)) if input_size else None
        self._traced = TracedModel(keras_model, shape, token_grid=token_grid)
        h, w = self._traced.input.shape[1:3]
        if h is None or w is None:
            raise UnsupportedModelError(
                f"The model accepts images of any size (input shape {tuple(self._traced.input.shape)}); "
                "pass input_size=(height, width) to the Explainer to choose the size images are resized to."
            )
        self.input_size: tuple[int, int] = (int(h), int(w))
        mode: bool | str = bool(jit_compile)
        if jit_compile is None:
            mode = BACKGROUND if any(t.token_grid is not None for t in self._traced.spatial_layers) else False
        #: Whether the explaining passes run XLA's compiled functions (by default once compiled;
        #: see ``jit_compile`` above).
        self.jit_compile: bool = bool(mode)
        self._compiled = CompiledModel(self._traced, mode)
        names = class_names if class_names is not None else getattr(model, "class_names", None)
        classes = self._traced.num_classes
        names = [f"class {i}" for i in range(classes)] if names is None else names
        if len(names) != classes:
            raise UnknownClassError(
                f"{len(names)} class names were given but the model has {classes} outputs; give one name per output."
            )
        self.class_names: list[str] = [str(n) for n in names]
        self._targets = TargetResolver(self.class_names, self.output_activation)
        self._cache = ActivationCache()
        self._digests = DigestMemo()
        self._model = model
        self._model_id = model_id
        self._count_lock = threading.Lock()
        self._computations = 0
        self._results: ResultCache | None = None
        if cache_dir is not None:
            self._results = cache_dir if isinstance(cache_dir, ResultCache) else ResultCache(cache_dir)
            self._store_facts()

    # -- what the model offers ---------------------------------------------------------------
    @property
    def layers(self) -> list[str]:
        """Paths of the layers with a spatial output, in order; CAM methods can use any of them."""
        return [t.path for t in self._traced.spatial_layers]

    @property
    def layer_grids(self) -> dict[str, tuple[int, int]]:
        """The (h, w) grid of the map of each layer of :attr:`layers` (a token layer's: its token
        grid), in order."""
        return {t.path: (int(t.grid_shape[0]), int(t.grid_shape[1])) for t in self._traced.spatial_layers}

    @property
    def layer_notes(self) -> dict[str, str]:
        """For the layers of :attr:`layers` that are reshaped token layers (a vision transformer's
        (batch, T, C) outputs), how: e.g. "tokens (65, 32) reshaped to a 8x8 grid (1 extra token
        dropped, grid from the patch embedding)". Ordinary spatial layers are not listed."""
        return {t.path: t.note for t in self._traced.spatial_layers if t.note}

    @property
    def layer_glosses(self) -> dict[str, str]:
        """A plain gloss for each layer of :attr:`layers`, for people who do not read layer names:
        "stage 4 of 5, 14×14" (see :func:`gradcam.words.layer_glosses`)."""
        from .words import layer_glosses

        return layer_glosses(list(self.layer_grids.items()))

    @property
    def default_layer(self) -> str:
        """The last spatial layer, the usual Grad-CAM choice; for a vision transformer, the last
        token layer whose patch tokens reach the logits (with a class token: the last block's
        first normalisation). See :meth:`gradcam.model_graph.TracedModel.default_layer`."""
        return self._traced.find(None).path

    def layer_path(self, layer: str | None) -> str:
        """The path of ``layer`` (a path from :attr:`layers`; None: the default layer), checked:
        a LayerError lists the valid ones."""
        return self._traced.find(layer).path

    def layer_functions(self, layer: str | None = None) -> LayerFunctions:
        """The compiled functions that look at ``layer`` (None: the default layer); built once."""
        return self._compiled.layer(self._traced.find(layer))

    @property
    def compiled(self) -> CompiledModel:
        """The model's compiled functions (logits, input gradients), shared by every thread."""
        return self._compiled

    @property
    def cache(self) -> ActivationCache:
        """The cache of recent images' resized inputs, logits and activations (``len()``,
        ``nbytes``, ``clear()``); bounded by :mod:`gradcam.limits`."""
        return self._cache

    @property
    def result_cache(self) -> ResultCache | None:
        """The on-disk cache of finished explanations (``cache_dir``), or None."""
        return self._results

    @property
    def model_id(self) -> str:
        """What names this model's weights in the result cache's keys (see ``model_id`` above)."""
        if self._model_id is None:
            self._model_id = model_fingerprint(self._model, self.class_names)
        return self._model_id

    @property
    def computations(self) -> int:
        """Explanations computed so far (one per image and target; cache hits not counted): the
        number the tests read to check that shared work is done once."""
        return self._computations

    def facts(self) -> dict:
        """What a page needs before the model is loaded: layers, default layer, class names,
        input size and output activation (JSON-able)."""
        layers = self.layers
        return {
            "layers": layers,
            "default_layer": self.default_layer if layers else None,
            "class_names": self.class_names,
            "input_size": list(self.input_size),
            "output_activation": self.output_activation,
        }

    def _store_facts(self) -> None:
        results = self._results
        if results is not None and results.get_facts(self.model_id) is None:
            results.put_facts(self.model_id, self.facts())

    @property
    def output_activation(self) -> str:
        """The model's own output activation (``"softmax"`` or ``"sigmoid"``), used for probabilities."""
        return self._traced.output_activation or "softmax"

    def class_index(self, target: int | str) -> int:
        """The index of a class given by index or name (case-insensitive)."""
        return self._targets.class_index(target)

    @property
    def has_imagenet_classes(self) -> bool:
        """True when the outputs are the ImageNet-1k classes in order (the zoo's models): ImageNet
        synonyms, WordNet ids and named class groups (``Group("dog")``) then apply."""
        return self._targets.is_imagenet

    def group_members(self, group: Group) -> tuple[str, tuple[int, ...]]:
        """``(name, sorted member indices)`` of a :class:`~gradcam.Group` on this model; the errors
        :meth:`explain` would raise for it (an unknown group suggests the closest names)."""
        return self._targets.group(group)

    def check_target(self, target: Target) -> None:
        """Raise the error :meth:`explain` would raise for ``target`` (an unknown class or group,
        a group on a multi-label model, a contrast of a class with itself), before any image is read."""
        self._targets.resolve(target)

    def resolve_target(self, target: Target | np.ndarray) -> ResolvedTarget:
        """``target`` ready for the engine (see :meth:`gradcam.targets.TargetResolver.resolve`):
        None the top prediction, a class, a :class:`~gradcam.Group`, a :class:`~gradcam.Contrast`,
        or a weight vector over the logits. Raises what :meth:`explain` would raise for it."""
        return self._targets.resolve(target)

    def image_key(self, image: np.ndarray) -> str:
        """The key the cache knows ``image`` by: a digest of its pixels (equal keys, equal images),
        remembered per image object so that asking again costs nothing."""
        return self._digests.digest(image)

    def job(
        self,
        images: Sequence[np.ndarray],
        targets: Sequence[Target | np.ndarray] | None = None,
        layer: str | None = None,
        *,
        options: Mapping[str, Any] | None = None,
        progress: Progress = no_progress,
    ) -> BatchJob:
        """One batch of work on these images, for a method's ``compute`` or to read activations,
        logits and gradients directly (see :class:`gradcam.job.BatchJob` for what it promises).

        Args:
            images: uint8 RGB (H, W, 3) arrays, any size (see :func:`gradcam.images.as_rgb_uint8`).
            targets: one target per image (None: each image's top prediction).
            layer: the layer whose activations and gradients the job reads (None: the default layer).
            options: a method's options, defaults already applied (``Method.resolve_options``).
            progress: called with (fraction, message) by long methods.
        """
        originals = [as_rgb_uint8(image) for image in images]
        wanted = [None] * len(originals) if targets is None else list(targets)
        if len(wanted) != len(originals):
            raise TargetError(f"One target per image is expected; got {len(wanted)} for {len(originals)} images.")
        return BatchJob(
            self,
            originals,
            [self.image_key(image) for image in originals],
            [self.resolve_target(t) for t in wanted],
            self.layer_functions(layer),
            dict(options or {}),
            progress,
            self._cache,
        )

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

    def prepare_batch(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Model inputs float32 (B, H, W, C) from uint8 images (h, w, 3) at the model's size:
        the preprocessing, and BT.601 luma for a grayscale model."""
        batch = np.stack(images)
        if self._traced.input.shape[-1] == 1:  # a grayscale model: ITU-R BT.601 luma
            batch = np.round(batch @ np.array([0.299, 0.587, 0.114]))[..., None].astype(np.uint8)
        return np.ascontiguousarray(np.asarray(self.preprocess(batch), dtype=np.float32))

    def probabilities_from_logits(self, logits: np.ndarray) -> np.ndarray:
        """Probabilities from logits (B, classes), with the model's own output activation."""
        logits = logits.astype(np.float64)
        if self.output_activation == "sigmoid":
            return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
        shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return (shifted / shifted.sum(axis=-1, keepdims=True)).astype(np.float32)

    #: The former name of :meth:`probabilities_from_logits`, kept for existing callers.
    probabilities = probabilities_from_logits

    def predict(self, image: np.ndarray) -> np.ndarray:
        """Class probabilities (classes,) for one uint8 RGB image (H, W, 3)."""
        return self.probabilities_from_logits(self._compiled.logits(self.prepare_batch([self.model_input(image)])))[0]

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
        size = max(1, int(batch_size))
        out = [
            self.probabilities_from_logits(self._compiled.logits(self.prepare_batch(list(images[i : i + size]))))
            for i in range(0, len(images), size)
        ]
        return np.concatenate(out) if out else np.zeros((0, len(self.class_names)), np.float32)

    def top_k(self, image: np.ndarray, k: int = 5) -> list[tuple[int, str, float]]:
        """The k most probable classes as (index, name, probability); ties: lowest index first."""
        return top_classes(self.predict(image), self.class_names, k)

    # -- explanations --------------------------------------------------------------------------
    def explain(
        self,
        image: np.ndarray,
        target: Target = None,
        method: str = "gradcam",
        layer: str | Sequence[str] | None = None,
        **options,
    ) -> Explanation:
        """Explain one image.

        Args:
            image: uint8 RGB (H, W, 3), any size (gray, RGBA and float [0, 1] arrays are converted).
            target: class index, class name (case-insensitive), None for the top prediction,
                ``Group(...)`` for several classes as one (``Group("dog")``, see
                :class:`gradcam.Group`), or ``Contrast(a, b)`` for "why a rather than b" (classes
                or groups).
            method: a key of ``gradcam.METHODS``.
            layer: a path from ``explainer.layers``; default ``explainer.default_layer``. Ignored by
                pixel methods (saliency, SmoothGrad, guided backpropagation). A list of paths
                fuses their maps (multi-layer fusion): each layer's map is computed as for that
                layer alone, upsampled to the image and normalised to its own peak, and the
                maps are averaged (then divided by the mean's maximum). The result's ``layer``
                is the paths joined by " + " (accepted back here) and ``layers`` their tuple;
                see :func:`gradcam.explanation.fuse_layers`.
            **options: ``aug_smooth=True`` averages the map over flips and brightness changes
                (CAM methods); ``progress=callable(fraction, message)``; and the method's own
                (``gradcam.METHODS[method].options``: name, default, help).

        Returns:
            An :class:`Explanation` whose heatmap is aligned with ``image``'s pixels.
        """
        return self._explain([image], [target], method, layer, options)[0]

    def explain_targets(
        self,
        image: np.ndarray,
        targets: Sequence[Target],
        method: str = "gradcam",
        layer: str | Sequence[str] | None = None,
        **options,
    ) -> list[Explanation]:
        """Several targets of one image, computed together: the network runs once and the head
        once for all targets (for gradient methods on a layer whose head stands alone)."""
        if len(targets) == 0:
            raise TargetError("No targets given; pass at least one class index, name or Contrast.")
        image = as_rgb_uint8(image)
        return self._explain([image] * len(targets), list(targets), method, layer, options)

    def cached_explanations(
        self,
        image: np.ndarray,
        targets: Sequence[Target],
        method: str = "gradcam",
        layer: str | Sequence[str] | None = None,
        **options,
    ) -> list[Explanation] | None:
        """What :meth:`explain_targets` would return, read from the result cache (``cache_dir``)
        without computing anything: None when any of them is not there (or there is no cache).
        A server answers from here at once, and queues only what must be computed."""
        if self._results is None or len(targets) == 0:
            return None
        image = as_rgb_uint8(image)
        return self._run([image] * len(targets), list(targets), method, layer, options, lookup_only=True)

    def explain_batch(
        self,
        images: Sequence[np.ndarray],
        targets: Target | Sequence[Target] = None,
        method: str = "gradcam",
        layer: str | Sequence[str] | None = None,
        batch_size: int = 32,
        **options,
    ) -> list[Explanation]:
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
            per_image = list(targets)
        else:
            per_image = [targets] * len(images)
        results: list[Explanation] = []
        for start in range(0, len(images), batch_size):
            results += self._explain(
                images[start : start + batch_size], per_image[start : start + batch_size], method, layer, options
            )
        return results

    def embeddings(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Each image's pooled feature vector: float32 (B, K), the mean over the locations of the
        default layer's activations (h, w, K).

        On a global-average-pooling + dense head (the model zoo's networks) that mean is exactly the
        vector the classifier's head receives; on any other head it is the mean over the last
        spatial layer (for a vision transformer, over its patch tokens). Images explained a moment
        ago at the default layer cost no forward pass: their activations are still in the
        explainer's cache, so the vector comes from that same pass.

        Args:
            images: uint8 RGB arrays (H, W, 3), any sizes; one network batch for all of them.
        """
        images = list(images)
        if not images:
            return np.zeros((0, self.layer_functions(None).layer.output.shape[-1]), np.float32)
        activations = self.job(images).activations()
        return activations.mean(axis=(1, 2), dtype=np.float64).astype(np.float32)

    def concepts(
        self,
        image: np.ndarray,
        k: int = 4,
        layer: str | None = None,
        *,
        seed: int = 0,
        max_iter: int = 400,
        top: int = 5,
    ):
        """Deep Feature Factorization (Collins et al., ECCV 2018): the ``k`` concepts that ``layer``
        sees in ``image``, where each one is, and which classes each votes for.

        The layer's rectified activations (h*w, K) are factorised as W (h*w, k) times H (k, K) by
        non-negative matrix factorisation (seeded, deterministic); concept i's map is column i of
        W upsampled to the image, its classes are the model's head applied to row i of H. See
        :mod:`gradcam.concepts` for the choices made.

        Args:
            image: uint8 RGB (H, W, 3), any size.
            k: the number of concepts, from 1 to the layer's channels and locations (MethodError
                otherwise).
            layer: a path from ``explainer.layers``; default the last spatial layer.
            seed, max_iter: the factorisation's seed and most iterations. top: classes per concept.

        Returns:
            A :class:`gradcam.concepts.Concepts` (``maps`` (k, H, W) in [0, 1], ``coarse``,
            ``embeddings``, ``top_classes``, ``reconstruction_error``, ``layer``, ``seconds``).
        """
        from .concepts import find_concepts

        return find_concepts(self, image, k, layer, seed=seed, max_iter=max_iter, top=top)

    def clear_cache(self) -> None:
        """Forget every cached image, resized input and activation."""
        self._cache.clear()
        self._digests.clear()

    # -- the shared path -----------------------------------------------------------------------
    def _layer_names(self, layer) -> list[str | None]:
        """``explain``'s ``layer`` as a list: [None] for the default, one path, or several to fuse
        (a list, or paths joined by " + " as a fused explanation's ``layer`` reads)."""
        if layer is None:
            return [None]
        if isinstance(layer, str):
            if LAYER_JOINER in layer and layer not in self.layers:
                return [part.strip() for part in layer.split(LAYER_JOINER)]
            return [layer]
        names = list(layer)
        if not names or not all(isinstance(name, str) for name in names):
            raise TypeError(f"layer must be a layer path, a list of layer paths, or None; got {layer!r}.")
        return names

    def _explain(self, images, targets, method_name, layer_name, options) -> list[Explanation]:
        """The explanations of ``images`` for ``targets``, from the result cache or computed."""
        results = self._run(images, targets, method_name, layer_name, options)
        assert results is not None  # only a lookup answers None
        return results

    def _run(self, images, targets, method_name, layer_name, options, lookup_only=False) -> list[Explanation] | None:
        """The explanations of ``images`` for ``targets``: from the result cache when it holds them
        all, else computed (and stored). ``lookup_only``: the cache's answer, or None; nothing is
        computed (fused layers are never looked up whole: None)."""
        started = time.perf_counter()
        method = get_method(method_name)
        names = self._layer_names(layer_name)
        if method.uses_layer and len(names) > 1:
            if lookup_only:
                return None  # fused maps are looked up layer by layer when computed
            return self._explain_fused(images, targets, method_name, names, options)
        layer_name = names[0]
        options = dict(options)
        progress = options.pop("progress", None) or no_progress
        aug_smooth = bool(options.pop("aug_smooth", False))
        resolved_options = method.resolve_options(options)
        originals = [as_rgb_uint8(image) for image in images]
        resolved = [self._targets.resolve(t) for t in targets]
        functions = None
        if method.uses_layer:
            functions = self.layer_functions(layer_name)
        elif layer_name is not None and layer_name not in self.layers:
            self.layer_path(layer_name)  # still refuse a wrong layer name, with the valid ones
        digests: dict[int, str] = {}  # explain_targets repeats one image object: look it up once
        for image in originals:
            if id(image) not in digests:
                digests[id(image)] = self.image_key(image)
        keys = [digests[id(image)] for image in originals]
        stored: list[str] | None = None
        results_cache = self._results
        if results_cache is not None:
            layer_path = functions.layer.path if functions is not None else None
            settings = {**resolved_options, "aug_smooth": aug_smooth}
            stored = [
                results_cache.key(self.model_id, keys[b], method.key, layer_path, target_token(resolved[b]), settings)
                for b in range(len(originals))
            ]
            found = [results_cache.get_explanation(key) for key in stored]
            hits = [explanation for explanation in found if explanation is not None]
            if len(hits) == len(found):
                progress(1.0, "from the result cache")
                return hits
        if lookup_only:
            return None
        job = BatchJob(self, originals, keys, resolved, functions, resolved_options, progress, self._cache)
        notes: list[str] = []
        if aug_smooth and functions is not None:  # a CAM method (method.uses_layer)
            maps, attributions = augment.smoothed_maps(self, method, job, functions), None
            notes.append(augment.NOTE)
        else:
            if aug_smooth:
                notes.append("aug_smooth ignored: it applies to CAM methods, not to pixel methods")
            output = method.compute(job)
            maps, attributions = output.maps, output.attributions
            notes += output.notes
        probabilities, weights, inputs = self.probabilities_from_logits(job.logits()), job.weights(), job.model_inputs()
        seconds = (time.perf_counter() - started) / len(images)
        with self._count_lock:
            self._computations += len(images)
        results = [
            Explanation.from_raw(
                maps[b],
                image_size=originals[b].shape[:2],
                model_input=inputs[b],
                probabilities=probabilities[b],
                weights=weights[b],
                class_names=self.class_names,
                method=method.key,
                method_label=method.label,
                layer=functions.layer.path if functions is not None else None,
                seconds=seconds,
                attribution=attributions[b] if attributions is not None else None,
                notes=notes,
                group=_group_of(resolved[b]),
            )
            for b in range(len(images))
        ]
        if stored is not None and results_cache is not None:
            for b, key in enumerate(stored):
                results_cache.put_explanation(key, results[b])
            for digest in dict.fromkeys(keys):
                row = keys.index(digest)
                results_cache.put_probabilities(self.model_id, digest, probabilities[row])
        return results

    def _explain_fused(self, images, targets, method_name, names, options) -> list[Explanation]:
        """Each layer explained on its own, then each image's maps fused (``fuse_layers``)."""
        paths = [self.layer_path(name) for name in names]  # every name checked before any work
        if len(set(paths)) != len(paths):
            raise LayerError(f"A layer is listed twice in {names!r}; list each layer once.")
        progress = options.get("progress") or no_progress
        per_layer = []
        for i, path in enumerate(paths):

            def scaled(fraction, message="", i=i, path=path):
                progress((i + fraction) / len(paths), f"{path}: {message}" if message else path)

            per_layer.append(self._explain(images, targets, method_name, path, {**options, "progress": scaled}))
        return [fuse_layers([results[b] for results in per_layer]) for b in range(len(images))]


def _group_of(target) -> tuple | None:
    if target.kind != "group":
        return None
    return target.name, target.members, target.other_name, target.other_members


def _as_float(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32)
