"""Occlusion: cover one square of the image at a time and watch the class score.

Zeiler & Fergus (ECCV 2014, section 4.2) slid a grey square over the image and plotted the
correct class's probability at each position. Here the square takes the image's own mean colour
(in the model's input space: a neutral patch whatever the preprocessing), the score is the one
every method here explains (the target's logit, a contrast's difference of logits, a group's
log-sum-exp), and each pixel gets the mean score drop over the window positions that cover it, as
Captum's ``Occlusion`` does: positive where covering the pixel lowers the score.

No gradient and no layer: it is as faithful to the model as a map can be at the window's scale,
and it works on any classifier, including vision transformers whose gradient maps do not localise
(``tests/engine/test_token_models.py`` measures both). The price is one forward pass per window position.
"""

from __future__ import annotations

import numpy as np

from ..errors import MethodError
from . import register
from .base import Job, Method, MethodOutput, Option, rows_by_image


def window_positions(size: int, window: int, stride: int) -> list[int]:
    """The window's first pixel along an axis of ``size`` pixels: every ``stride`` pixels from 0,
    plus ``size - window`` if the stride leaves the last pixels uncovered. With ``stride <=
    window`` (the method checks) every pixel is covered."""
    window = min(window, size)
    positions = list(range(0, size - window + 1, stride))
    if positions[-1] != size - window:
        positions.append(size - window)
    return positions


@register
class Occlusion(Method):
    key = "occlusion"
    label = "Occlusion"
    paper = "Zeiler & Fergus, Visualizing and Understanding Convolutional Networks, ECCV 2014 (arXiv:1311.2901)"
    summary = (
        "How much the class score drops when a square of the image is covered with the image's mean "
        "colour; no gradients and no layer, so it suits any model, transformers included."
    )
    uses_layer = False
    passes = "1 forward per window position (batched)"
    slow = True
    options = (
        Option(
            "window",
            None,
            "side of the covering square, in pixels of the model's input; default an "
            "eighth of the input's shorter side",
            int,
        ),
        Option("stride", None, "pixels between window positions; default half the window", int),
        Option("batch_size", 32, "occluded images per network pass", int),
    )

    def compute(self, job: Job) -> MethodOutput:
        """Options: ``window`` (default: an eighth of the input's shorter side), ``stride``
        (default: half the window), ``batch_size`` (default 32) occluded images per pass."""
        x = job.x
        height, width = x.shape[1:3]
        window = job.option("window")
        window = max(1, round(min(height, width) / 8)) if window is None else window
        stride = job.option("stride")
        stride = max(1, window // 2) if stride is None else stride
        batch_size = job.option("batch_size")
        if window < 1 or stride < 1 or batch_size < 1:
            raise MethodError(
                f"Occlusion needs window, stride and batch_size of at least 1 (got window={window}, "
                f"stride={stride}, batch_size={batch_size})."
            )
        if stride > window:
            raise MethodError(
                f"Occlusion's stride ({stride}) is larger than its window ({window}): pixels between "
                "windows would never be covered. Use a stride of at most the window."
            )
        ys, xs = window_positions(height, window, stride), window_positions(width, window, stride)
        corners = [(y, x0) for y in ys for x0 in xs]
        wy, wx = min(window, height), min(window, width)
        coverage = np.zeros((height, width), np.float32)
        for y, x0 in corners:
            coverage[y : y + wy, x0 : x0 + wx] += 1.0
        logits = job.logits()
        maps = np.zeros((len(x), height, width), np.float32)
        # The occluded images depend on the image only, and one pass scores every class: several
        # targets of one image share the passes.
        for rows in rows_by_image(job):
            b = rows[0]
            baseline = x[b].mean(axis=(0, 1))
            occluded_logits = np.zeros((len(corners), logits.shape[1]), np.float32)
            for start in range(0, len(corners), batch_size):
                chunk = corners[start : start + batch_size]
                copies = np.repeat(x[b][None], len(chunk), axis=0)
                for i, (y, x0) in enumerate(chunk):
                    copies[i, y : y + wy, x0 : x0 + wx] = baseline
                occluded_logits[start : start + len(chunk)] = job.logits_of_inputs(copies)
                job.progress(
                    (start + len(chunk)) / len(corners),
                    f"Occlusion: covered {start + len(chunk)} of {len(corners)} positions",
                )
            for row in rows:
                drops = float(job.scores(logits[row][None], row)[0]) - job.scores(occluded_logits, row)
                total = np.zeros((height, width), np.float32)
                for (y, x0), drop in zip(corners, drops):
                    total[y : y + wy, x0 : x0 + wx] += drop
                maps[row] = total / coverage
        notes = (
            f"Occlusion: a {wy}x{wx} square of the image's mean colour at {len(corners)} positions, "
            f"{stride} pixels apart (on the model's {height}x{width} input).",
        )
        return MethodOutput(maps, notes=notes)
