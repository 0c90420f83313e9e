"""Is this map about this class? Class sensitivity: a class's map compared with the top class's.

    import gradcam
    found = gradcam.class_sensitivity(explainer, image, "slot")
    found.similarity_to_top, found.verdict      # 0.92, "same as top"
    found.reading                               # "92% the same as espresso's map: this mostly shows ..."
    found.random_similarities                   # the Random Logit baseline: 8 random classes' rho

Grad-CAM maps of a low-probability class tend to repeat the top class's map: they show where the
model looks at all, not evidence for that class (Sixt, Granz & Landgraf, "When Explanations Lie",
ICML 2020, made this the Random Logit test; pytorch-grad-cam's issues #163, #289 and #564 are
users finding "the same map for every class"). Measured on the shipped samples with
EfficientNet-Lite0 and Grad-CAM (``docs/class-sensitivity.md``), the 2nd class's map has rho 0.72
to 0.99 against the top class's, the 51st class's (p = 0.01% to 0.16%) still up to 0.81.

The similarity is Spearman's rank correlation of the two heatmaps, each shrunk to a 56x56 grid by
area averaging: the very function :func:`gradcam.compare_models` uses for its agreement
(:func:`gradcam.compare.grid_ranks` and :func:`gradcam.compare.ranks_correlation`). It compares
where the maps put their weight, in order, not how strong they are.

Cost: the target's map, the top class's and the random classes' are computed together from one
pass through the network (:meth:`gradcam.Explainer.explain_targets`), and from the explainer's
cached activations when the image was seen before, so each extra map costs the small head after
the layer (``benchmarks/bench_engine.py --only-sensitivity`` measures it).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .compare import AGREEMENT_GRID, grid_ranks, ranks_correlation
from .errors import MetricError
from .explanation import Contrast, Explanation, Target

#: At or above this rho a class's map is "the same as" the top class's: the ranks of the two maps
#: agree so well that the map says where the model looks, not what is specific to the class. 0.8
#: is the usual threshold of a "very strong" rank correlation; compare_models calls >= 0.7 "look
#: at the same places", and on the shipped samples the 2nd to 6th classes reach 0.60 to 0.99.
SAME_AS_TOP = 0.8
#: At or above this rho (and below :data:`SAME_AS_TOP`) the map is "partly shared" with the top
#: class's; below it, "distinct". 0.5 is the usual line between a moderate and a strong rank
#: correlation; the trained two-object toy model's other class sits well below it.
PARTLY_SHARED = 0.5

#: The verdicts, as :attr:`ClassSensitivity.verdict` reads.
TOP_CLASS = "top class"
SAME_AS_TOP_VERDICT = "same as top"
PARTLY_SHARED_VERDICT = "partly shared"
DISTINCT = "distinct"
#: A :class:`~gradcam.Contrast` gets no verdict: it is built to remove what two classes share.
NOT_APPLICABLE = "not applicable"
#: The target's or the top class's map has no positive evidence: there is no order to compare.
UNDEFINED = "undefined"
VERDICTS = (TOP_CLASS, SAME_AS_TOP_VERDICT, PARTLY_SHARED_VERDICT, DISTINCT, NOT_APPLICABLE, UNDEFINED)

#: Default number of random classes of the Random Logit baseline.
N_RANDOM = 8


@dataclass(frozen=True, eq=False)
class ClassSensitivity:
    """How much one target's map is the top class's map again (see :func:`class_sensitivity`).

    Attributes:
        similarity_to_top: Spearman's rho in [-1, 1] between the target's heatmap and the top
            prediction's (same method, layer and options), both shrunk to
            :data:`~gradcam.compare.AGREEMENT_GRID` (56x56) by area averaging; 1.0 for the top
            class itself; None for a contrast (no verdict) or when a map has no positive evidence.
        verdict: one of :data:`VERDICTS`: ``"top class"``; ``"same as top"`` (rho >=
            :data:`SAME_AS_TOP`); ``"partly shared"`` (:data:`PARTLY_SHARED` <= rho <
            :data:`SAME_AS_TOP`); ``"distinct"`` (rho < :data:`PARTLY_SHARED`); ``"not
            applicable"`` for a :class:`~gradcam.Contrast`; ``"undefined"`` when a map is empty.
        reading: the verdict in words for people (:attr:`reason` says why a verdict is missing).
        target_label: the target as people read it ("slot", "alcohol", "slot rather than espresso").
        target_index: the class explained (a group: its most probable member).
        target_probability: the target's probability (a group: the sum of its members').
        top_index, top_name, top_probability: the image's top prediction.
        random_classes: the classes of the Random Logit baseline, drawn (seeded) from those other
            than the top class, in the order drawn.
        random_similarities: per random class, its map's rho against the top class's map (None
            where a map has no positive evidence).
        method, layer: the method's key and the layer's path (None for pixel methods).
        explanation: the target's :class:`~gradcam.Explanation`.
        top_explanation: the top prediction's :class:`~gradcam.Explanation` (None for a contrast).
        seconds: wall time of the whole measurement.
    """

    similarity_to_top: float | None
    verdict: str
    reading: str
    target_label: str
    target_index: int
    target_probability: float
    top_index: int
    top_name: str
    top_probability: float
    random_classes: tuple[int, ...]
    random_similarities: tuple[float | None, ...]
    method: str
    layer: str | None
    explanation: Explanation
    top_explanation: Explanation | None
    seconds: float = 0.0

    @property
    def is_top(self) -> bool:
        """True when the target is the top prediction itself."""
        return self.verdict == TOP_CLASS

    @property
    def random_mean(self) -> float | None:
        """The mean of the defined :attr:`random_similarities` (None when there are none): how
        much a random class's map repeats the top class's on this image."""
        values = [v for v in self.random_similarities if v is not None]
        return float(np.mean(values)) if values else None

    @property
    def offers_contrast(self) -> bool:
        """True when the page should offer the contrastive map "why target rather than top":
        the verdict is "same as top", so the map itself says little about the class."""
        return self.verdict == SAME_AS_TOP_VERDICT

    @property
    def short(self) -> str:
        """The figure and verdict in a few words, for a caption: "92% the same as espresso's map
        (same as top)"; "top class"; "no verdict (contrast)"; "no similarity (empty map)"."""
        if self.verdict == TOP_CLASS:
            return "top class"
        if self.verdict == NOT_APPLICABLE:
            return "no verdict (contrast)"
        if self.similarity_to_top is None:
            return "no similarity (empty map)"
        figure = f"{self.similarity_to_top:.0%}" if self.similarity_to_top >= 0 else f"{self.similarity_to_top:+.2f}"
        return f"{figure} the same as {self.top_name}'s map ({self.verdict})"

    def summary(self) -> dict:
        """A JSON-ready record (no arrays): the figures, the verdict, its reading and thresholds."""
        return {
            "similarity_to_top": None if self.similarity_to_top is None else round(self.similarity_to_top, 4),
            "verdict": self.verdict,
            "reading": self.reading,
            "target": self.target_label,
            "target_index": self.target_index,
            "top_index": self.top_index,
            "top_name": self.top_name,
            "top_probability": round(float(self.top_probability), 6),
            "random_classes": list(self.random_classes),
            "random_similarities": [None if v is None else round(v, 4) for v in self.random_similarities],
            "random_mean": None if self.random_mean is None else round(self.random_mean, 4),
            "grid": list(AGREEMENT_GRID),
            "thresholds": {"same_as_top": SAME_AS_TOP, "partly_shared": PARTLY_SHARED},
            "method": self.method,
            "layer": self.layer,
        }


