"""What leaves the tool: the downloads of an explanation, built on demand, and the gallery ZIP.

:class:`ExportBundle` builds each download only when asked: a page can offer the buttons on every
run without encoding a 30 MB PNG of a phone photo each time. The bytes come from
:mod:`gradcam.encoding` and the provenance record from :mod:`gradcam.provenance`; both are
re-exported here (``export.png_bytes``, ``export.provenance``, ...), where callers found them before.

Shareable views (the app's deep links, and ``parse_view``/``view_params``, which were here) live in
the app: :mod:`gradcam_app.links`. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .encoding import (
    FAST_PNG_PIXELS,
    data_uri,
    jpeg_bytes,
    json_bytes,
    npy_bytes,
    png_bytes,
    sha256_bytes,
    zip_bytes,
)
from .errors import ExportError
from .provenance import (
    DEFAULT_DISPLAY,
    PROVENANCE_SCHEMA,
    VERSIONED_PACKAGES,
    display_settings,
    library_versions,
    provenance,
)
from .targets import class_order

#: The one ranking of classes (:func:`gradcam.targets.class_order`), under its older name here.
top_order = class_order


# -- file names -------------------------------------------------------------------------------
def safe_stem(name: str, fallback: str = "image") -> str:
    """A file-name stem without directories, extension or characters that upset file systems."""
    stem = str(name).replace("\\", "/").rsplit("/", 1)[-1]
    if "." in stem:
        stem = stem.rsplit(".", 1)[0]
    cleaned = "".join(c if c.isalnum() or c in "-_" else "_" for c in stem).strip("_")
    return cleaned[:80] or fallback


# -- downloads built on demand ---------------------------------------------------------------
#: File kinds an :class:`ExportBundle` builds, with their MIME types.
KINDS = {
    "png": "image/png",
    "npy": "application/octet-stream",
    "json": "application/json",
    "html": "text/html",
    "zip": "application/zip",
}


def _lazy(method):
    """Cache a bundle method's result on first call (the bundle is immutable once built)."""
    name = method.__name__

    @functools.wraps(method)
    def wrapper(self):
        cache = self._built
        if name not in cache:
            cache[name] = method(self)
        return cache[name]

    return wrapper


