"""The one way maps are resized in this library: bilinear with half-pixel centres.

A map cell (i, j) covers the image area whose centre is at ((i + 0.5) * H / h, (j + 0.5) * W / w):
sampling at half-pixel centres keeps the map's cells over the pixels they describe (no shift), and
bilinear weights never overshoot below zero after a ReLU (bicubic does). This is OpenCV's
``INTER_LINEAR`` and TensorFlow's ``tf.image.resize(..., "bilinear")``; both clamp at the borders,
so they agree to float rounding (tests/engine/test_parts.py checks it). OpenCV is used because it
needs no TensorFlow call and is several times faster on one map.
"""

from __future__ import annotations

import cv2
import numpy as np

# OpenCV resizes a limited number of channels in one call (some hundreds, depending on the build;
# 255 already fails here): 128 at a time is safe.
_CV2_MAX_CHANNELS = 128


def upsample(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize one map (h, w) or a stack of maps (B, h, w) to ``size`` = (H, W), bilinear with
    half-pixel centres (also used to shrink, where a map is larger than the image).

    Args:
        maps: float array, shape (h, w) or (B, h, w).
        size: the (height, width) wanted.

    Returns:
        float32 ``(H, W)`` or ``(B, H, W)``. A new array; ``maps`` is not changed.
    """
    maps = np.asarray(maps, dtype=np.float32)
    height, width = int(size[0]), int(size[1])
    if maps.ndim == 2:
        return cv2.resize(maps, (width, height), interpolation=cv2.INTER_LINEAR)
    if maps.ndim != 3:
        raise ValueError(f"upsample expects a map (h, w) or a stack of maps (B, h, w); got shape {maps.shape}.")
    out = np.empty((len(maps), height, width), np.float32)
    # A stack is resized as the channels of one (h, w, B) image: one OpenCV call per 128 maps.
    channels_last = np.moveaxis(maps, 0, -1)
    for start in range(0, len(maps), _CV2_MAX_CHANNELS):
        part = np.ascontiguousarray(channels_last[..., start : start + _CV2_MAX_CHANNELS])
        resized = cv2.resize(part, (width, height), interpolation=cv2.INTER_LINEAR)
        out[start : start + part.shape[-1]] = np.moveaxis(resized.reshape(height, width, -1), -1, 0)
    return out


__all__ = ["upsample"]
