"""The provenance record: how a map was made, enough to reproduce it.

The web app's downloads, its gallery ZIP, the HTML report and the CLI's ``results.json`` all use
:func:`provenance` (one schema, :data:`PROVENANCE_SCHEMA`), so a file saved from either says the
same things. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import datetime as _dt
import functools
import platform
from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import Any

import numpy as np

from .errors import ExportError
from .targets import class_order

#: Packages whose versions go into every provenance record (distribution names).
VERSIONED_PACKAGES = ("tensorflow", "keras", "numpy", "pillow", "opencv-python-headless", "matplotlib", "streamlit")

#: Version of the provenance record's layout; bumped when a key changes meaning or moves.
PROVENANCE_SCHEMA = "gradcam-explorer/provenance/1"


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


def provenance(
    explanation: Any,
    *,
    model: Any,
    image_name: str,
    image_sha256: str,
    image_size: Sequence[int] | None = None,
    method_label: str | None = None,
    method_paper: str | None = None,
    options: Mapping[str, Any] | None = None,
    display: Mapping[str, Any] | None = None,
    top_k: int = 10,
    sensitivity: Any = None,
) -> dict:
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
        sensitivity: the map's :class:`gradcam.sensitivity.ClassSensitivity` (is it about its
            class, or the top class's map again?): its ``similarity_to_top`` and ``verdict`` go
            into ``explanation``, its whole record into ``class_sensitivity``; None: both None.
    """
    probabilities = np.asarray(explanation.probabilities, dtype=np.float64)
    names = list(getattr(model, "class_names", []) or [])
    order = class_order(probabilities, top_k)
    record = {
        "schema": PROVENANCE_SCHEMA,
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
            **_sensitivity_fields(sensitivity),
        },
        "class_sensitivity": sensitivity.summary() if sensitivity is not None else None,
        "probabilities_top": [
            {
                "index": int(i),
                "name": names[i] if i < len(names) else f"class {i}",
                "probability": round(float(probabilities[i]), 6),
            }
            for i in order
        ],
        "display": dict(display or {}),
        "versions": library_versions(),
    }
    wnids = _imagenet_wnids(names)
    if wnids is not None:
        # The WordNet id beside the index and name: a record stays unambiguous if names change.
        explained: dict[str, Any] = record["explanation"]  # type: ignore[assignment]
        explained["target_wnid"] = wnids[explanation.target_index]
        if explanation.contrast_index is not None:
            explained["contrast_wnid"] = wnids[explanation.contrast_index]
        tops: list[dict[str, Any]] = record["probabilities_top"]  # type: ignore[assignment]
        for entry in tops:
            entry["wnid"] = wnids[entry["index"]]
    return record


def _sensitivity_fields(sensitivity: Any) -> dict:
    """``similarity_to_top`` and ``verdict`` of a ClassSensitivity (None and None without one)."""
    if sensitivity is None:
        return {"similarity_to_top": None, "verdict": None}
    rho = sensitivity.similarity_to_top
    return {"similarity_to_top": None if rho is None else round(float(rho), 4), "verdict": sensitivity.verdict}


def _imagenet_wnids(names: Sequence[str]) -> list[str] | None:
    """The WordNet ids of the classes when ``names`` are the ImageNet-1k classes in order, else None."""
    if len(names) != 1000:
        return None
    from model_zoo.imagenet import imagenet_class_names, imagenet_display_names, imagenet_wnids

    if list(names) not in (imagenet_class_names(), imagenet_display_names()):
        return None
    return imagenet_wnids()


#: Display settings a bundle draws with when ``display`` leaves them out (the app's defaults).
DEFAULT_DISPLAY = {"colormap": "jet", "alpha": 0.5, "top_fraction": 1.0}


def display_settings(display: Any = None) -> dict[str, Any]:
    """``{"colormap", "alpha", "top_fraction"}`` from a mapping (``keep`` is read as
    ``top_fraction``), an object with ``colormap``, ``alpha`` and ``top_percent`` (the app's
    link), or None (the defaults)."""
    if display is None:
        return dict(DEFAULT_DISPLAY)
    if not isinstance(display, Mapping) and hasattr(
        display, "colormap"
    ):  # the app's link (colormap, alpha, top_percent)
        return {
            "colormap": display.colormap,
            "alpha": float(display.alpha),
            "top_fraction": display.top_percent / 100.0,
        }
    if not isinstance(display, Mapping):
        raise ExportError(
            "display must be a mapping (colormap, alpha, top_fraction) or an object with colormap, alpha "
            f"and top_percent; got {type(display).__name__}."
        )
    settings = {**DEFAULT_DISPLAY, **{k: v for k, v in display.items() if k != "keep"}}
    if "keep" in display and "top_fraction" not in display:
        settings["top_fraction"] = display["keep"]
    settings["alpha"] = float(settings["alpha"])
    settings["top_fraction"] = float(settings["top_fraction"] if settings["top_fraction"] is not None else 1.0)
    return settings


__all__ = [
    "DEFAULT_DISPLAY",
    "PROVENANCE_SCHEMA",
    "VERSIONED_PACKAGES",
    "display_settings",
    "library_versions",
    "provenance",
]
