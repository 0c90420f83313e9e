"""Compare models: one image and one class explained by several classifiers, side by side.

    import gradcam
    result = gradcam.compare_models([lite0, lite1], image, target="espresso")
    for panel in result.panels:
        print(panel.name, panel.probability, panel.top1)       # the model's p for the class, its own top-1
    for pair in result.agreement:
        print(pair.first, pair.second, pair.spearman, pair.verdict)
    print(result.reading)                                      # how to read the agreement figures

Each model explains the image at its own input size with its own preprocessing, exactly as
:meth:`gradcam.Explainer.explain` does alone: a comparison costs one explanation per model and
nothing more. Every map is aligned with the image as given (``heatmap`` is (H, W) of the image),
so the maps can be laid over the same picture and compared pixel by pixel.

Classes must match: a comparison of unrelated outputs means nothing. Models match when they have
the same class names (ImageNet models match whatever their naming: display names or the older
ones), or, failing that, the same number of outputs (then a class is matched by its index, and a
class given by name must be found on every model). A target that one model lacks, or models with
different numbers of classes, raise a :class:`~gradcam.errors.TargetError` that names the model.

Agreement: for each pair of models, Spearman's rank correlation of their two maps on a common
grid (:data:`AGREEMENT_GRID`, each map shrunk by area averaging): 1 when both rank the image's
regions in the same order of importance, 0 when their orders are unrelated, negative when one
model's strongest regions are the other's weakest. It compares where the models look, not how
strongly (each map's own scale does not matter).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from .errors import GradCamError, TargetError, UnknownClassError
from .explanation import Explanation
from .explanation import shared_scale as _shared_scale
from .images import as_rgb_uint8
from .targets import Contrast, Group, Target

if TYPE_CHECKING:
    from .explainer import Explainer

#: The (height, width) grid both maps are shrunk to before their rank correlation: fine enough to
#: tell regions apart, coarse enough that a map's pixel-level texture (and the upsampling of a 7x7
#: map) does not decide the figure, and the same for every pair whatever the image's size.
AGREEMENT_GRID = (56, 56)

#: How to read the agreement figures, in one line (the page and the CLI show it).
READING = (
    "Agreement is Spearman's rank correlation of two maps on a 56×56 grid: 1 = both models rank the "
    "image's regions in the same order, 0 = unrelated orders, below 0 = one model's strongest regions "
    "are the other's weakest. Roughly: ≥ 0.7 they look at the same places, 0.4–0.7 partly, "
    "< 0.4 mostly elsewhere."
)

#: ``(lowest correlation, verdict)``, strongest first.
VERDICTS = (
    (0.7, "look at the same places"),
    (0.4, "partly agree"),
    (0.0, "mostly look elsewhere"),
    (-1.01, "highlight opposite regions"),
)


@dataclass(frozen=True, eq=False)
class ModelPanel:
    """One model's part of a comparison.

    Attributes:
        name: the model's name (made unique within the comparison: "model (2)").
        explanation: the model's :class:`~gradcam.Explanation`; its heatmap is (H, W) of the image.
        probability: the model's probability for the class explained (a group: the sum of its
            members'; None as target: its own top prediction's).
        top1: the model's own most probable class as ``(index, name, probability)``.
        input_size: (height, width) the model saw the image at.
    """

    name: str
    explanation: Explanation
    probability: float
    top1: tuple[int, str, float]
    input_size: tuple[int, int]

    @property
    def heatmap(self) -> np.ndarray:
        """The map on its own scale (float32 (H, W) in [0, 1], aligned with the image)."""
        return self.explanation.heatmap

    @property
    def agrees_with_target(self) -> bool:
        """True when the model's own top-1 is the class explained."""
        return self.top1[0] == self.explanation.target_index


@dataclass(frozen=True)
class Agreement:
    """How much two models' maps agree: ``spearman`` in [-1, 1], or None when one map is empty
    (no positive evidence: there is no order to compare); ``verdict`` says it in words."""

    first: str
    second: str
    spearman: float | None
    verdict: str