def verdict_for(rho: float | None) -> str:
    """The verdict of a class (not the top one) whose map has rank correlation ``rho`` with the
    top class's map: ``"same as top"``, ``"partly shared"``, ``"distinct"``, or ``"undefined"``
    for None (a map with no positive evidence)."""
    if rho is None:
        return UNDEFINED
    if rho >= SAME_AS_TOP:
        return SAME_AS_TOP_VERDICT
    if rho >= PARTLY_SHARED:
        return PARTLY_SHARED_VERDICT
    return DISTINCT


def reading_for(verdict: str, rho: float | None, target: str, top: str) -> str:
    """The verdict in plain words, e.g. "92% the same as espresso's map: this mostly shows where
    the model looks, not what is specific to slot"."""
    if verdict == TOP_CLASS:
        return f"{target} is the top class: the other classes' maps are compared with this one."
    if verdict == NOT_APPLICABLE:
        return (
            "No class-sensitivity verdict for a contrastive map: it is built to remove what the two "
            "classes share, so it cannot repeat the top class's map."
        )
    if verdict == UNDEFINED or rho is None:
        return (
            f"No similarity to {top}'s map: a map without positive evidence has no order to compare "
            "(try another layer or method)."
        )
    if verdict == SAME_AS_TOP_VERDICT:
        return (
            f"{rho:.0%} the same as {top}'s map: this mostly shows where the model looks, "
            f"not what is specific to {target}."
        )
    if verdict == PARTLY_SHARED_VERDICT:
        return (
            f"{rho:.0%} the same as {top}'s map: partly where the model looks at all, "
            f"partly what is specific to {target}."
        )
    if rho < 0:
        return (
            f"Unlike {top}'s map (rank correlation {rho:+.2f}): this map shows something of its own "
            f"for {target}, not just where the model looks."
        )
    return (
        f"Only {rho:.0%} the same as {top}'s map: this map shows something of its own for {target}, "
        "not just where the model looks."
    )


