"""What leaves the tool: PNG / NPY / JSON / ZIP bytes, the provenance record, and shareable views.

Used by the web app's downloads and deep links; the CLI can use the same functions so that a file
saved from either says the same things. Nothing here imports TensorFlow.
"""
from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import io
import json
import platform
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from typing import Any

import numpy as np
from PIL import Image

#: Packages whose versions go into every provenance record (distribution names).
VERSIONED_PACKAGES = ("tensorflow", "keras", "numpy", "pillow", "opencv-python-headless",
                      "matplotlib", "streamlit")

#: Query parameters of a shareable view, in the order they are written.
VIEW_KEYS = ("model", "sample", "class", "method", "layer", "view")


# -- bytes ------------------------------------------------------------------------------------
def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def png_bytes(image: np.ndarray) -> bytes:
    """A uint8 RGB (H, W, 3) or gray (H, W) image as PNG bytes."""
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim not in (2, 3):
        raise ValueError(f"A uint8 image (H, W) or (H, W, 3) is expected; got {array.dtype} {array.shape}.")
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    """An array in NumPy's .npy format (no pickle): ``np.load(io.BytesIO(data))`` reads it back."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def zip_bytes(files: Mapping[str, bytes] | Iterable[tuple[str, bytes]]) -> bytes:
    """A deflated ZIP archive of ``{name: bytes}``; names are kept as given (use forward slashes)."""
    items = files.items() if isinstance(files, Mapping) else files
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        seen: set[str] = set()
        for name, data in items:
            if name in seen:
                raise ValueError(f"Duplicate name {name!r} in the ZIP archive.")
            seen.add(name)
            archive.writestr(name, data)
    return buffer.getvalue()


def safe_stem(name: str, fallback: str = "image") -> str:
    """A file-name stem without directories, extension or characters that upset file systems."""
    stem = str(name).replace("\\", "/").rsplit("/", 1)[-1]
    if "." in stem:
        stem = stem.rsplit(".", 1)[0]
    cleaned = "".join(c if c.isalnum() or c in "-_" else "_" for c in stem).strip("_")
    return cleaned[:80] or fallback


# -- provenance -------------------------------------------------------------------------------
def library_versions() -> dict[str, str | None]:
    """Python's and the main libraries' versions (None for a package that is not installed)."""
    return dict(_library_versions())


@functools.lru_cache(maxsize=1)
def _library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    try:
        from . import __version__
        versions["gradcam"] = __version__
    except ImportError:  # pragma: no cover
        versions["gradcam"] = None
    return versions


def provenance(explanation: Any, *, model: Any, image_name: str, image_sha256: str,
               image_size: Sequence[int] | None = None, method_label: str | None = None,
               method_paper: str | None = None, options: Mapping[str, Any] | None = None,
               display: Mapping[str, Any] | None = None, top_k: int = 10) -> dict:
    """A JSON-ready record of how a map was made, enough to reproduce it.

    Args:
        explanation: a :class:`gradcam.Explanation`.
        model: a model-zoo ``ZooModel`` (name, label, weights_sha256, input_size, preprocessing).
        image_name, image_sha256: the image as given (file name and hash of its bytes).
        image_size: (width, height) of the image as decoded.
        method_label, method_paper: from ``gradcam.METHODS[key]``.
        options: the method options used (e.g. ``{"aug_smooth": False}``).
        display: how the picture was drawn (colour map, opacity, threshold); maps are unaffected.
        top_k: how many of the most probable classes to list.
    """
    probabilities = np.asarray(explanation.probabilities, dtype=np.float64)
    names = list(getattr(model, "class_names", []) or [])
    order = np.argsort(probabilities)[::-1][:top_k]
    record = {
        "tool": "Grad-CAM Explorer",
        "created_utc": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "image": {
            "name": image_name,
            "sha256": image_sha256,
            "size_wh": [int(v) for v in image_size] if image_size is not None else None,
        },
        "model": {
            "name": getattr(model, "name", None),
            "label": getattr(model, "label", None),
            "weights_sha256": getattr(model, "weights_sha256", None),
            "input_size_hw": [int(v) for v in getattr(model, "input_size", ())] or None,
            "preprocessing": getattr(model, "preprocessing", None),
            "classes": len(names) or int(probabilities.shape[-1]),
        },
        "explanation": {
            **explanation.summary(),
            "method_label": method_label,
            "method_paper": method_paper,
            "label": explanation.label,
            "heatmap_shape": [int(v) for v in explanation.heatmap.shape],
            "coarse_shape": [int(v) for v in explanation.coarse.shape],
            "peak": float(explanation.peak),
            "options": dict(options or {}),
        },
        "probabilities_top": [
            {"index": int(i), "name": names[i] if i < len(names) else f"class {i}",
             "probability": round(float(probabilities[i]), 6)}
            for i in order
        ],
        "display": dict(display or {}),
        "versions": library_versions(),
    }
    return record


def json_bytes(record: Mapping[str, Any]) -> bytes:
    return (json.dumps(record, indent=2, ensure_ascii=False, default=_json_default) + "\n").encode("utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


# -- shareable views (URL query parameters) ---------------------------------------------------
def parse_view(params: Mapping[str, Any], *, models: Sequence[str] = (), samples: Sequence[str] = (),
               methods: Sequence[str] = (), views: Sequence[str] = ()) -> tuple[dict[str, str], list[str]]:
    """Read a shared view from URL query parameters.

    Returns ``(view, problems)``: ``view`` holds the recognised keys of :data:`VIEW_KEYS` whose
    values are valid (model, sample, method and view are checked against the given choices,
    case-insensitively, when choices are given; class and layer are checked later against the
    loaded model); ``problems`` has one line per value that was ignored, for the page to show.
    """
    view: dict[str, str] = {}
    problems: list[str] = []
    choices = {"model": models, "sample": samples, "method": methods, "view": views}
    for key in VIEW_KEYS:
        if key not in params:
            continue
        raw = params[key]
        if isinstance(raw, (list, tuple)):
            raw = raw[-1] if raw else ""
        value = str(raw).strip()
        if not value:
            continue
        allowed = choices.get(key)
        if allowed:
            match = next((c for c in allowed if c.lower() == value.lower()), None)
            if match is None:
                problems.append(f"Link parameter {key}={value!r} ignored: expected one of {', '.join(allowed)}.")
                continue
            value = match
        view[key] = value
    return view, problems


def view_params(view: Mapping[str, Any]) -> dict[str, str]:
    """The query parameters for a view: the keys of :data:`VIEW_KEYS` with a value, in order."""
    return {key: str(view[key]) for key in VIEW_KEYS if view.get(key) not in (None, "")}