@dataclass(frozen=True, eq=False)
class ModelComparison:
    """What :func:`compare_models` returns.

    Attributes:
        panels: one :class:`ModelPanel` per model, in the order given.
        agreement: one :class:`Agreement` per pair of models (first with second, first with
            third, ..., in the order of ``itertools.combinations``).
        target: the target as given (None: each model's own top prediction).
        method: the method's registry key.
        shared_scale: whether :attr:`heatmaps` puts every map on one colour scale.
        matched_by: how the models' classes were matched: "names" or "index".
        notes: remarks for people (each model explains its own top prediction, the classes are
            matched by index, ...).
        seconds: the wall time of the whole comparison.
    """

    panels: tuple[ModelPanel, ...]
    agreement: tuple[Agreement, ...]
    target: Target
    method: str
    shared_scale: bool
    matched_by: str
    notes: tuple[str, ...] = field(default_factory=tuple)
    seconds: float = 0.0

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.panels]

    @property
    def explanations(self) -> list[Explanation]:
        return [p.explanation for p in self.panels]

    @property
    def heatmaps(self) -> list[np.ndarray]:
        """The maps to draw: each on its own scale, or, with ``shared_scale``, each divided by
        the largest peak among them (see :func:`gradcam.shared_scale`; the peaks are in each
        model's own logit units, so a shared scale across models is a rough guide to strength)."""
        if self.shared_scale:
            return _shared_scale(self.explanations)
        return [p.heatmap for p in self.panels]

    @property
    def reading(self) -> str:
        """How to read the agreement figures (:data:`READING`)."""
        return READING

    def agreement_between(self, first: str, second: str) -> Agreement:
        """The :class:`Agreement` of two models, by name (either order)."""
        for pair in self.agreement:
            if {pair.first, pair.second} == {first, second}:
                return pair
        raise KeyError(f"No pair {first!r}, {second!r}; the models are {', '.join(self.names)}.")

    def summary(self) -> dict:
        """A JSON-ready record of everything but the arrays."""
        return {
            "target": _target_text(self.target),
            "method": self.method,
            "shared_scale": self.shared_scale,
            "matched_by": self.matched_by,
            "models": [
                {
                    "name": p.name,
                    "input_size": list(p.input_size),
                    "layer": p.explanation.layer,
                    "target_index": p.explanation.target_index,
                    "target_name": p.explanation.label,
                    "probability": round(float(p.probability), 6),
                    "top1": {"index": p.top1[0], "name": p.top1[1], "probability": round(float(p.top1[2]), 6)},
                    "peak": float(p.explanation.peak),
                    "empty": p.explanation.empty,
                    "seconds": round(float(p.explanation.seconds), 4),
                }
                for p in self.panels
            ],
            "agreement": [
                {
                    "first": a.first,
                    "second": a.second,
                    "spearman": None if a.spearman is None else round(a.spearman, 4),
                    "verdict": a.verdict,
                }
                for a in self.agreement
            ],
            "reading": self.reading,
            "notes": list(self.notes),
            "seconds": round(self.seconds, 4),
        }


