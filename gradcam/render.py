"""Turning maps into pictures: colour maps and overlays, uint8 RGB in and out."""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

#: Colour maps offered by the CLI and the app; any Matplotlib colour map name also works.
COLORMAPS = ("jet", "turbo", "viridis", "inferno", "magma", "plasma", "hot", "gray")


@lru_cache(maxsize=32)
def _lookup_table(name: str) -> np.ndarray:
    import matplotlib

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        raise ValueError(
            f"Unknown colour map {name!r}. Try one of: {', '.join(COLORMAPS)} "
            "(or any Matplotlib colour map name)."
        ) from None
    table = (cmap(np.linspace(0.0, 1.0, 256))[:, :3] * 255.0).round().astype(np.uint8)
    table.setflags(write=False)
    return table


def colorize(heatmap: np.ndarray, colormap: str = "jet") -> np.ndarray:
    """A heatmap (H, W) with values in [0, 1] as a uint8 RGB image (H, W, 3)."""
    values = np.nan_to_num(np.asarray(heatmap, dtype=np.float32), nan=0.0)
    if values.ndim != 2:
        raise ValueError(f"A heatmap of shape (H, W) is expected; got shape {values.shape}.")
    index = np.clip(values * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return _lookup_table(colormap)[index]


def overlay(image: np.ndarray, heatmap: np.ndarray, colormap: str = "jet", alpha: float = 0.5) -> np.ndarray:
    """The coloured heatmap blended over the image: uint8 RGB (H, W, 3).

    Args:
        image: uint8 RGB (H, W, 3).
        heatmap: float (H, W) in [0, 1]; resized bilinearly if its size differs from the image's.
        colormap: a Matplotlib colour map name.
        alpha: opacity of the heatmap, 0 (image only) to 1 (heatmap only).
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be between 0 and 1; got {alpha}.")
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"A uint8 RGB image (H, W, 3) is expected; got {image.dtype} {image.shape}.")
    heatmap = np.asarray(heatmap, dtype=np.float32)
    if heatmap.shape != image.shape[:2]:
        heatmap = cv2.resize(heatmap, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    coloured = colorize(heatmap, colormap).astype(np.float32)
    blended = (1.0 - alpha) * image.astype(np.float32) + alpha * coloured
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def keep_top(heatmap: np.ndarray, fraction: float) -> np.ndarray:
    """The heatmap with everything but its highest ``fraction`` of pixels set to zero (1 keeps all)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1]; got {fraction}.")
    if fraction >= 1.0:
        return heatmap
    cutoff = np.quantile(heatmap, 1.0 - fraction)
    return np.where(heatmap >= cutoff, heatmap, 0.0).astype(np.float32)
