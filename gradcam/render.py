"""Turning maps into pictures: colour maps and overlays, uint8 RGB in and out.

Everything here is sized for large photos: a 12-megapixel overlay takes tens of milliseconds (the
per-pixel work runs in OpenCV's vectorised loops, not in float32 NumPy temporaries), and
:func:`fit_for_display` brings a photo and its heatmap down to the size a page actually shows.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from .errors import RenderError

#: Colour maps offered by the CLI and the app; any Matplotlib colour map name also works.
COLORMAPS = ("jet", "turbo", "viridis", "inferno", "magma", "plasma", "hot", "gray")

#: The longest side, in pixels, that :func:`fit_for_display` leaves an image at by default: wider
#: than a panel of the app's widest layout on a 2560 px screen, a tenth of a phone photo's pixels.
DISPLAY_MAX_SIDE = 1280


@lru_cache(maxsize=32)
def colormap_table(name: str) -> np.ndarray:
    """The colour map ``name`` as a read-only uint8 table of shape (256, 3): row ``i`` is the RGB
    colour of the value ``i / 255``.

    Raises:
        RenderError: ``name`` is not a Matplotlib colour map (the message lists :data:`COLORMAPS`).
    """
    import matplotlib

    try:
        cmap = matplotlib.colormaps[name]
    except (KeyError, TypeError):
        raise RenderError(
            f"Unknown colour map {name!r}. Expected one of: {', '.join(COLORMAPS)} "
            "(or any Matplotlib colour map name); pick one of those."
        ) from None
    table = (cmap(np.linspace(0.0, 1.0, 256))[:, :3] * 255.0).round().astype(np.uint8)
    table.setflags(write=False)
    return table


def _heatmap_array(heatmap: np.ndarray) -> np.ndarray:
    values = np.asarray(heatmap, dtype=np.float32)
    if values.ndim != 2:
        raise RenderError(
            f"A heatmap of shape (H, W) with values in [0, 1] is expected; got shape {values.shape}. "
            "Pass Explanation.heatmap (not coarse or a batch of maps)."
        )
    return values


def _check_image(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise RenderError(
            f"A uint8 RGB image (H, W, 3) is expected; got {array.dtype} {array.shape}. "
            "Decode images with gradcam.images.decode_image, which returns that."
        )
    return array


def _to_index(values: np.ndarray) -> np.ndarray:
    """Heat values in [0, 1] as uint8 table rows 0..255 (NaN counts as 0, values outside are clipped)."""
    if not np.isfinite(values).all():
        values = np.nan_to_num(values, nan=0.0, posinf=1.0, neginf=0.0)
    # Rounds to nearest in one OpenCV pass instead of four NumPy ones (the NumPy version rounded
    # exact halves up; float32 maps almost never land on one).
    index = cv2.convertScaleAbs(np.clip(values, 0.0, 1.0), alpha=255.0, beta=0.0)
    return index


def _lut(index: np.ndarray, table: np.ndarray) -> np.ndarray:
    # cv2.LUT with a 3-channel table needs a 3-channel input; fancy indexing (table[index]) is
    # several times slower on a 12-megapixel map.
    return cv2.LUT(cv2.merge([index, index, index]), table.reshape(256, 1, 3))


def colorize(heatmap: np.ndarray, colormap: str = "jet") -> np.ndarray:
    """A heatmap (H, W) with values in [0, 1] as a uint8 RGB image (H, W, 3).

    Raises:
        RenderError: the heatmap is not 2-D, or the colour map is unknown.
    """
    values = _heatmap_array(heatmap)
    return _lut(_to_index(values), colormap_table(colormap))


def _check_fraction(keep: float, what: str = "keep") -> float:
    try:
        keep = float(keep)
    except (TypeError, ValueError):
        raise RenderError(f"{what} must be a number in (0, 1] (the fraction of the map shown); got {keep!r}.") from None
    if not 0.0 < keep <= 1.0:
        raise RenderError(
            f"{what} must be in (0, 1] (the fraction of the map shown, 1 = all of it); got {keep}. "
            "For 'show the top 30%' pass 0.3."
        )
    return keep


def top_mask(heatmap: np.ndarray, fraction: float) -> np.ndarray:
    """A boolean (H, W) mask of the heatmap's highest ``fraction`` of pixels (ties at the cut-off
    are kept, so a flat map keeps everything). ``fraction`` 1 keeps all."""
    values = _heatmap_array(heatmap)
    fraction = _check_fraction(fraction, "fraction")
    if fraction >= 1.0:
        return np.ones(values.shape, dtype=bool)
    return values >= np.quantile(values, 1.0 - fraction)


def overlay(
    image: np.ndarray, heatmap: np.ndarray, colormap: str = "jet", alpha: float = 0.5, *, keep: float | None = None
) -> np.ndarray:
    """The coloured heatmap blended over the image: uint8 RGB (H, W, 3).

    Args:
        image: uint8 RGB (H, W, 3).
        heatmap: float (H, W) in [0, 1]; resized bilinearly if its size differs from the image's.
        colormap: a Matplotlib colour map name.
        alpha: opacity of the heatmap, 0 (image only) to 1 (heatmap only).
        keep: "show the top X%": the fraction in (0, 1] of the map's highest pixels to colour; the
            other pixels show the photo unchanged (not the colour map's lowest colour). None or 1
            colours every pixel. A map with no positive evidence (all zeros) is drawn whole.

    Raises:
        RenderError: a wrong image or heatmap shape or type, ``alpha`` outside [0, 1], ``keep``
            outside (0, 1], or an unknown colour map.
    """
    try:
        alpha = float(alpha)
    except (TypeError, ValueError):
        raise RenderError(f"alpha must be a number between 0 and 1 (the heatmap's opacity); got {alpha!r}.") from None
    if not 0.0 <= alpha <= 1.0:
        raise RenderError(f"alpha must be between 0 (photo only) and 1 (heatmap only); got {alpha}.")
    image = _check_image(image)
    values = _heatmap_array(heatmap)
    if keep is not None:
        keep = _check_fraction(keep)
    table = colormap_table(colormap)
    if values.shape != image.shape[:2]:
        values = cv2.resize(values, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    coloured = _lut(_to_index(values), table)
    image = np.ascontiguousarray(image)
    blended = cv2.addWeighted(image, 1.0 - alpha, coloured, alpha, 0.0)
    if keep is not None and keep < 1.0 and float(values.max()) > 0.0:
        # The hidden part shows the photo itself. cv2.copyTo takes a uint8 mask and is about 50
        # times faster than boolean indexing on a 12-megapixel image.
        hidden = np.logical_not(top_mask(values, keep)).view(np.uint8)
        cv2.copyTo(image, hidden, blended)
    return blended


def keep_top(heatmap: np.ndarray, fraction: float) -> np.ndarray:
    """The heatmap with everything but its highest ``fraction`` of pixels set to zero (1 keeps all).

    For pictures prefer ``overlay(..., keep=fraction)``, which shows the photo (not the colour
    map's lowest colour) where the map is hidden."""
    fraction = _check_fraction(fraction, "fraction")
    if fraction >= 1.0:
        return heatmap
    values = _heatmap_array(heatmap)
    return np.where(top_mask(values, fraction), values, 0.0).astype(np.float32)


#: The percentile pixel methods' maps are clipped at for display (Captum's ``outlier_perc=2`` keeps 98;
#: xplique's ``clip_percentile`` defaults to 0.1 on each side). Gradient maps are dominated by a few
#: extreme pixels: divided by their maximum, nearly everything else is black.
PIXEL_CLIP_PERCENTILE = 99.0


def clip_outliers(heatmap: np.ndarray, percentile: float = PIXEL_CLIP_PERCENTILE) -> np.ndarray:
    """A map in [0, 1] divided by its ``percentile``-th percentile and clipped to [0, 1], so the few
    strongest pixels no longer hide the rest (for display: the saved map keeps its values). A map
    whose percentile is 0 (mostly empty) is returned as it is."""
    heatmap = _heatmap_array(heatmap)
    if not 0.0 < float(percentile) <= 100.0:
        raise RenderError(f"percentile must be in (0, 100]; got {percentile!r}.")
    high = float(np.percentile(heatmap, percentile)) if heatmap.size else 0.0
    if high <= 0.0:
        return heatmap
    return np.clip(heatmap / high, 0.0, 1.0).astype(np.float32)


def display_size(height: int, width: int, max_side: int = DISPLAY_MAX_SIDE) -> tuple[int, int]:
    """(height, width) scaled down so the longer side is at most ``max_side`` (aspect kept, never
    enlarged). An image and its heatmap of the same size always get the same display size."""
    if max_side < 1:
        raise RenderError(f"max_side must be at least 1 pixel; got {max_side}.")
    longest = max(int(height), int(width))
    if longest <= max_side:
        return int(height), int(width)
    scale = max_side / longest
    return max(1, round(height * scale)), max(1, round(width * scale))


def fit_for_display(array: np.ndarray, max_side: int = DISPLAY_MAX_SIDE) -> np.ndarray:
    """An image (H, W, 3) or heatmap (H, W) shrunk so its longer side is at most ``max_side``.

    Returns the array itself when it is already small enough, so calling it on every page run
    costs nothing for ordinary photos. Shrinks with area averaging (no aliasing); a uint8 image
    stays uint8, a float heatmap stays float32 in [0, 1]. Draw overlays from an image and heatmap
    that were both fitted with the same ``max_side``: they come out the same size.

    Raises:
        RenderError: not a 2-D heatmap or (H, W, 3) image, or ``max_side`` below 1.
    """
    data = np.asarray(array)
    if data.ndim not in (2, 3) or (data.ndim == 3 and data.shape[2] != 3) or 0 in data.shape:
        raise RenderError(f"An image (H, W, 3) or heatmap (H, W) is expected; got shape {data.shape}.")
    height, width = data.shape[:2]
    target = display_size(height, width, max_side)
    if target == (height, width):
        return array
    if data.dtype not in (np.uint8, np.float32):
        data = data.astype(np.float32)
    return cv2.resize(data, (target[1], target[0]), interpolation=cv2.INTER_AREA)


#: Colours of concepts 1, 2, ... in :func:`concepts_overlay` (Matplotlib's tab10, RGB).
CONCEPT_COLOURS = np.array(
    [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ],
    np.uint8,
)


def concepts_overlay(
    image: np.ndarray, maps: np.ndarray, labels: list[str] | None = None, alpha: float = 0.6
) -> np.ndarray:
    """Concept maps over the image, one colour per concept, with a legend below: uint8 RGB.

    Each pixel takes the colour of its strongest concept, blended over the photo in proportion
    to that concept's value there (0: the photo unchanged, 1: ``alpha`` of the colour), as
    pytorch-grad-cam's ``show_factorization_on_image`` does. Colours repeat after ten concepts.

    Args:
        image: uint8 RGB (H, W, 3).
        maps: float (k, H, W) in [0, 1] (``Concepts.maps``); resized if their size differs.
        labels: one legend line per concept (``Concepts.labels()``); None: no legend.
        alpha: the colours' opacity where a concept is at its peak, 0 to 1.

    Returns:
        uint8 RGB (H + legend height, W, 3).
    """
    image = _check_image(image)
    maps = np.asarray(maps, np.float32)
    if maps.ndim != 3 or len(maps) == 0:
        raise RenderError(f"Concept maps (k, H, W) are expected; got shape {maps.shape}.")
    if not 0.0 <= float(alpha) <= 1.0:
        raise RenderError(f"alpha must be between 0 and 1; got {alpha}.")
    height, width = image.shape[:2]
    if maps.shape[1:] != (height, width):
        maps = np.stack([cv2.resize(m, (width, height), interpolation=cv2.INTER_LINEAR) for m in maps])
    strongest = np.argmax(maps, axis=0)
    strength = np.clip(np.take_along_axis(maps, strongest[None], 0)[0], 0.0, 1.0)[..., None] * float(alpha)
    colours = CONCEPT_COLOURS[strongest % len(CONCEPT_COLOURS)].astype(np.float32)
    picture = np.clip(image.astype(np.float32) * (1.0 - strength) + colours * strength + 0.5, 0, 255).astype(np.uint8)
    if not labels:
        return picture
    scale = max(0.4, min(1.0, width / 900))
    line = int(round(28 * scale))
    legend = np.full((line * len(labels) + line // 2, width, 3), 255, np.uint8)
    for i, text in enumerate(labels):
        y = line * i + line // 4
        colour = tuple(int(c) for c in CONCEPT_COLOURS[i % len(CONCEPT_COLOURS)])
        cv2.rectangle(legend, (line // 4, y + line // 8), (line // 4 + line * 3 // 4, y + line * 7 // 8), colour, -1)
        # OpenCV's Hershey fonts draw ASCII only: other characters show as '?'.
        ascii_text = text.encode("ascii", "replace").decode("ascii")
        cv2.putText(
            legend,
            ascii_text,
            (line + line // 4, y + line * 3 // 4),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.6 * scale,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
    return np.concatenate([picture, legend])