def compare_models(
    explainers: Sequence[Any] | Mapping[str, Any],
    image: np.ndarray,
    target: Target = None,
    method: str = "gradcam",
    layer: str | Sequence[str | None] | Mapping[str, str] | None = None,
    *,
    shared_scale: bool = False,
    **options,
) -> ModelComparison:
    """Explain one image for one class with several models, and say how much their maps agree.

    Args:
        explainers: two or more :class:`gradcam.Explainer` (or anything an Explainer accepts: a
            model-zoo model, a ``keras.Model``), or a mapping ``{name: explainer}`` to name them.
            Each sees the image at its own input size with its own preprocessing.
        image: uint8 RGB (H, W, 3), any size; every map comes back aligned with it.
        target: a class index or name, a :class:`~gradcam.Group` (or a
            :class:`~gradcam.Contrast`), resolved on every model; None: each model explains its
            own top prediction (the result's notes say so).
        method: a key of ``gradcam.METHODS``, the same for every model.
        layer: None for each model's default layer; one path for every model; or one entry per
            model (a sequence in the models' order, or a mapping by name; None entries: default).
        shared_scale: draw the maps on one colour scale (:attr:`ModelComparison.heatmaps`).
        **options: passed to each :meth:`~gradcam.Explainer.explain` (``aug_smooth``, ``progress``,
            the method's own options).

    Returns:
        A :class:`ModelComparison`: per model its explanation, its probability for the class and
        its own top-1; per pair of models their agreement.

    Raises:
        TargetError: fewer than two models, models whose classes differ, or a target one of the
            models lacks (the message names it). Other errors as :meth:`~gradcam.Explainer.explain`.
    """
    import time

    from .explainer import Explainer

    started = time.perf_counter()
    named: list[tuple[str | None, Any]]
    if isinstance(explainers, Mapping):
        named = [(str(name), e) for name, e in explainers.items()]
    else:
        named = [(None, e) for e in explainers]
    if len(named) < 2:
        raise TargetError(
            f"A comparison needs at least two models; got {len(named)}. Pass two or more "
            "explainers (or model-zoo models)."
        )
    explainers = [e if isinstance(e, Explainer) else Explainer(e) for _, e in named]
    names = _unique([name or e.name for (name, _), e in zip(named, explainers)])
    layers = _layers_per_model(layer, names)
    matched_by = check_classes_match(explainers, names)
    # Models match by names (the same classes in the same order) or by index (the same count):
    # an index is the same class on each; a name or group is looked up on each model.
    targets = [_target_for(e, name, target) for e, name in zip(explainers, names)]
    for e, name, lay in zip(explainers, names, layers):
        if lay is not None:
            try:
                e.layer_path(lay)
            except GradCamError as exc:
                raise type(exc)(f"{name}: {exc}") from exc
    image = as_rgb_uint8(image)
    panels = []
    progress = options.pop("progress", None)
    for number, (e, name, t, lay) in enumerate(zip(explainers, names, targets, layers)):
        extra = dict(options)
        if progress is not None:

            def scaled(fraction, message="", number=number, name=name):
                progress((number + fraction) / len(explainers), f"{name}: {message}" if message else name)

            extra["progress"] = scaled
        explanation = e.explain(image, t, method=method, layer=lay, **extra)
        panels.append(
            ModelPanel(
                name, explanation, float(explanation.target_probability), explanation.top[0], tuple(e.input_size)
            )
        )
    ranks = {id(p): grid_ranks(p.heatmap) for p in panels}  # each map ranked once
    agreement = tuple(_agreement(a, b, ranks[id(a)], ranks[id(b)]) for a, b in combinations(panels, 2))
    notes = []
    if target is None:
        notes.append(
            "No class given: each model explains its own top prediction, so the maps may show different classes."
        )
    if matched_by == "index":
        notes.append("The models' class names differ; their classes are matched by index.")
    return ModelComparison(
        tuple(panels),
        agreement,
        target,
        panels[0].explanation.method,
        bool(shared_scale),
        matched_by,
        tuple(notes),
        time.perf_counter() - started,
    )


def classes_match(explainers: Sequence[Any]) -> tuple[str | None, str]:
    """How the explainers' classes match: ``("names", why)``, ``("index", why)`` or
    ``(None, why not)``, without raising (the app uses it to offer only models that match)."""
    first = explainers[0]
    if all(_same_names(first, e) for e in explainers[1:]):
        return "names", "the models have the same classes"
    counts = {len(e.class_names) for e in explainers}
    if len(counts) == 1:
        return "index", f"the models' class names differ; their {counts.pop()} classes are matched by index"
    listed = ", ".join(f"{getattr(e, 'name', 'model')} has {len(e.class_names)}" for e in explainers)
    return None, (
        f"the models' classes do not match ({listed} classes): their outputs are unrelated, so "
        "their maps cannot be compared class for class. Compare models with the same classes "
        "(the same names or the same number of outputs)."
    )