def compare_to_top(
    explanation: Explanation,
    top_explanation: Explanation | None,
    *,
    random: Sequence[Explanation] = (),
    top_ranks: np.ndarray | None = None,
    seconds: float = 0.0,
) -> ClassSensitivity:
    """The :class:`ClassSensitivity` of maps already computed: ``explanation`` (the target's) and
    ``top_explanation`` (the top prediction's, same image, method, layer and options), and the
    Random Logit baseline's maps in ``random``. For callers that have the maps anyway (the app, the
    CLI: one :meth:`~gradcam.Explainer.explain_targets` call for the target and ``None``).

    Args:
        explanation: the target's explanation (a class, a group, the top prediction or a contrast).
        top_explanation: the top prediction's explanation; may be None for a contrast.
        random: explanations of the random classes (their ``target_index`` is recorded).
        top_ranks: ``grid_ranks(top_explanation.heatmap)`` when already computed (several
            targets against one top map).
        seconds: the wall time to record.

    Raises:
        MetricError: the two explanations are not of the same image, method and layer.
    """
    top_index, top_name, top_probability = explanation.top[0]
    common: dict[str, Any] = {
        "target_label": explanation.label,
        "target_index": int(explanation.target_index),
        "target_probability": float(explanation.target_probability),
        "top_index": int(top_index),
        "top_name": str(top_name),
        "top_probability": float(top_probability),
        "method": explanation.method,
        "layer": explanation.layer,
        "explanation": explanation,
        "top_explanation": top_explanation,
        "seconds": seconds,
    }
    if explanation.contrast_name is not None:
        return ClassSensitivity(
            None,
            NOT_APPLICABLE,
            reading_for(NOT_APPLICABLE, None, explanation.label, str(top_name)),
            random_classes=(),
            random_similarities=(),
            **common,
        )
    if top_explanation is None:
        raise MetricError("The top prediction's explanation is needed to compare a class's map with it.")
    _check_same_map_kind(explanation, top_explanation)
    if top_explanation.target_index != top_index or top_explanation.contrast_name is not None:
        raise MetricError(
            f"top_explanation must explain the top prediction ({top_name!r}); it explains "
            f"{top_explanation.label!r}. Pass explain(image, None) with the same method and layer."
        )
    ranks = top_ranks if top_ranks is not None else grid_ranks(top_explanation.heatmap)
    for other in random:
        _check_same_map_kind(other, top_explanation)
    randoms = tuple(ranks_correlation(grid_ranks(other.heatmap), ranks) for other in random)
    is_top = explanation.target_members is None and explanation.target_index == top_index
    if is_top:
        rho: float | None = 1.0
        verdict = TOP_CLASS
    else:
        rho = ranks_correlation(grid_ranks(explanation.heatmap), ranks)
        verdict = verdict_for(rho)
    return ClassSensitivity(
        rho,
        verdict,
        reading_for(verdict, rho, explanation.label, str(top_name)),
        random_classes=tuple(int(other.target_index) for other in random),
        random_similarities=randoms,
        **common,
    )


def compare_all_to_top(explanations: Sequence[Explanation], top_explanation: Explanation) -> list[ClassSensitivity]:
    """:func:`compare_to_top` for several explanations of one image, method and layer (the top
    map ranked once): what the CLI and the app use with one ``explain_targets(image, [..., None])``."""
    ranks = grid_ranks(top_explanation.heatmap)
    return [compare_to_top(e, top_explanation, top_ranks=ranks) for e in explanations]


