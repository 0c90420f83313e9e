"""Cached loaders: models and explainers (shared by every session), decoded images, maps,
faithfulness figures and display-size pictures (bounded caches keyed by hashes, never arrays).

Everything lives in ``st.cache_resource`` (objects, not pickled copies) with bounded
``max_entries``; maps are keyed by a SHA-256 of the image *bytes*, the model, method, layer, targets and
options. Uploaded images are keyed with a per-session token as well, so sessions share models but
never results.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

import gradcam
import model_zoo
from gradcam import export
from gradcam.images import DecodedImage, decode_image
from gradcam.render import fit_for_display
from gradcam_app import links, samples_dir

RESULT_CACHE_ENTRIES = 64
#: Longest side of a picture sent to the browser: three columns of a wide page are ~450 px each,
#: so 720 px stays sharp on a high-density screen while a 12-megapixel photo shrinks 25 times.
DISPLAY_MAX_SIDE = 720
JPEG_QUALITY = 88
#: The sample the page opens on.
DEFAULT_SAMPLE = "cat_and_coffee.jpg"


def trace(message: str) -> None:
    """With GRADCAM_APP_TRACE=1, one line per model computation and page run on stdout (the e2e
    tests count them to check that display changes call no model)."""
    if os.environ.get("GRADCAM_APP_TRACE") == "1":
        print(f"[gradcam-app] {message} @{time.time():.3f}", flush=True)


@dataclass(frozen=True)
class ImageItem:
    """One image on the page: its name, cache key (source, SHA-256 of the bytes, and the session
    for uploads), digest and bytes."""

    name: str
    key: str
    sha256: str
    data: bytes


@dataclass(frozen=True)
class Loaded:
    """A model ready to explain with: the zoo entry, its explainer, and the key results use."""

    zoo: Any
    explainer: gradcam.Explainer

    @property
    def key(self) -> str:
        return f"{self.zoo.name}:{self.zoo.weights_sha256}"


@dataclass(frozen=True)
class ModelOutcome:
    """What loading a model gave: ``status`` is "ready" (``loaded`` is set), "needs_download",
    "refused" (the file or weights cannot be used) or "missing" (nothing uploaded yet), with a
    one-line ``message`` for the page."""

    status: str
    loaded: Loaded | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ready" and self.loaded is not None


class _NotReady(Exception):
    """Raised inside a cached loader so that st.cache_resource keeps only ready models."""

    def __init__(self, outcome: ModelOutcome):
        super().__init__(outcome.message)
        self.outcome = outcome


# -- models ---------------------------------------------------------------------------------------
def _zoo_outcome(name: str) -> ModelOutcome:
    outcome = model_zoo.try_load(name)
    if outcome.status == "ready":
        return ModelOutcome("ready", Loaded(outcome.model, gradcam.Explainer(outcome.model)))
    return ModelOutcome(outcome.status, None, outcome.message)


# Five: the compare-models view holds up to four models beside the one in the sidebar.
@st.cache_resource(show_spinner=False, max_entries=5)
def _zoo_model(name: str) -> Loaded:
    outcome = _zoo_outcome(name)
    if not outcome.ok:
        raise _NotReady(outcome)  # not cached: weights that arrive later are found on the next try
    return outcome.loaded


def warm_up(name: str = model_zoo.DEFAULT_MODEL, sample: str = DEFAULT_SAMPLE) -> float:
    """Load zoo model ``name`` into the shared cache and explain ``sample`` once (Grad-CAM at the
    default layer, the top prediction) through the same cached calls as the first page, so that
    TensorFlow's import, the model build, the first traced map and the first page's own lookups are
    paid before the first visitor comes rather than on their page. Returns the seconds taken.

    ``gradcam-app`` (and ``python3 run.py app``) call it in a background thread while the server
    starts; a page that arrives meanwhile waits for the same cached load and map (Streamlit computes
    a cached value once, other callers wait for it) instead of computing them a second time beside
    it on the same cores. A model that is not ready offline is left for the page to report.
    """
    started = time.perf_counter()
    loaded = _zoo_model(name)
    item = sample_item(sample)
    decoded = decode_cached(item.key, item.name, item.data)
    layer = loaded.explainer.default_layer if loaded.explainer.layers else None
    run_explain(loaded, item, decoded.pixels, "gradcam" if layer else "saliency", layer, False, [None])
    display_original(item.key, decoded.pixels)
    return time.perf_counter() - started


def load_zoo_model(name: str) -> ModelOutcome:
    """The zoo model ``name`` as a :class:`ModelOutcome` (ready ones are shared by all sessions)."""
    try:
        return ModelOutcome("ready", _zoo_model(name))
    except _NotReady as exc:
        return exc.outcome


@st.cache_resource(show_spinner=False, max_entries=3)
def _user_model(
    model_sha: str,
    names_sha: str | None,
    preprocessing: str,
    model_filename: str,
    names_filename: str | None,
    _model_bytes: bytes,
    _names_bytes: bytes | None,
) -> Loaded:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / (export.safe_stem(model_filename, "model") + Path(model_filename).suffix.lower())
        path.write_bytes(_model_bytes)
        names_path = None
        if _names_bytes is not None and names_filename:
            names_path = Path(folder) / ("class_names" + Path(names_filename).suffix.lower())
            names_path.write_bytes(_names_bytes)
        # The library names the files as the person uploaded them, never by these temp paths.
        outcome = model_zoo.try_load_user_model(
            path,
            class_names=names_path,
            preprocessing=preprocessing,
            display_name=model_filename,
            names_display_name=names_filename,
        )
        if outcome.status != "ready":
            raise _NotReady(ModelOutcome(outcome.status, None, outcome.message))
        zoo = outcome.model
        return Loaded(zoo, gradcam.Explainer(zoo))


def load_user_model(model_file, names_file, preprocessing: str) -> ModelOutcome:
    """An uploaded model (``UploadedFile``s) as a :class:`ModelOutcome`; never raises."""
    if model_file is None:
        return ModelOutcome(
            "missing",
            None,
            "Upload a .keras or .h5 classifier in the sidebar (and its class-names file) to use your own model.",
        )
    data = model_file.getvalue()
    names = names_file.getvalue() if names_file is not None else None
    try:
        loaded = _user_model(
            export.sha256_bytes(data),
            export.sha256_bytes(names) if names else None,
            preprocessing,
            model_file.name,
            names_file.name if names_file is not None else None,
            data,
            names,
        )
    except _NotReady as exc:
        return exc.outcome
    return ModelOutcome("ready", loaded)


# -- images ---------------------------------------------------------------------------------------
def sample_names() -> list[str]:
    return sorted(p.name for p in samples_dir().glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


@st.cache_data(show_spinner=False, max_entries=32)
def read_sample(name: str) -> bytes:
    return (samples_dir() / name).read_bytes()


# Decoded images, maps and display pictures are kept as objects (st.cache_resource), not pickled
# copies (st.cache_data): a 12-megapixel photo's pixels and maps are ~100 MB that cache_data would
# unpickle on every run. Callers treat them as read-only; uploads' keys carry the session's token.
def sample_item(name: str) -> ImageItem:
    """The sample photo ``name`` as the page's image item (its cache key is the one every page uses)."""
    data = read_sample(name)
    sha = export.sha256_bytes(data)
    return ImageItem(name, f"sample:{name}:{sha}", sha, data)