def check_classes_match(explainers: Sequence[Any], names: Sequence[str] | None = None) -> str:
    """``"names"`` or ``"index"`` (see :func:`classes_match`); raises a TargetError otherwise."""
    if names is not None:
        explainers = [_Named(e, n) for e, n in zip(explainers, names)]
    how, why = classes_match(explainers)
    if how is None:
        raise TargetError("Cannot compare these models: " + why)
    return how


def agree(first: ModelPanel, second: ModelPanel, grid: tuple[int, int] = AGREEMENT_GRID) -> Agreement:
    """The :class:`Agreement` of two panels' maps (Spearman's rank correlation on ``grid``)."""
    return _agreement(first, second, grid_ranks(first.heatmap, grid), grid_ranks(second.heatmap, grid))


def _agreement(first: ModelPanel, second: ModelPanel, ranks_a, ranks_b) -> Agreement:
    rho = ranks_correlation(ranks_a, ranks_b)
    if rho is None:
        empty = [p.name for p in (first, second) if not p.heatmap.max() > 0]
        verdict = (
            f"undefined: {' and '.join(empty)} show{'s' if len(empty) == 1 else ''} no positive evidence"
            if empty
            else "undefined: a map is flat"
        )
    else:
        verdict = next(text for low, text in VERDICTS if rho >= low)
    return Agreement(first.name, second.name, rho, verdict)


def grid_ranks(heatmap: np.ndarray, grid: tuple[int, int] = AGREEMENT_GRID) -> np.ndarray | None:
    """The ranks (ties: their average rank) of a map's cells once shrunk to ``grid`` by area
    averaging, flattened; None for a flat map (all equal: no order). Computed once per map, so a
    comparison of n models ranks n maps, not n * (n - 1)."""
    from scipy.stats import rankdata

    heatmap = np.asarray(heatmap, np.float32)
    small = cv2.resize(heatmap, (grid[1], grid[0]), interpolation=cv2.INTER_AREA).ravel()
    if float(np.ptp(small)) == 0.0:
        return None
    return rankdata(small)


def ranks_correlation(ranks_a: np.ndarray | None, ranks_b: np.ndarray | None) -> float | None:
    """Spearman's rho of two maps from their :func:`grid_ranks` (Pearson's correlation of the
    ranks, clipped to [-1, 1]); None when either is None (a flat map has no order). Rank a map
    once and correlate it with many (class sensitivity compares every class with the top one)."""
    if ranks_a is None or ranks_b is None:
        return None
    return float(np.clip(np.corrcoef(ranks_a, ranks_b)[0, 1], -1.0, 1.0))


def rank_correlation(a: np.ndarray, b: np.ndarray, grid: tuple[int, int] = AGREEMENT_GRID) -> float | None:
    """Spearman's rank correlation of two maps of one image, each shrunk to ``grid`` (area
    averaging) first; ties share their average rank. None when either map is flat (all equal,
    for example all zeros): a flat map has no order to compare.

    Raises:
        ValueError: maps of different shapes (they must be aligned with the same image).
    """
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"Two maps (H, W) of the same image are expected; got shapes {a.shape} and {b.shape}.")
    return ranks_correlation(grid_ranks(a, grid), grid_ranks(b, grid))


