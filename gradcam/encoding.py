"""Bytes out of arrays and records: PNG, JPEG, NPY, JSON, ZIP and data URIs.

The one place files are encoded: :mod:`gradcam.export` (downloads, the gallery ZIP, the CLI's
files) and :mod:`gradcam.report` (the HTML report's embedded pictures) both use it. Pillow and
NumPy only; nothing here imports TensorFlow.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from PIL import Image

from .errors import ExportError

#: Above this many pixels PNGs are written with fast Huffman-only coding (see :func:`png_bytes`).
FAST_PNG_PIXELS = 2_000_000


def sha256_bytes(data: bytes) -> str:
    """The SHA-256 hex digest of ``data`` (how images are identified in provenance records)."""
    return hashlib.sha256(data).hexdigest()


def png_bytes(image: np.ndarray, fast: bool | None = None) -> bytes:
    """A uint8 RGB (H, W, 3) or gray (H, W) image as PNG bytes.

    ``fast``: Huffman-only coding (lossless; about 4 times faster than deflate at level 6, and on
    photo-like pictures such as overlays hardly larger); ``None`` chooses it above
    :data:`FAST_PNG_PIXELS`.

    Raises:
        ExportError: not a uint8 (H, W) or (H, W, 3) array.
    """
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ExportError(
            f"A uint8 image (H, W) or (H, W, 3) is expected; got {array.dtype} {array.shape}. "
            "For a float heatmap use npy_bytes, or colour it first with gradcam.colorize."
        )
    if fast is None:
        fast = array.shape[0] * array.shape[1] > FAST_PNG_PIXELS
    if fast:
        # Deflate at level 6 spends seconds on a phone photo's overlay (measured 4 to 30 s for
        # 12 MP on this 2-core machine, depending on load); Huffman-only coding is about 9 times
        # faster and the file only about 20% larger. Lossless either way.
        import cv2

        if array.ndim == 3:
            array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR if array.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
        ok, encoded = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY])
        if not ok:  # pragma: no cover - OpenCV refuses only unsupported layouts, checked above
            raise ExportError(f"OpenCV could not encode a {array.shape} image as PNG; save it as a smaller image.")
        return encoded.tobytes()
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def jpeg_bytes(image: np.ndarray, quality: int = 88, optimize: bool = False) -> bytes:
    """A uint8 RGB (H, W, 3) or gray (H, W) image as JPEG bytes, for pictures that are looked at
    rather than measured (the page, the HTML report). ``optimize``: Pillow's optimised Huffman
    tables (a few percent smaller, slower; for files kept, not for every redraw).

    Raises:
        ExportError: not a uint8 (H, W) or (H, W, 3) array.
    """
    array = np.asarray(image)
    if array.dtype != np.uint8 or not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        raise ExportError(
            f"A uint8 image (H, W) or (H, W, 3) is expected for a JPEG; got {array.dtype} "
            f"{array.shape}. Colour a heatmap first with gradcam.colorize."
        )
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="JPEG", quality=quality, optimize=optimize)
    return buffer.getvalue()


def data_uri(data: bytes, mime: str) -> str:
    """``data`` as a ``data:<mime>;base64,...`` URI: a picture carried inside a page or message
    (``data_uri(png_bytes(image), "image/png")``)."""
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def npy_bytes(array: np.ndarray) -> bytes:
    """An array in NumPy's .npy format (no pickle): ``np.load(io.BytesIO(data))`` reads it back."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def zip_bytes(files: Mapping[str, bytes] | Iterable[tuple[str, bytes]]) -> bytes:
    """A deflated ZIP archive of ``{name: bytes}``; names are kept as given (use forward slashes).

    Raises:
        ExportError: two files with the same name.
    """
    items = files.items() if isinstance(files, Mapping) else files
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        seen: set[str] = set()
        for name, data in items:
            if name in seen:
                raise ExportError(
                    f"Duplicate name {name!r} in the ZIP archive: expected each file name once. "
                    "Number or prefix the names (gallery_zip does)."
                )
            seen.add(name)
            archive.writestr(name, data)
    return buffer.getvalue()


def json_bytes(record: Mapping[str, Any]) -> bytes:
    """A record as indented UTF-8 JSON (NumPy scalars and arrays become numbers and lists)."""
    return (json.dumps(record, indent=2, ensure_ascii=False, default=_json_default) + "\n").encode("utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


__all__ = [
    "FAST_PNG_PIXELS",
    "data_uri",
    "jpeg_bytes",
    "json_bytes",
    "npy_bytes",
    "png_bytes",
    "sha256_bytes",
    "zip_bytes",
]
