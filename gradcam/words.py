"""Plain words for what a viewer reads: probabilities as percentages, a layer's place in the
network, and whether an image is too small to explain meaningfully.

The app, the reports and the CLI print numbers through these functions so that one probability
reads the same everywhere ("33.0%", "0.05%", never "0.0005" beside "33.0%"). Nothing here imports
TensorFlow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: Below this probability a class is "near zero": its map is drawn on its own scale and so glows
#: as brightly as the top class's, although the model all but rules the class out. Reports add a
#: caveat for such a class (0.5%: five times below a uniform guess over 1000 classes' 0.1%).
NEAR_ZERO = 0.005

#: An image is "too small to explain" when both its sides are below the model's input side divided
#: by this factor (56 px for a 224 px model). It is then upscaled more than 4 times: the model sees
#: interpolation, not detail, and a map over it (a 1x1 image becomes one flat colour) says nothing
#: about the photo. 4 rather than 2: thumbnails of 100-150 px still classify well on ImageNet
#: models, while at a quarter of the input side most of the object's texture is gone.
SMALL_IMAGE_FACTOR = 4


def percent(p: float) -> str:
    """A probability (0 to 1) as a percentage with enough digits to tell small ones apart.

    One decimal from 0.1% up ("33.0%", "0.1%"); two significant digits below ("0.05%",
    "0.0012%"); "< 0.0001%" for anything smaller but positive; "0%" for exactly zero.

    >>> percent(0.33), percent(0.0005), percent(0.000012), percent(0.0)
    ('33.0%', '0.05%', '0.0012%', '0%')
    """
    value = float(p) * 100.0
    if not math.isfinite(value):
        return "n/a"
    if value == 0.0:
        return "0%"
    if value >= 0.1:
        return f"{value:.1f}%"
    if value < 0.0001:
        return "< 0.0001%"
    return f"{value:.2g}%"  # two significant digits; from 0.0001 up "g" never writes an exponent


def whole_percents(shares: Sequence[float]) -> list[int]:
    """Shares (fractions that add up to ``total``) as whole percentages that add up to the rounded
    total, by the largest-remainder rule: three thirds read 34%, 33%, 33%, never 33% three times.

    >>> whole_percents([1 / 3, 1 / 3, 1 / 3])
    [34, 33, 33]
    """
    values = [max(float(v), 0.0) * 100.0 for v in shares]
    target = int(round(sum(values)))
    floors = [int(math.floor(v)) for v in values]
    order = sorted(range(len(values)), key=lambda i: (-(values[i] - floors[i]), i))
    for i in order[: max(0, target - sum(floors))]:
        floors[i] += 1
    return floors


def layer_glosses(grids: Sequence[tuple[str, tuple[int, int]]]) -> dict[str, str]:
    """A plain gloss for each spatial layer: "stage 4 of 5, 14×14".

    A stage is a run of consecutive layers whose maps have the same grid (height × width): a CNN
    halves its grid from one stage to the next, so the stage says how deep the layer sits and the
    grid how coarse its map is (a 7×7 map can only point at one of 49 cells).

    Args:
        grids: ``(layer path, (height, width))`` of each spatial layer, in the model's order (as
            :attr:`gradcam.Explainer.layer_grids` gives them).

    Returns:
        ``{layer path: "stage S of N, H×W"}``.

    >>> layer_glosses([("a", (56, 56)), ("b", (56, 56)), ("c", (7, 7))])["c"]
    'stage 2 of 2, 7×7'
    """
    stages: list[int] = []
    previous = None
    for _, grid in grids:
        if grid != previous:
            stages.append(len(stages) + 1 if not stages else stages[-1] + 1)
        else:
            stages.append(stages[-1])
        previous = grid
    total = stages[-1] if stages else 0
    return {path: f"stage {s} of {total}, {h}×{w}" for (path, (h, w)), s in zip(grids, stages)}


def small_image_warning(size: tuple[int, int], input_size: tuple[int, int], factor: int = SMALL_IMAGE_FACTOR) -> str:
    """A warning for an image too small to explain meaningfully, or "" when it is large enough.

    Args:
        size: the image's (width, height) in pixels.
        input_size: the model's input (height, width).
        factor: how many times smaller than the input both sides must be (:data:`SMALL_IMAGE_FACTOR`).
    """
    width, height = (int(v) for v in size)
    in_h, in_w = (int(v) for v in input_size)
    if width * factor >= in_w or height * factor >= in_h:
        return ""
    scale = min(in_w / max(width, 1), in_h / max(height, 1))
    return (
        f"This image is only {width}×{height} pixels: the model looks at {in_w}×{in_h}, so it is blown up "
        f"{scale:.0f} times and the model sees blur, not detail. The prediction and the map below say little "
        f"about the picture. Upload a larger version (at least {math.ceil(in_w / factor)}×"
        f"{math.ceil(in_h / factor)} pixels; {in_w}×{in_h} or more is best)."
    )


__all__ = [
    "NEAR_ZERO",
    "SMALL_IMAGE_FACTOR",
    "layer_glosses",
    "percent",
    "small_image_warning",
    "whole_percents",
]
