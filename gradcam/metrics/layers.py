"""Which layer should one explain? Each candidate layer's map scored by insertion minus deletion.

    import gradcam
    for row in gradcam.rank_layers(explainer, image):              # best first
        print(row.layer, row.score, row.insertion_auc, row.deletion_auc)

"The last convolutional layer" is the usual answer (pytorch-grad-cam issues #43 and #153 ask
again and again). This measures instead: every candidate layer's map of the same image, class and
method goes through the deletion and insertion curves of :func:`gradcam.metrics.deletion_insertion`
(Petsiuk et al., RISE, BMVC 2018), and the layers are ranked by ``insertion_auc - deletion_auc``:
a map whose most salient pixels, revealed first, bring the class back fast and, removed first,
take it away fast, ranks high.

Candidates by default: the last spatial layer of each stage (:func:`stage_layers`), plus the
explainer's default layer.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import LayerError, MetricError
from ..explanation import Explanation, Target
from ..progress import Progress, no_progress

#: A stage's name: the letters and number that start a layer's name ("block4" of "block4a_expand_conv",
#: "conv3" of "conv3_block2_out", "block_13" of MobileNetV2's "block_13_expand").
_STAGE = re.compile(r"^([A-Za-z]+_?\d+)")


@dataclass(frozen=True, eq=False)
class LayerScore:
    """One layer's place in :func:`rank_layers`.

    Attributes:
        layer: the layer's path.
        stage: the stage it closes (see :func:`stage_layers`).
        grid: the (h, w) of the layer's map.
        score: ``insertion_auc - deletion_auc`` (in [-1, 1], higher is better).
        insertion_auc, deletion_auc: the areas under the insertion (higher is better) and
            deletion (lower is better) curves of the layer's map.
        explanation: the layer's :class:`~gradcam.Explanation`.
        forward_images: images the curves sent through the network (their cost in forward passes).
        seconds: wall time for this layer (its map and its curves).
    """

    layer: str
    stage: str
    grid: tuple[int, int]
    score: float
    insertion_auc: float
    deletion_auc: float
    explanation: Explanation
    forward_images: int
    seconds: float

    def summary(self) -> dict:
        """A JSON-ready record (no arrays)."""
        return {
            "layer": self.layer,
            "stage": self.stage,
            "grid": list(self.grid),
            "score": round(self.score, 4),
            "insertion_auc": round(self.insertion_auc, 4),
            "deletion_auc": round(self.deletion_auc, 4),
            "forward_images": self.forward_images,
            "seconds": round(self.seconds, 3),
        }


def stage_of(path: str) -> str:
    """The stage a layer belongs to, from its name (the last part of a nested path): the letters
    and number it starts with ("block4a_expand_conv" -> "block4", "conv3_block2_out" -> "conv3"),
    else the name up to its first underscore ("stem_conv" -> "stem", "head_activation" -> "head")."""
    name = path.rsplit("/", 1)[-1]
    found = _STAGE.match(name)
    return found.group(1) if found else name.split("_", 1)[0]


def stage_layers(explainer) -> list[tuple[str, str]]:
    """``(stage, layer path)`` of the last spatial layer of each stage, in the model's order, plus
    the explainer's default layer (a vision transformer's is not its last token layer).

    Stages come from the layer names, as Keras's applications name them: EfficientNet's "block1"
    to "block7" (with "stem" and "head"), ResNet's "conv2" to "conv5", VGG's "block1" to "block5":
    consecutive spatial layers of one stage name form a stage, and its last layer is where the
    stage's features are complete. When the names give fewer than two stages (a model of unnamed
    layers, "conv2d", "conv2d_1", ...), stages are runs of one spatial resolution instead (a
    pooling or a strided layer starts the next). Layers at the model input's own resolution
    before any other (rescaling, normalisation) are left out when other stages exist: their "map"
    is the preprocessed image.
    """
    grids = explainer.layer_grids
    paths = list(grids)
    if not paths:
        raise LayerError(
            "This model has no layer with a spatial output, so there are no layers to rank; "
            "CAM methods cannot run on it (pixel methods and Occlusion can)."
        )
    names = [stage_of(path) for path in paths]
    if len(set(names)) < 2:
        names = [f"{grids[path][0]}x{grids[path][1]}" for path in paths]
    size = tuple(explainer.input_size)
    stages: list[tuple[str, str]] = []
    for i, (path, name) in enumerate(zip(paths, names)):
        if i + 1 == len(paths) or names[i + 1] != name:
            stages.append((name, path))
    if len(stages) > 1:
        stages = [(n, p) for n, p in stages if grids[p] != size] or stages
    default = explainer.default_layer
    if default not in [p for _, p in stages]:
        order = {path: i for i, path in enumerate(paths)}
        stages.append((stage_of(default), default))
        stages.sort(key=lambda item: order[item[1]])
    return stages


def rank_layers(
    explainer,
    image: np.ndarray,
    target: Target = None,
    method: str = "gradcam",
    layers: Sequence[str] | None = None,
    *,
    steps: int = 50,
    batch_size: int = 64,
    seed: int = 0,
    progress: Progress | None = None,
    **options,
) -> list[LayerScore]:
    """Rank layers for one image, class and method by how faithful their maps are.

    Each layer's map is computed (from one pass through the network: the activations are cached)
    and scored by its deletion and insertion curves (:func:`gradcam.evaluate`, ``steps`` steps
    each, perturbed images ``batch_size`` at a time); the score is ``insertion_auc - deletion_auc``.

    Args:
        explainer: a :class:`gradcam.Explainer`.
        image: uint8 RGB (H, W, 3), any size.
        target: a class index or name, a Group or a Contrast; None: the top prediction.
        method: a CAM method's key (one that uses a layer).
        layers: the layer paths to rank; None: :func:`stage_layers` (the last layer of each stage,
            and the default layer).
        steps, batch_size, seed: the curves' steps, batch size and tie-breaking seed.
        progress: callable(fraction, message), once per layer and along its curves.
        **options: passed to :meth:`~gradcam.Explainer.explain` (``aug_smooth``, the method's own).

    Returns:
        One :class:`LayerScore` per layer, the best (highest score) first; ties keep the model's order.

    Cost: per layer its map (the head after the layer, from cached activations) and
    2 x (steps + 1) forward passes for the curves.

    Raises:
        MetricError: a pixel method (no layer to choose), or an empty list of layers.
        LayerError: an unknown layer (the message lists the valid ones).
    """
    from ..methods import get_method
    from .evaluate import evaluate

    info = get_method(method)
    if not info.uses_layer:
        raise MetricError(
            f"{info.label} does not use a layer, so there are no layers to rank; choose a CAM method (e.g. 'gradcam')."
        )
    progress = progress or no_progress
    if layers is None:
        chosen = stage_layers(explainer)
    else:
        if isinstance(layers, str):
            layers = [layers]
        paths = [explainer.layer_path(layer) for layer in layers]  # each checked before any work
        if not paths:
            raise MetricError("No layers given to rank; pass layer paths (explainer.layers) or None for the stages.")
        chosen = [(stage_of(p), p) for p in dict.fromkeys(paths)]
    rows: list[LayerScore] = []
    share = 1.0 / len(chosen)
    for number, (stage, path) in enumerate(chosen):
        started = time.perf_counter()

        def part(fraction, message, number=number, path=path):
            progress(min((number + fraction) * share, 0.999), f"{path}: {message}")

        part(0.0, "map")
        explanation = explainer.explain(image, target, method=method, layer=path, **options)
        figures = evaluate(
            explainer,
            image,
            explanation,
            ["deletion", "insertion"],
            steps=steps,
            batch_size=batch_size,
            baseline=False,
            seed=seed,
            progress=part,
        )
        insertion, deletion = figures.scores["insertion_auc"], figures.scores["deletion_auc"]
        rows.append(
            LayerScore(
                path,
                stage,
                (int(explanation.coarse.shape[0]), int(explanation.coarse.shape[1])),
                float(insertion - deletion),
                float(insertion),
                float(deletion),
                explanation,
                int(figures.forward_images),
                time.perf_counter() - started,
            )
        )
    progress(1.0, "done")
    return sorted(rows, key=lambda row: -row.score)  # sorted() is stable: ties keep the model's order


__all__ = ["LayerScore", "rank_layers", "stage_layers", "stage_of"]