def side_by_side(
    comparison: ModelComparison, image: np.ndarray, colormap: str = "jet", alpha: float = 0.5, *, height: int = 320
) -> np.ndarray:
    """The comparison as one picture: each model's overlay side by side (``height`` pixels high,
    the image's aspect kept), with two caption lines above each (the model; its p for the class and
    its own top-1) and the agreement figures below. uint8 RGB. The CLI writes it as a PNG.

    Maps use :attr:`ModelComparison.heatmaps` (own or shared scale, as the comparison says).
    OpenCV's Hershey font draws ASCII only: other characters show as '?'.
    """
    from .render import overlay

    image = as_rgb_uint8(image)
    h, w = image.shape[:2]
    width = max(1, int(round(w * height / h)))
    small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if h > height else cv2.INTER_CUBIC)
    line, gap = 22, 8
    columns = []
    for panel, heat in zip(comparison.panels, comparison.heatmaps):
        heat = cv2.resize(heat, (width, height), interpolation=cv2.INTER_LINEAR)
        picture = overlay(small, heat, colormap, alpha)
        head = np.full((2 * line + gap, width, 3), 255, np.uint8)
        e = panel.explanation
        _text(head, panel.name, 4, line - 6, bold=True)
        _text(
            head,
            f"p({e.label}) = {panel.probability:.1%} | top-1: {panel.top1[1]} {panel.top1[2]:.0%}",
            4,
            2 * line - 4,
        )
        columns.append(np.concatenate([head, picture]))
    spacer = np.full((columns[0].shape[0], gap, 3), 255, np.uint8)
    row = columns[0]
    for column in columns[1:]:
        row = np.concatenate([row, spacer, column], axis=1)
    lines = [
        f"{a.first} vs {a.second}: rank correlation "
        + (f"{a.spearman:+.2f}" if a.spearman is not None else "n/a")
        + f" ({a.verdict})"
        for a in comparison.agreement
    ]
    scale = "maps on one shared colour scale" if comparison.shared_scale else "each map on its own scale"
    lines.append(f"1 = same regions in the same order, 0 = unrelated, < 0 = opposite | {scale}")
    foot = np.full((line * len(lines) + gap, row.shape[1], 3), 255, np.uint8)
    for i, text in enumerate(lines):
        _text(foot, text, 4, line * (i + 1) - 4)
    return np.concatenate([row, foot])


def _text(canvas: np.ndarray, text: str, x: int, y: int, bold: bool = False) -> None:
    ascii_text = text.encode("ascii", "replace").decode("ascii")
    cv2.putText(canvas, ascii_text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 2 if bold else 1, cv2.LINE_AA)


# -- helpers ------------------------------------------------------------------------------------
class _Named:
    """An explainer seen under the name the comparison gives it (for messages)."""

    def __init__(self, explainer: Explainer, name: str):
        self._explainer, self.name = explainer, name

    def __getattr__(self, attribute):
        return getattr(self._explainer, attribute)


def _same_names(a, b) -> bool:
    if list(a.class_names) == list(b.class_names):
        return True
    return bool(a.has_imagenet_classes and b.has_imagenet_classes)


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out


def _layers_per_model(layer, names: list[str]) -> list:
    if layer is None or isinstance(layer, str):
        return [layer] * len(names)
    if isinstance(layer, Mapping):
        unknown = [key for key in layer if key not in names]
        if unknown:
            raise TargetError(
                f"layer names models {', '.join(map(repr, unknown))} that are not in the comparison; "
                f"the models are {', '.join(map(repr, names))}."
            )
        return [layer.get(name) for name in names]
    layers = list(layer)
    if len(layers) != len(names):
        raise TargetError(
            f"{len(layers)} layers were given for {len(names)} models; give one per model "
            "(None for a model's default layer), one layer for all, or None."
        )
    return layers


def _target_for(explainer: Explainer, name: str, target: Target) -> Target:
    """The target as ``explainer`` should read it, checked: a name or group must exist on every model."""
    if target is None:
        return None
    try:
        explainer.check_target(target)
    except GradCamError as exc:
        message = (
            f"{name} cannot explain {_target_text(target)!r}: {exc} Every model in a comparison needs "
            "the class: pick one they share, or leave this model out."
        )
        error = UnknownClassError(message) if isinstance(exc, UnknownClassError) else TargetError(message)
        raise error from exc
    return target


def _target_text(target: Target) -> str:
    if target is None:
        return "top"
    if isinstance(target, Group):
        return f"group:{target.members}" if isinstance(target.members, str) else f"group:{target.name or ''}"
    if isinstance(target, Contrast):
        return f"{_target_text(target.target)} rather than {_target_text(target.other)}"
    return str(target)


__all__ = [
    "AGREEMENT_GRID",
    "READING",
    "Agreement",
    "ModelComparison",
    "ModelPanel",
    "agree",
    "check_classes_match",
    "classes_match",
    "compare_models",
    "grid_ranks",
    "rank_correlation",
    "ranks_correlation",
    "side_by_side",
]