def random_classes(classes: int, top_index: int, n_random: int, seed: int = 0) -> list[int]:
    """``n_random`` distinct classes drawn at random (``numpy.random.default_rng(seed)``) from the
    ``classes`` classes other than ``top_index``, in the order drawn (all of them when fewer)."""
    others = np.array([c for c in range(classes) if c != top_index], np.int64)
    count = min(int(n_random), len(others))
    if count <= 0:
        return []
    return [int(c) for c in np.random.default_rng(seed).choice(others, size=count, replace=False)]


def class_sensitivity(
    explainer: Any,
    image: np.ndarray,
    target: Target,
    *,
    method: str = "gradcam",
    layer: str | Sequence[str] | None = None,
    n_random: int = N_RANDOM,
    seed: int = 0,
    **options,
) -> ClassSensitivity:
    """Is the map of ``target`` about that class, or the top class's map again?

    Computes the target's map and the top prediction's (same method, layer and options) in one
    :meth:`~gradcam.Explainer.explain_targets` call, and their Spearman's rho on a 56x56 grid
    (:func:`gradcam.compare.rank_correlation`, as :func:`gradcam.compare_models` measures
    agreement); then the same rho for ``n_random`` classes drawn at random (seeded) from those
    other than the top class: the Random Logit baseline of Sixt et al. (ICML 2020) for this image.

    A :class:`~gradcam.Group` is a target like a class: its map is compared with the top class's.
    A :class:`~gradcam.Contrast` gets the verdict ``"not applicable"`` (its map is built to remove
    what two classes share) and no similarity, rather than an error.

    Args:
        explainer: a :class:`gradcam.Explainer` (or anything one accepts: a zoo model, a keras.Model).
        image: uint8 RGB (H, W, 3), any size.
        target: class index or name, None (the top prediction: verdict "top class"), a Group or a Contrast.
        method: a key of ``gradcam.METHODS``.
        layer: as :meth:`~gradcam.Explainer.explain` takes it (None: the default layer).
        n_random: how many random classes for the baseline (0: none; at most all but the top).
        seed: the seed of the random classes: the same seed, the same classes.
        **options: passed to :meth:`~gradcam.Explainer.explain_targets` (``aug_smooth``,
            ``progress``, the method's own options).

    Returns:
        A :class:`ClassSensitivity`.

    Raises:
        MetricError: ``n_random`` is not a whole number >= 0. Otherwise what ``explain`` raises
        for the target, method or layer.
    """
    from .explainer import Explainer

    if isinstance(n_random, bool) or not isinstance(n_random, (int, np.integer)) or n_random < 0:
        raise MetricError(f"n_random must be a whole number >= 0 (random classes of the baseline); got {n_random!r}.")
    started = time.perf_counter()
    explainer = explainer if isinstance(explainer, Explainer) else Explainer(explainer)
    if isinstance(target, Contrast):
        (explanation,) = explainer.explain_targets(image, [target], method=method, layer=layer, **options)
        return compare_to_top(explanation, None, seconds=time.perf_counter() - started)
    # One call: the network runs once (or not at all for a cached image) and the head once for both.
    explanation, top = explainer.explain_targets(image, [target, None], method=method, layer=layer, **options)
    drawn = random_classes(len(explainer.class_names), top.target_index, n_random, seed)
    randoms = (
        explainer.explain_targets(image, drawn, method=method, layer=layer, **options) if drawn else []
    )  # a second call, after the top class is known: the activations now come from the cache
    return compare_to_top(explanation, top, random=randoms, seconds=time.perf_counter() - started)


def _check_same_map_kind(a: Explanation, b: Explanation) -> None:
    if a.method != b.method or a.layer != b.layer or a.heatmap.shape != b.heatmap.shape:
        raise MetricError(
            "Class sensitivity compares maps of one image with one method and layer; got "
            f"{a.method} at {a.layer} {a.heatmap.shape} and {b.method} at {b.layer} {b.heatmap.shape}."
        )


__all__ = [
    "DISTINCT",
    "NOT_APPLICABLE",
    "N_RANDOM",
    "PARTLY_SHARED",
    "PARTLY_SHARED_VERDICT",
    "SAME_AS_TOP",
    "SAME_AS_TOP_VERDICT",
    "TOP_CLASS",
    "UNDEFINED",
    "VERDICTS",
    "ClassSensitivity",
    "class_sensitivity",
    "compare_all_to_top",
    "compare_to_top",
    "random_classes",
    "reading_for",
    "verdict_for",
]