@st.cache_resource(show_spinner=False, max_entries=32)
def decode_cached(image_key: str, name: str, _data: bytes) -> DecodedImage:
    return decode_image(_data, name=name)


def shrink(array: np.ndarray) -> np.ndarray:
    """An image (H, W, 3) or heatmap (H, W) at display size (fitted images and maps match)."""
    return fit_for_display(array, DISPLAY_MAX_SIDE)


@st.cache_resource(show_spinner=False, max_entries=16)
def display_original(image_key: str, _pixels: np.ndarray) -> tuple[np.ndarray, bytes]:
    """The image at display size, as pixels (for overlays) and JPEG bytes (sent as they are)."""
    small = shrink(_pixels)
    return small, jpeg_bytes(small)


def jpeg_bytes(image: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """A uint8 RGB picture as JPEG bytes: pictures on the page need no lossless encoding."""
    return export.jpeg_bytes(image, quality)


def picture(image: np.ndarray, quality: int = JPEG_QUALITY) -> str:
    """A uint8 RGB picture as a JPEG data URI, for ``st.image``: the picture travels inside the
    page's own message instead of as a media file the browser fetches afterwards (a second round
    trip, served by a server thread that waits while the page script still runs). For the
    pictures that change on every redraw (heatmaps, overlays)."""
    return export.data_uri(jpeg_bytes(image, quality), "image/jpeg")


# -- maps -----------------------------------------------------------------------------------------
def is_slow(method: str) -> bool:
    """Whether a method runs many passes (progress bar; filled in last on compare pages)."""
    return gradcam.METHODS[method].slow


@st.cache_resource(show_spinner=False, max_entries=RESULT_CACHE_ENTRIES)
def explain_cached(
    image_key: str,
    model_key: str,
    method: str,
    layer: str | None,
    targets: tuple,
    aug_smooth: bool,
    _pixels: np.ndarray,
    _explainer,
) -> list:
    """Explanations of one image for several targets, in one pass. Slow methods show progress."""
    trace(f"compute {method} layer={layer} targets={targets} image={image_key[:40]}")
    _lookup.computed = True  # this body runs only when the cache does not hold the result
    info = gradcam.METHODS[method]
    with progress_bar(f"{info.label}: starting ({info.passes})", is_slow(method)) as progress:
        return _explainer.explain_targets(
            _pixels,
            [links.decode_target(t) for t in targets],
            method=method,
            layer=layer,
            aug_smooth=aug_smooth,
            progress=progress,
        )


@contextlib.contextmanager
def progress_bar(text: str, shown: bool = True):
    """A progress callback ``(fraction, message)`` drawing a Streamlit progress bar while the block
    runs (none when not ``shown``: fast work would only flash one), removed afterwards."""
    bar = st.progress(0.0, text=text) if shown else None

    def progress(fraction: float, message: str) -> None:
        if bar is not None:
            bar.progress(float(min(max(fraction, 0.0), 1.0)), text=message)

    try:
        yield progress
    finally:
        if bar is not None:
            bar.empty()


#: Per thread (one page run), whether the last :func:`run_explain` computed its maps.
_lookup = threading.local()


def run_explain(
    loaded: Loaded, item: ImageItem, pixels: np.ndarray, method: str, layer: str | None, aug_smooth: bool, targets: list
) -> tuple[list, float]:
    """(explanations, seconds this lookup took): a cached result comes back in milliseconds;
    :func:`last_lookup_cached` says whether it did."""
    _lookup.computed = False
    started = time.perf_counter()
    results = explain_cached(
        item.key,
        loaded.key,
        method,
        layer,
        tuple(links.encode_target(t) for t in targets),
        aug_smooth,
        pixels,
        loaded.explainer,
    )
    return results, time.perf_counter() - started


def last_lookup_cached() -> bool:
    """Whether this page run's last :func:`run_explain` came from the cache (no map computed)."""
    return not getattr(_lookup, "computed", True)


@st.cache_resource(show_spinner=False, max_entries=16)
def compare_models_cached(
    image_key: str,
    model_keys: tuple,
    method: str,
    target: str,
    aug_smooth: bool,
    _pixels: np.ndarray,
    _explainers: dict,
):
    """gradcam.compare_models of one image and class over several models (each at its default
    layer), one explanation per model; keyed by the models' keys, never by arrays."""
    trace(f"compare-models {method} models={list(_explainers)} class={target} image={image_key[:40]}")
    info = gradcam.METHODS[method]
    with progress_bar(f"{info.label}: starting", is_slow(method)) as progress:
        return gradcam.compare_models(
            _explainers, _pixels, links.decode_target(target), method=method, aug_smooth=aug_smooth, progress=progress
        )


# Lighter than the library's defaults so that a person waits seconds, not a minute: 25 deletion and
# insertion steps instead of 50, and ROAD at three removal levels instead of nine.
FAITHFULNESS_OPTIONS = {"steps": 25, "road_fractions": (0.2, 0.5, 0.8)}


@st.cache_data(show_spinner=False, max_entries=16)
def faithfulness_cached(
    image_key: str, model_key: str, layer: str | None, target: str, methods: tuple, _pixels: np.ndarray, _explainer
) -> dict:
    """gradcam.evaluate for each method's map of one image and class, sharing one random baseline."""
    trace(f"faithfulness {methods} layer={layer} class={target} image={image_key[:40]}")
    bar = st.progress(0.0, text="Scoring the maps")
    results, baseline = {}, True
    try:
        for number, method in enumerate(methods):
            uses_layer = gradcam.METHODS[method].uses_layer
            explanation = _explainer.explain(
                _pixels, links.decode_target(target), method=method, layer=layer if uses_layer else None
            )

            def progress(fraction: float, message: str, number=number, method=method) -> None:
                done = (number + min(max(fraction, 0.0), 1.0)) / len(methods)
                bar.progress(done, text=f"{gradcam.METHODS[method].label}: {message}")

            results[method] = gradcam.evaluate(
                _explainer, _pixels, explanation, baseline=baseline, progress=progress, **FAITHFULNESS_OPTIONS
            )
            baseline = results[method].baseline  # computed once, reused for the other methods
    finally:
        bar.empty()
    return results


# -- concepts -------------------------------------------------------------------------------------
#: Concepts hold k full-size maps each: fewer of them are kept than of single maps.
CONCEPTS_CACHE_ENTRIES = 8


@st.cache_resource(show_spinner=False, max_entries=CONCEPTS_CACHE_ENTRIES)
def concepts_cached(image_key: str, model_key: str, layer: str, k: int, _pixels: np.ndarray, _explainer):
    """Deep Feature Factorization of one image at one layer (``gradcam.concepts.Concepts``, kept
    as an object like the maps; the NMF is seeded, so a recomputed entry is the same)."""
    trace(f"concepts layer={layer} k={k} image={image_key[:40]}")
    return _explainer.concepts(_pixels, k=k, layer=layer)


def run_concepts(loaded: Loaded, item: ImageItem, pixels: np.ndarray, layer: str, k: int):
    """(concepts, seconds this lookup took); a bad ``k`` or layer raises the library's GradCamError
    (errors are not cached)."""
    started = time.perf_counter()
    result = concepts_cached(item.key, loaded.key, layer, int(k), pixels, loaded.explainer)
    return result, time.perf_counter() - started


def run_image_item(run: str, index: int) -> ImageItem:
    """Input ``index`` of run ``run`` (a name inside :func:`gradcam_app.settings.runs_folder`,
    resolved there) as an image of the page, read on the server from the run's own source.

    Raises:
        GradCamError: the run is refused or missing, or the image cannot be read any more.
    """
    from gradcam.dataset.browse import read_run_image, resolve_run
    from gradcam_app.settings import runs_folder

    name, data = read_run_image(resolve_run(runs_folder(), run), index)
    sha = export.sha256_bytes(data)
    return ImageItem(name, f"run:{run}:{index}:{sha}", sha, data)
