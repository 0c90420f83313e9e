"""Sanity checks (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018): does the map
change when the model's learned weights are destroyed? And a map of random numbers, scored with
the same metrics, as the floor every method has to beat."""

from __future__ import annotations

import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import MetricError
from ..explanation import Explanation
from ..targets import Contrast
from ._common import map_at_model_size

if TYPE_CHECKING:
    from ..explainer import Explainer

_RANDOMIZED: weakref.WeakKeyDictionary[Any, dict] = weakref.WeakKeyDictionary()


def random_heatmap(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """The random baseline: float32 ``shape`` (H, W) of uniform numbers in [0, 1), seeded.

    Each pixel is independent, so the map orders pixels at random; a method that does no better
    than this map on a metric tells nothing on that metric for this image."""
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two maps of equal shape (ties get their average rank).
    NaN when either map is constant (an empty map has no order to compare)."""
    a = np.asarray(a, np.float64).reshape(-1)
    b = np.asarray(b, np.float64).reshape(-1)
    if a.shape != b.shape:
        raise MetricError(f"Maps of different sizes cannot be compared: {a.size} and {b.size} values.")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    ra, rb = _average_ranks(a), _average_ranks(b)
    return float(np.corrcoef(ra, rb)[0, 1])  # Pearson's r of the ranks = Spearman's rho


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.r_[0, np.flatnonzero(np.diff(ordered)) + 1]
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values))
    ranks[order] = np.repeat((starts + ends - 1) / 2.0, ends - starts)
    return ranks


def _leaf_layers(model) -> list:
    """Leaf layers with weights, in the model's order, entering nested models."""
    out = []
    for layer in getattr(model, "layers", []):
        if getattr(layer, "layers", None):
            out += _leaf_layers(layer)
        elif layer.weights:
            out.append(layer)
    return out


def _choose(layers: list, spec) -> list:
    names = [layer.name for layer in layers]
    if isinstance(spec, str):
        if spec == "top":
            return layers[-1:]
        if spec == "all":
            return list(layers)
        raise MetricError(f"layers_to_randomize must be 'top', 'all', a number or layer names; got {spec!r}.")
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        if not 0 <= spec <= len(layers):
            raise MetricError(f"layers_to_randomize={spec} but the model has {len(layers)} layers with weights.")
        return layers[len(layers) - int(spec) :]
    if isinstance(spec, (list, tuple)):
        unknown = [s for s in spec if s not in names]
        if unknown:
            raise MetricError(
                f"No layer with weights called {', '.join(map(repr, unknown))}; "
                f"the last ones are {', '.join(names[-5:])}."
            )
        return [layer for layer in layers if layer.name in set(spec)]
    raise MetricError(f"layers_to_randomize must be 'top', 'all', a number or layer names; got {spec!r}.")


def randomized_explainer(
    explainer: Explainer, layers_to_randomize: str | int | Sequence[str] = "top", seed: int = 0
) -> tuple[Explainer, list[str]]:
    """A new Explainer on a copy of ``explainer``'s model whose chosen layers have random weights.

    ``layers_to_randomize``: ``"top"`` (the last layer with weights: the logits, the first step of
    Adebayo et al.'s cascading randomisation), ``"all"``, a number n (the top n layers with
    weights, in the model's order), or a list of layer names. The caller's model is never
    changed: the model is cloned (``keras.models.clone_model``, entering nested models; layers
    without weights are shared) and the weights copied first.

    Departure from the paper: the paper re-draws weights from each layer's initialiser. Here each
    trainable weight array is re-drawn from a normal distribution with that array's own mean and
    standard deviation (seeded), which destroys what was learned while keeping the scale of the
    activations (an initialiser's scale can saturate the softmax and leave every map empty), and
    non-trainable statistics (batch-norm moving averages) are kept.

    Returns ``(explainer, names)``: the new explainer and the names of the randomised layers.
    Kept for the explainer's lifetime, so repeated checks do not clone again.
    """
    import keras

    from ..explainer import Explainer

    key = (repr(layers_to_randomize), int(seed))
    cache = _RANDOMIZED.setdefault(explainer, {})
    if key in cache:
        return cache[key]
    model = explainer.keras_model

    def copy_layer(layer):
        # Layers without weights are shared, not rebuilt: they carry nothing to randomise, and
        # rebuilding a Lambda layer from its config is refused by Keras's safe mode.
        if not layer.weights:
            return layer
        return layer.__class__.from_config(layer.get_config())

    try:
        clone = keras.models.clone_model(model, clone_function=copy_layer, recursive=True)
    except Exception as error:  # noqa: BLE001 -- Keras raises several kinds for subclassed models
        raise MetricError(
            f"The model cannot be copied for the randomisation check ({error}); "
            "a Functional or Sequential model is needed."
        ) from None
    originals, copies = _leaf_layers(model), _leaf_layers(clone)
    if [tuple(w.shape) for layer in originals for w in layer.weights] != [
        tuple(w.shape) for layer in copies for w in layer.weights
    ]:
        raise MetricError(
            "The copy of the model does not have the same weights as the model; "
            "the randomisation check cannot run on it."
        )  # pragma: no cover
    for source, target in zip(originals, copies):
        target.set_weights(source.get_weights())
    chosen = _choose(copies, layers_to_randomize)
    rng = np.random.default_rng(seed)
    for layer in chosen:
        for variable in layer.trainable_weights:
            values = np.asarray(variable.numpy())
            std = float(values.std()) or 0.0
            variable.assign(rng.normal(float(values.mean()), std, values.shape).astype(values.dtype))
    randomized = Explainer(
        clone, preprocess=explainer.preprocess, class_names=explainer.class_names, input_size=explainer.input_size
    )
    cache[key] = (randomized, [layer.name for layer in chosen])
    return cache[key]


@dataclass(frozen=True, eq=False)
class RandomizationResult:
    """The outcome of :func:`randomization_check`.

    Attributes:
        rank_correlation: Spearman's rho between the two maps at the model's input resolution,
            in [-1, 1]; NaN if either map is empty. Near 0: the map depends on the weights (as it
            should). Near 1: the map would look the same for a model that learned nothing.
        randomized_layers: names of the layers whose weights were re-drawn.
        original, randomized: the two explanations (same image, method, layer and class).
        seconds: wall time, including the model copy on first use.
    """

    rank_correlation: float
    randomized_layers: tuple[str, ...]
    original: Explanation
    randomized: Explanation
    seconds: float

    @property
    def abs_rank_correlation(self) -> float:
        """|rho|: Adebayo et al. also report the absolute value, since a map whose sign flips
        still shows the same structure."""
        return abs(self.rank_correlation)

    def passed(self, threshold: float = 0.5) -> bool:
        """True when |rho| < threshold: the map changed when the weights were destroyed."""
        return bool(np.isfinite(self.rank_correlation) and self.abs_rank_correlation < threshold)


def randomization_check(
    model_or_explainer,
    image: np.ndarray,
    method: str = "gradcam",
    layer: str | None = None,
    layers_to_randomize="top",
    target=None,
    seed: int = 0,
    explanation: Explanation | None = None,
    **options,
) -> RandomizationResult:
    """Model-parameter randomisation test (Adebayo et al. 2018, Sec. 3.1).

    Explains ``image`` with ``method`` at ``layer`` on the model and on a copy whose top layers'
    weights are random (:func:`randomized_explainer`), for the same class, and reports the rank
    correlation between the two maps.

    Args:
        model_or_explainer: an :class:`~gradcam.Explainer` (its preprocessing and class names are
            reused), a zoo model or a keras.Model.
        image: uint8 RGB (H, W, 3).
        layers_to_randomize: ``"top"``, ``"all"``, a number of top layers, or layer names.
        target: the class (index, name, Contrast or None for the top prediction of the original
            model); the randomised model explains the same class.
        explanation: the original explanation if already computed (saves one pass).
        **options: passed to ``explain`` (the method's options).
    """
    from ..explainer import Explainer

    started = time.perf_counter()
    explainer = model_or_explainer if isinstance(model_or_explainer, Explainer) else Explainer(model_or_explainer)
    if explanation is None:
        explanation = explainer.explain(image, target=target, method=method, layer=layer, **options)
    randomized, names = randomized_explainer(explainer, layers_to_randomize, seed)
    same_target = (
        Contrast(explanation.target_index, explanation.contrast_index)
        if explanation.contrast_index is not None
        else explanation.target_index
    )
    other = randomized.explain(
        image, target=same_target, method=explanation.method, layer=list(explanation.layers) or None, **options
    )
    size = explanation.model_input.shape[:2]
    rho = rank_correlation(map_at_model_size(explanation.heatmap, size), map_at_model_size(other.heatmap, size))
    return RandomizationResult(rho, tuple(names), explanation, other, time.perf_counter() - started)