class ExportBundle:
    """The downloads of one explanation: overlay PNG, heatmap .npy, provenance JSON, HTML report
    and a ZIP of all four. Nothing is encoded until its method is called; each result is then
    kept, so a second click costs nothing. Build it with :func:`export_bundle`.

    Use with Streamlit as ``st.download_button(..., data=bundle.png, file_name=bundle.filename("png"))``
    (a callable, so the PNG is built when the button is clicked, not on every page run).
    """

    def __init__(
        self,
        explanation: Any,
        *,
        image: np.ndarray,
        image_name: str,
        image_sha256: str,
        model: Any,
        display: Any = None,
        image_size: Sequence[int] | None = None,
        method_label: str | None = None,
        method_paper: str | None = None,
        options: Mapping[str, Any] | None = None,
        link: str | None = None,
        sensitivity: Any = None,
    ):
        array = np.asarray(image)
        if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
            raise ExportError(
                f"A uint8 RGB image (H, W, 3) is expected for the export; got {array.dtype} "
                f"{array.shape}. Pass the decoded pixels (gradcam.images.decode_image(...).pixels)."
            )
        heatmap = getattr(explanation, "heatmap", None)
        if heatmap is None or np.ndim(heatmap) != 2:
            raise ExportError(
                f"An explanation with a 2-D heatmap is expected; got {type(explanation).__name__}. "
                "Pass what Explainer.explain returned."
            )
        self.explanation = explanation
        self.image = array
        self.image_name = str(image_name)
        self.image_sha256 = str(image_sha256)
        self.model = model
        self.display = display_settings(display)
        self.image_size = tuple(image_size) if image_size is not None else (array.shape[1], array.shape[0])
        self.method_label = method_label
        self.method_paper = method_paper
        self.options = dict(options or {})
        self.link = link
        #: The map's class sensitivity (:class:`gradcam.sensitivity.ClassSensitivity`), or None.
        self.sensitivity = sensitivity
        self._built: dict[str, Any] = {}

    # names ------------------------------------------------------------------------------------
    @property
    def stem(self) -> str:
        """The common start of the file names: image, class and method."""
        e = self.explanation
        target = safe_stem(e.target_name, "class")
        if getattr(e, "contrast_name", None):
            target += "-vs-" + safe_stem(e.contrast_name, "class")
        return f"{safe_stem(self.image_name)}_{target}_{safe_stem(e.method, 'method')}"

    def filename(self, kind: str) -> str:
        """The download's file name for ``kind`` in :data:`KINDS` (e.g. ``coffee_espresso_gradcam_overlay.png``)."""
        suffix = {"png": "_overlay.png", "npy": "_heatmap.npy", "json": ".json", "html": "_report.html", "zip": ".zip"}
        if kind not in suffix:
            raise ExportError(f"Unknown export kind {kind!r}: expected one of {', '.join(KINDS)}.")
        return self.stem + suffix[kind]

    @staticmethod
    def mime(kind: str) -> str:
        """The MIME type of ``kind``."""
        if kind not in KINDS:
            raise ExportError(f"Unknown export kind {kind!r}: expected one of {', '.join(KINDS)}.")
        return KINDS[kind]

    def data(self, kind: str) -> bytes:
        """The bytes of ``kind`` (built now if not yet built)."""
        builders = {
            "png": self.png,
            "npy": self.heatmap_npy,
            "json": self.provenance_json,
            "html": self.html,
            "zip": self.zip,
        }
        if kind not in builders:
            raise ExportError(f"Unknown export kind {kind!r}: expected one of {', '.join(KINDS)}.")
        return builders[kind]()

    def built(self) -> list[str]:
        """Names of the methods whose result is already built (for tests and timing)."""
        return list(self._built)

    # contents ---------------------------------------------------------------------------------
    @_lazy
    def overlay(self) -> np.ndarray:
        """The overlay as shown: colour map, opacity and "show the top X%" of ``display``, at the
        image's full resolution."""
        from .render import overlay

        keep = self.display["top_fraction"]
        return overlay(
            self.image,
            self.explanation.heatmap,
            self.display["colormap"],
            self.display["alpha"],
            keep=keep if keep < 1.0 else None,
        )

    @_lazy
    def png(self) -> bytes:
        """The overlay as PNG bytes (Huffman-only coded: an overlay is a photo, which deflate hardly
        shrinks; measured 40 ms instead of 180 ms for a 600x400 overlay, 372 KB either way)."""
        return png_bytes(self.overlay(), fast=True)

    @_lazy
    def heatmap_npy(self) -> bytes:
        """The heatmap (float32, the image's size, values in [0, 1]) in .npy format."""
        return npy_bytes(self.explanation.heatmap)

    @_lazy
    def provenance(self) -> dict:
        """The provenance record (:func:`provenance`), with the link to this view when given."""
        label, paper = self.method_label, self.method_paper
        if label is None or paper is None:
            label, paper = _method_text(self.explanation.method, label, paper)
        record = provenance(
            self.explanation,
            model=self.model,
            image_name=self.image_name,
            image_sha256=self.image_sha256,
            image_size=self.image_size,
            method_label=label,
            method_paper=paper,
            options=self.options,
            display=self.display,
            sensitivity=self.sensitivity,
        )
        if self.link:
            record["link"] = self.link
        return record

    @_lazy
    def provenance_json(self) -> bytes:
        """The provenance record as JSON bytes."""
        return json_bytes(self.provenance())

    @_lazy
    def html(self) -> bytes:
        """A self-contained one-page HTML report of this view (see :func:`gradcam.report.html_report`)."""
        from .report import html_report

        return html_report(
            self.explanation,
            image=self.image,
            model=self.model,
            image_name=self.image_name,
            display=self.display,
            record=self.provenance(),
            sensitivities=[self.sensitivity] if self.sensitivity is not None else None,
        ).encode("utf-8")

    def files(self) -> dict[str, bytes]:
        """``{file name: bytes}`` of the overlay, heatmap, provenance and report."""
        return {self.filename(kind): self.data(kind) for kind in ("png", "npy", "json", "html")}

    @_lazy
    def zip(self) -> bytes:
        """A ZIP of the overlay PNG, heatmap .npy, provenance JSON and HTML report."""
        return zip_bytes(self.files())


