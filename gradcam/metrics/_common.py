"""Shared pieces of the faithfulness metrics: the map at the model's resolution, the pixel order,
the "removed" images, batched class probabilities and the area under a curve.

Every metric works at the model's input resolution: the heatmap is resized to the (h, w) of
``explanation.model_input`` and the perturbed images are that uint8 image, changed, so that each
perturbed pixel is one pixel the model sees.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..errors import MetricError
from ..progress import Progress, no_progress

if TYPE_CHECKING:
    from ..explainer import Explainer

#: RISE (Petsiuk et al. 2018) blurs with a Gaussian of sigma 5 px (kernel 11) at 224 x 224; the
#: sigma is scaled with the image so that the blur removes the same share of detail at any size.
BLUR_SIGMA_AT_224 = 5.0


def map_at_model_size(heatmap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The map (H, W) resized to the model's input ``size`` = (h, w), float32.

    Bilinear (cv2.INTER_LINEAR, half-pixel centres) when enlarging, area averaging
    (cv2.INTER_AREA) when shrinking, so a large map is averaged rather than sampled.
    """
    heatmap = np.asarray(heatmap, np.float32)
    if heatmap.ndim != 2 or heatmap.size == 0:
        raise MetricError(f"A heatmap of shape (H, W) is expected; got {heatmap.shape}.")
    if not np.isfinite(heatmap).all():
        raise MetricError("The heatmap contains NaN or infinite values; a finite map is expected.")
    h, w = size
    if heatmap.shape == (h, w):
        return heatmap
    shrinking = heatmap.shape[0] > h or heatmap.shape[1] > w
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(heatmap, (w, h), interpolation=interpolation)


def pixel_order(saliency: np.ndarray, seed: int = 0) -> np.ndarray:
    """Flat pixel indices of ``saliency`` (h, w), most salient first.

    Ties (flat regions, an empty map) are broken in a seeded random order, not row by row: a
    row-major order would make a flat map "delete the top of the image first", which is a claim
    the map does not make.
    """
    flat = saliency.reshape(-1)
    tiebreak = np.random.default_rng(seed).random(flat.size)
    return np.lexsort((tiebreak, -flat))  # the last key sorts first


def fill_image(image: np.ndarray, fill) -> np.ndarray:
    """The "removed" version of ``image`` (h, w, 3) uint8.

    ``fill``: ``"blur"`` (Gaussian, sigma 5 px at 224 x 224, scaled with the image: RISE's
    insertion start), ``"mean"`` (each channel's mean), ``"zero"`` (black: RISE's deletion fill)
    or a number 0-255 (a constant grey).
    """
    h, w = image.shape[:2]
    if isinstance(fill, str):
        key = fill.lower()
        if key == "blur":
            sigma = max(BLUR_SIGMA_AT_224 * min(h, w) / 224.0, 0.5)
            blurred = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101)
            return blurred.reshape(image.shape)
        if key == "mean":
            mean = image.reshape(-1, image.shape[-1]).mean(axis=0)
            return np.broadcast_to(np.round(mean).astype(np.uint8), image.shape).copy()
        if key in ("zero", "black"):
            return np.zeros_like(image)
    elif isinstance(fill, (int, float, np.integer, np.floating)) and not isinstance(fill, bool):
        if 0 <= float(fill) <= 255:
            return np.full_like(image, int(round(float(fill))))
    raise MetricError(f"Unknown fill {fill!r}; use 'blur', 'mean', 'zero' or a grey level 0-255.")


def trapezoid(fractions: np.ndarray, values: np.ndarray) -> float:
    """Area under ``values`` over ``fractions`` (in [0, 1]) by the trapezoid rule."""
    fractions = np.asarray(fractions, np.float64)
    values = np.asarray(values, np.float64)
    return float(np.sum((fractions[1:] - fractions[:-1]) * (values[1:] + values[:-1]) / 2.0))


def check_steps(steps) -> int:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= steps <= 10_000:
        raise MetricError(f"steps must be a whole number from 1 to 10000; got {steps!r}.")
    return int(steps)


class Scorer:
    """The explained class's probability (a group's: the sum of its members') for batches of perturbed
    model inputs.

    Generated images are sent ``batch_size`` at a time through the explainer's compiled forward
    pass (``Explainer.probabilities_of``); ``images`` counts them, i.e. the cost in forward passes
    of one image.
    """

    def __init__(self, explainer: Explainer, target_index: int | Sequence[int], batch_size: int = 64):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise MetricError(f"batch_size must be a whole number of at least 1; got {batch_size!r}.")
        self.explainer = explainer
        #: The classes whose probabilities are summed (one class, or a group's members).
        self.members = [int(i) for i in target_index] if isinstance(target_index, Sequence) else [int(target_index)]
        self.target_index = self.members[0]
        self.batch_size = int(batch_size)
        self.images = 0

    def __call__(
        self, images: Iterable[np.ndarray], count: int, progress: Progress = no_progress, message: str = ""
    ) -> np.ndarray:
        """Target probabilities (count,) for ``count`` images drawn lazily from ``images``, so no
        more than one batch of perturbed images is held in memory."""
        out = np.zeros(count, np.float64)
        done = 0
        for batch in _batches(images, self.batch_size):
            probabilities = self.explainer.probabilities_of(batch, batch_size=self.batch_size)
            out[done : done + len(batch)] = probabilities[:, self.members].sum(axis=1, dtype=np.float64)
            done += len(batch)
            self.images += len(batch)
            progress(done / max(count, 1), message)
        if done != count:  # pragma: no cover - a generator bug, never the user's
            raise AssertionError(f"{done} images generated, {count} expected")
        return out


def _batches(images: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    batch: list[np.ndarray] = []
    for image in images:
        batch.append(image)
        if len(batch) == size:
            yield np.stack(batch)
            batch = []
    if batch:
        yield np.stack(batch)
