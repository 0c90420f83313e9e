"""What leaves the tool: PNG / NPY / JSON / HTML / ZIP bytes and the provenance record.

The web app's downloads, its gallery ZIP and the CLI's ``results.json`` all use
:func:`provenance` (one schema, :data:`PROVENANCE_SCHEMA`), so a file saved from either says the
same things. :class:`ExportBundle` builds each download only when asked: a page can offer the
buttons on every run without encoding a 30 MB PNG of a phone photo each time.

Shareable views (deep links) live in :mod:`gradcam.links`; :func:`parse_view` and
:func:`view_params` remain here as thin wrappers for older callers. Nothing here imports
TensorFlow.
"""

from __future__ import annotations

import base64
import datetime as _dt
import functools
import hashlib
import io
import json
import platform
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np
from PIL import Image

from .errors import ExportError

#: Packages whose versions go into every provenance record (distribution names).
VERSIONED_PACKAGES = ("tensorflow", "keras", "numpy", "pillow", "opencv-python-headless", "matplotlib", "streamlit")

#: Query parameters of a shareable view, in the order they are written (see gradcam.links.View
#: for the whole view, display controls included).
VIEW_KEYS = ("model", "sample", "class", "method", "layer", "view")

#: Above this many pixels PNGs are written with fast Huffman-only coding (see :func:`png_bytes`).
FAST_PNG_PIXELS = 2_000_000

#: Version of the provenance record's layout; bumped when a key changes meaning or moves.
PROVENANCE_SCHEMA = "gradcam-explorer/provenance/1"


# -- bytes ------------------------------------------------------------------------------------
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


def safe_stem(name: str, fallback: str = "image") -> str:
    """A file-name stem without directories, extension or characters that upset file systems."""
    stem = str(name).replace("\\", "/").rsplit("/", 1)[-1]
    if "." in stem:
        stem = stem.rsplit(".", 1)[0]
    cleaned = "".join(c if c.isalnum() or c in "-_" else "_" for c in stem).strip("_")
    return cleaned[:80] or fallback


# -- provenance -------------------------------------------------------------------------------
def top_order(probabilities: np.ndarray, k: int | None = None) -> list[int]:
    """Class indices from the most to the least probable, the first ``k`` of them. Ties go to the
    lower index, as ``np.argmax`` breaks them (``argsort()[::-1]`` would put the higher first)."""
    values = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    order = np.argsort(-values, kind="stable")
    return [int(i) for i in (order if k is None else order[:k])]


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
    """
    probabilities = np.asarray(explanation.probabilities, dtype=np.float64)
    names = list(getattr(model, "class_names", []) or [])
    order = top_order(probabilities, top_k)
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
        },
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
        explained = record["explanation"]
        explained["target_wnid"] = wnids[explanation.target_index]
        if explanation.contrast_index is not None:
            explained["contrast_wnid"] = wnids[explanation.contrast_index]
        for entry in record["probabilities_top"]:
            entry["wnid"] = wnids[entry["index"]]
    return record


def _imagenet_wnids(names: Sequence[str]) -> list[str] | None:
    """The WordNet ids of the classes when ``names`` are the ImageNet-1k classes in order, else None."""
    if len(names) != 1000:
        return None
    from model_zoo.imagenet import imagenet_class_names, imagenet_wnids
    from model_zoo.imagenet_names import imagenet_display_names

    if list(names) not in (imagenet_class_names(), imagenet_display_names()):
        return None
    return imagenet_wnids()


def json_bytes(record: Mapping[str, Any]) -> bytes:
    """A record as indented UTF-8 JSON (NumPy scalars and arrays become numbers and lists)."""
    return (json.dumps(record, indent=2, ensure_ascii=False, default=_json_default) + "\n").encode("utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


# -- downloads built on demand ---------------------------------------------------------------
#: File kinds an :class:`ExportBundle` builds, with their MIME types.
KINDS = {
    "png": "image/png",
    "npy": "application/octet-stream",
    "json": "application/json",
    "html": "text/html",
    "zip": "application/zip",
}

#: Display settings a bundle draws with when ``display`` leaves them out (the app's defaults).
DEFAULT_DISPLAY = {"colormap": "jet", "alpha": 0.5, "top_fraction": 1.0}


def display_settings(display: Any = None) -> dict[str, Any]:
    """``{"colormap", "alpha", "top_fraction"}`` from a mapping (``keep`` is read as
    ``top_fraction``), a :class:`gradcam.links.View`, or None (the defaults)."""
    if display is None:
        return dict(DEFAULT_DISPLAY)
    if not isinstance(display, Mapping) and hasattr(display, "colormap"):  # a links.View
        return {
            "colormap": display.colormap,
            "alpha": float(display.alpha),
            "top_fraction": display.top_percent / 100.0,
        }
    if not isinstance(display, Mapping):
        raise ExportError(
            f"display must be a mapping (colormap, alpha, top_fraction) or a gradcam.links.View; "
            f"got {type(display).__name__}."
        )
    settings = {**DEFAULT_DISPLAY, **{k: v for k, v in display.items() if k != "keep"}}
    if "keep" in display and "top_fraction" not in display:
        settings["top_fraction"] = display["keep"]
    settings["alpha"] = float(settings["alpha"])
    settings["top_fraction"] = float(settings["top_fraction"] if settings["top_fraction"] is not None else 1.0)
    return settings


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
        evaluation: Any = None,
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
        #: The map's faithfulness figures (a :class:`gradcam.Evaluation`), when computed: the report
        #: then says whether the map beats a random one, and lists them.
        self.evaluation = evaluation
        self.options = dict(options or {})
        self.link = link
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
            evaluations=[self.evaluation] if self.evaluation is not None else None,
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
            ``top_fraction`` (or ``keep``), or a :class:`gradcam.links.View`; None for the defaults.
        extra: ``image_size``, ``method_label``, ``method_paper``, ``options``, ``link`` (the
            shareable URL of the view, recorded in the provenance).

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


# -- shareable views (thin wrappers over gradcam.links) ----------------------------------------
def parse_view(
    params: Mapping[str, Any],
    *,
    models: Sequence[str] = (),
    samples: Sequence[str] = (),
    methods: Sequence[str] = (),
    views: Sequence[str] = (),
) -> tuple[dict[str, str], list[str]]:
    """Read the keys of :data:`VIEW_KEYS` from a shared link's query parameters.

    A wrapper over :meth:`gradcam.links.View.from_query` for older callers: returns
    ``(view, problems)`` where ``view`` maps the given, valid keys to their values and
    ``problems`` has one line per value that was ignored. New code should use ``View``, which
    also reads the display controls and comparison lists.
    """
    from .links import QUERY_KEYS, View

    given = {key: params[key] for key in VIEW_KEYS if key in params}
    view, problems = View.from_query(given, models=models, samples=samples, methods=methods, views=views)
    found = {}
    defaults = View()
    for name, key in QUERY_KEYS.items():
        if key in VIEW_KEYS and getattr(view, name) != getattr(defaults, name):
            found[key] = str(getattr(view, name))
    return found, problems


def view_params(view: Mapping[str, Any]) -> dict[str, str]:
    """The query parameters for a view: the keys of :data:`VIEW_KEYS` with a value, in order.
    (New code: :meth:`gradcam.links.View.to_query`.)"""
    return {key: str(view[key]) for key in VIEW_KEYS if view.get(key) not in (None, "")}