def _method_text(method: str, label: str | None, paper: str | None) -> tuple[str | None, str | None]:
    # The registry lives in gradcam.methods, which loads TensorFlow; whoever made the explanation
    # has loaded it already, so this costs nothing there, and a bare record still gets written.
    try:
        from .methods import METHODS
    except ImportError:  # pragma: no cover - only without TensorFlow
        return label, paper
    info = METHODS.get(method)
    if info is None:
        return label, paper
    return label if label is not None else info.label, paper if paper is not None else info.paper


def export_bundle(
    explanation: Any,
    *,
    image: np.ndarray,
    image_name: str,
    image_sha256: str,
    model: Any,
    display: Any = None,
    **extra: Any,
) -> ExportBundle:
    """The downloads of one explanation, built lazily (see :class:`ExportBundle`).

    Args:
        explanation: a :class:`gradcam.Explanation`.
        image: the uint8 RGB pixels the explanation was made from (full resolution).
        image_name, image_sha256: the image's file name as the person gave it and the SHA-256 of
            its bytes.
        model: the model-zoo ``ZooModel`` used.
        display: how the overlay is drawn: a mapping with ``colormap``, ``alpha`` and
            ``top_fraction`` (or ``keep``), or an object with ``colormap``, ``alpha`` and
            ``top_percent`` (the app's link); None for the defaults.
        extra: ``image_size``, ``method_label``, ``method_paper``, ``options``, ``link`` (the
            shareable URL of the view, recorded in the provenance), ``sensitivity`` (the map's
            :class:`gradcam.sensitivity.ClassSensitivity`, recorded and shown in the report).

    Raises:
        ExportError: the image is not uint8 RGB, or the explanation has no 2-D heatmap.
    """
    return ExportBundle(
        explanation,
        image=image,
        image_name=image_name,
        image_sha256=image_sha256,
        model=model,
        display=display,
        **extra,
    )


@dataclass(frozen=True)
class GalleryFailure:
    """An image of a gallery that could not be explained: it goes into the ZIP as a text file."""

    image_name: str
    message: str


def gallery_zip(items: Iterable[ExportBundle | GalleryFailure]) -> bytes:
    """One ZIP for a gallery: per image, numbered in order, ``NN_<image>_overlay.png``,
    ``NN_<image>_heatmap.npy`` and ``NN_<image>.json`` (the same provenance as a single download),
    or ``NN_<image>_ERROR.txt`` for an image that failed; plus ``index.json`` listing every entry.
    """
    files: dict[str, bytes] = {}
    index: list[dict[str, Any]] = []
    for number, item in enumerate(items, 1):
        stem = f"{number:02d}_{safe_stem(item.image_name)}"
        if isinstance(item, GalleryFailure):
            files[f"{stem}_ERROR.txt"] = (item.message.rstrip("\n") + "\n").encode("utf-8")
            index.append({"number": number, "image": item.image_name, "error": item.message})
            continue
        if not isinstance(item, ExportBundle):
            raise ExportError(
                f"gallery_zip takes ExportBundle or GalleryFailure items; item {number} is "
                f"{type(item).__name__}. Build bundles with export_bundle(...)."
            )
        files[f"{stem}_overlay.png"] = item.png()
        files[f"{stem}_heatmap.npy"] = item.heatmap_npy()
        files[f"{stem}.json"] = item.provenance_json()
        e = item.explanation
        index.append(
            {
                "number": number,
                "image": item.image_name,
                "target_name": e.target_name,
                "method": e.method,
                "layer": e.layer,
                "files": [f"{stem}_overlay.png", f"{stem}_heatmap.npy", f"{stem}.json"],
            }
        )
    files["index.json"] = json_bytes({"schema": PROVENANCE_SCHEMA, "tool": "Grad-CAM Explorer", "images": index})
    return zip_bytes(files)


__all__ = [
    "DEFAULT_DISPLAY",
    "FAST_PNG_PIXELS",
    "KINDS",
    "PROVENANCE_SCHEMA",
    "VERSIONED_PACKAGES",
    "ExportBundle",
    "GalleryFailure",
    "data_uri",
    "display_settings",
    "export_bundle",
    "gallery_zip",
    "jpeg_bytes",
    "json_bytes",
    "library_versions",
    "npy_bytes",
    "png_bytes",
    "provenance",
    "safe_stem",
    "sha256_bytes",
    "top_order",
    "zip_bytes",
]
