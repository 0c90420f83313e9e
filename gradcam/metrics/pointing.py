"""The pointing game (Zhang et al., "Top-down Neural Attention by Excitation Backprop", ECCV 2016):
does the map's maximum fall on the object the user points at?"""

from __future__ import annotations

import math

import numpy as np

from ..errors import MetricError

DEFAULT_TOLERANCE = 15.0  # pixels, as in Zhang et al.


def check_box(box, width: int, height: int) -> tuple[float, float, float, float]:
    """``box`` = (x0, y0, x1, y1) in the original image's pixel coordinates, validated."""
    try:
        x0, y0, x1, y1 = (float(v) for v in box)
    except (TypeError, ValueError):
        raise MetricError(f"A box is four numbers (x0, y0, x1, y1); got {box!r}.") from None
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        raise MetricError(f"The box {box!r} has a value that is not a finite number.")
    if x1 < x0 or y1 < y0:
        raise MetricError(f"The box {box!r} is not (x0, y0, x1, y1) with x0 <= x1 and y0 <= y1.")
    if x1 < 0 or y1 < 0 or x0 > width - 1 or y0 > height - 1:
        raise MetricError(f"The box {box!r} lies outside the {width} x {height} image.")
    return x0, y0, x1, y1


def check_point(point, width: int, height: int) -> tuple[float, float]:
    """``point`` = (x, y) in the original image's pixel coordinates, validated."""
    try:
        x, y = (float(v) for v in point)
    except (TypeError, ValueError):
        raise MetricError(f"A point is two numbers (x, y); got {point!r}.") from None
    if not (math.isfinite(x) and math.isfinite(y)) or not (0 <= x <= width - 1 and 0 <= y <= height - 1):
        raise MetricError(
            f"The point {point!r} lies outside the {width} x {height} image (x 0-{width - 1}, y 0-{height - 1})."
        )
    return x, y


def peak_location(heatmap: np.ndarray) -> tuple[int, int] | None:
    """(x, y) of the map's maximum, or None for an empty (all-zero or flat) map. When several
    pixels share the maximum, the one nearest their centroid is taken (not the first in row
    order, which would favour the top of the image)."""
    top = float(heatmap.max())
    if not top > float(heatmap.min()):
        return None
    at_top = heatmap >= top
    # np.nonzero over the rows that hold a maximum only (usually a few of a photo's hundreds):
    # the same coordinates in the same order, a fraction of the time.
    rows = np.flatnonzero(at_top.any(axis=1))
    ys, xs = np.nonzero(at_top[rows[0] : rows[-1] + 1])
    ys += rows[0]
    nearest = np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2)
    return int(xs[nearest]), int(ys[nearest])


def pointing_game(heatmap: np.ndarray, box=None, point=None, tolerance: float = DEFAULT_TOLERANCE):
    """Hit (1.0) or miss (0.0): whether the maximum of ``heatmap`` (H, W), at the original image's
    resolution, lies within ``tolerance`` pixels of ``box`` (x0, y0, x1, y1, inclusive) or of
    ``point`` (x, y). With both, either counts. An empty map misses.

    Returns ``(scores, details)``: scores ``{"pointing_game": 0 or 1}``; details the peak and
    ``pointing_chance``, the share of the image within reach, which is the expected score of a
    map that points at random.
    """
    if box is None and point is None:
        raise MetricError("The pointing game needs a box (x0, y0, x1, y1) or a point (x, y).")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance >= 0:
        raise MetricError(f"tolerance must be a number of pixels, 0 or more; got {tolerance!r}.")
    height, width = heatmap.shape
    ys, xs = np.mgrid[0:height, 0:width]
    reach = np.zeros((height, width), bool)
    if box is not None:
        x0, y0, x1, y1 = check_box(box, width, height)
        dx = np.maximum(np.maximum(x0 - xs, xs - x1), 0)
        dy = np.maximum(np.maximum(y0 - ys, ys - y1), 0)
        reach |= dx**2 + dy**2 <= tolerance**2
    if point is not None:
        x, y = check_point(point, width, height)
        reach |= (xs - x) ** 2 + (ys - y) ** 2 <= tolerance**2
    peak = peak_location(heatmap)
    hit = peak is not None and bool(reach[peak[1], peak[0]])
    details = {"peak": peak, "pointing_chance": float(reach.mean())}
    return {"pointing_game": float(hit)}, details
