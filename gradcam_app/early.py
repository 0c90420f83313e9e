"""The page before TensorFlow: what is known is on screen while the model loads in the background.

On a fresh server, importing TensorFlow and building the model take seconds (5 s for the import
alone on a 2-core machine). A page that arrives meanwhile does not wait for them: the sidebar, the
photo, and, when the result cache on disk holds the view (the default view always does after
the server's first start), its heatmap, overlay and class probabilities are drawn at once from
the cache, without importing TensorFlow. The controls that need the model (class buttons, layers,
other views) say that it is loading; the page redraws itself in full as soon as it is ready.

Nothing in this module imports TensorFlow; ``tests/app/test_before_tensorflow.py`` runs it with
TensorFlow's import blocked.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
from types import SimpleNamespace

import streamlit as st

import gradcam
import model_zoo
from gradcam.result_cache import fingerprint, target_token
from gradcam_app import loaders, service
from gradcam_app.loaders import ImageItem
from gradcam_app.state import PageState
from gradcam_app.widgets import USER_MODEL

_lock = threading.Lock()
_loading: dict[str, threading.Thread] = {}
_failed: dict[str, str] = {}
_first_page = threading.Event()
#: Set while the server's warm-up waits for the first page before it loads the default model.
_warm_up_waiting = threading.Event()
#: The longest the warm-up waits for the first page before importing TensorFlow (seconds).
FIRST_PAGE_WAIT = 5.0
#: The longest the warm-up then waits for the server to have sent that page (seconds).
QUIET_LIMIT = 3.0


def prepare() -> None:
    """Pay, in the server's warm-up thread, the first-call costs of drawing a page from the cache
    (Matplotlib's colour maps, the JPEG encoder, the cache's SQLite, the weights file's digest, the
    default photo decoded, its overlay), so that the first visitor's page does not. No TensorFlow,
    and no pandas: nothing the first page draws needs it."""
    import numpy as np

    from gradcam_app.widgets import blend

    service.result_cache()
    zoo_model_id(model_zoo.DEFAULT_MODEL)
    loaders.jpeg_bytes(gradcam.colorize(np.zeros((8, 8), np.float32), "jet"))
    item = loaders.sample_item(loaders.DEFAULT_SAMPLE)  # the photo the first page opens on
    small, _ = loaders.display_original(item.key, loaders.decode_cached(item.key, item.name, item.data).pixels)
    blend(small, np.zeros(small.shape[:2], np.float32), "jet", 0.5, 1.0)


def yield_to_first_page(timeout: float = FIRST_PAGE_WAIT) -> bool:
    """Called by the server's warm-up before it imports TensorFlow: when the result cache holds
    the default model's facts (it can draw a first page without the model), wait until a first
    page has been drawn from it, or ``timeout`` seconds, and then until the server has sent what
    that page needs (:func:`wait_until_quiet`). TensorFlow's import holds the interpreter most of
    its 5 s; a page drawn meanwhile would take twice as long, and the browser's requests for the
    page's pictures and scripts would wait behind it. Returns whether it waited."""
    cache = service.result_cache()
    model_id = zoo_model_id(model_zoo.DEFAULT_MODEL)
    if cache is None or model_id is None or cache.get_facts(model_id) is None:
        return False
    _warm_up_waiting.set()  # the first page must not start the same load beside itself meanwhile
    try:
        if not _first_page.wait(timeout):
            return False
        wait_until_quiet()
        return True
    finally:
        _warm_up_waiting.clear()


def wait_until_quiet(limit: float = QUIET_LIMIT, window: float = 0.2, busy: float = 0.25, calm: int = 2) -> bool:
    """Wait until this process has used less than ``busy`` of a core for ``calm`` windows of
    ``window`` seconds in a row (it has served the first page's scripts, pictures and messages),
    or ``limit`` seconds. Returns whether it became quiet."""
    deadline = time.monotonic() + limit
    quiet, cpu, clock = 0, time.process_time(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(window)
        now_cpu, now = time.process_time(), time.monotonic()
        quiet = quiet + 1 if (now_cpu - cpu) / max(now - clock, 1e-6) < busy else 0
        if quiet >= calm:
            return True
        cpu, clock = now_cpu, now
    return False


def tensorflow_loaded() -> bool:
    """Whether TensorFlow has finished importing in this process (an import under way leaves a
    module without ``__version__`` in ``sys.modules``)."""
    return hasattr(sys.modules.get("tensorflow"), "__version__")


def is_ready(name: str) -> bool:
    """Whether zoo model ``name`` is loaded in this process (or failed to: the full page says why)."""
    with _lock:
        failed = name in _failed
    return failed or service.model_ready(name)


def start_loading(name: str) -> None:
    """Load zoo model ``name`` (TensorFlow included) in a background thread, once per process;
    the server's warm-up usually has already started it, and then this joins the same load. While
    the warm-up waits for the first page to be sent (:func:`yield_to_first_page`), the default
    model is left to it: TensorFlow's import started here held the interpreter while that page was
    drawn (py-spy: the page's run took 0.37 to 0.40 s, against 0.03 to 0.05 s without it). The
    page's redraw timer calls this again each second, so the load starts in any case."""
    with _lock:
        if service.model_ready(name) or name in _loading:
            return
        if name == model_zoo.DEFAULT_MODEL and _warm_up_waiting.is_set():
            return

        def work() -> None:
            try:
                outcome = loaders.load_zoo_model(name)
            except Exception as error:  # the full page loads it again and shows why
                outcome = None
                with _lock:
                    _failed[name] = f"{type(error).__name__}: {error}"
            with _lock:
                _loading.pop(name, None)
                if outcome is not None and not outcome.ok:
                    _failed[name] = outcome.message

        thread = threading.Thread(target=work, name=f"gradcam-app-load-{name}", daemon=True)
        _loading[name] = thread
    thread.start()


@functools.lru_cache(maxsize=16)
def _file_sha256(path: str, size: int, mtime: float) -> str:
    from model_zoo.cache import sha256_file

    return sha256_file(path)


def zoo_model_id(name: str) -> str | None:
    """The result cache's model key of zoo model ``name`` without loading it (what
    ``Explainer.model_id`` gives once loaded), or None for models this cannot tell."""
    from model_zoo import efficientnet_lite
    from model_zoo.imagenet_names import imagenet_display_names

    variant = efficientnet_lite.VARIANTS.get(name)
    source = efficientnet_lite.source_weights_path(variant) if variant is not None else None
    if source is None:
        return None
    stat = os.stat(source)
    return fingerprint(name, _file_sha256(source, stat.st_size, stat.st_mtime), "lite", imagenet_display_names())


def cached_view(name: str, item: ImageItem, pixels, state: PageState):
    """(explanation, class names) of the view the page would open on, read from the result cache
    on disk, or None when it is not there (or the view needs the model to be resolved)."""
    cache = service.result_cache()
    model_id = zoo_model_id(name)
    if cache is None or model_id is None:
        return None
    facts = cache.get_facts(model_id)
    if not facts:
        return None
    method = st.session_state.get("method", "gradcam")
    if method not in gradcam.METHODS or not isinstance(state.klass, (int, type(None))):
        return None  # a group or a name is resolved by the model's own rules: wait for it
    info = gradcam.METHODS[method]
    layer = None
    if info.uses_layer:
        layer = st.session_state.get("layer")
        if layer not in facts["layers"]:
            layer = facts["default_layer"]
    from gradcam.images import image_digest
    from gradcam.targets import TargetResolver

    resolved = TargetResolver(facts["class_names"], facts["output_activation"]).resolve(state.klass)
    options = {**info.resolve_options({}), "aug_smooth": bool(state.smooth)}
    key = cache.key(model_id, image_digest(pixels), info.key, layer, target_token(resolved), options)
    explanation = cache.get_explanation(key)
    return None if explanation is None else (explanation, facts["class_names"])


def sample_before_widgets(state: PageState, samples: list[str]) -> ImageItem | None:
    """The sample photo a page drawn before the model opens on, known before the sidebar's image
    widgets are drawn (they hold the same choice), or None: not such a page, or not a sample."""
    if not service.background_loading() or st.session_state.get("source", state.source) != "Sample":
        return None
    name = st.session_state.get("sample", state.sample) or loaders.DEFAULT_SAMPLE
    return loaders.sample_item(name) if name in samples else None


def show_before_model(state: PageState, items: list[ImageItem], options: list[str], view: str) -> bool:
    """Draw the page from what is known while zoo model ``st.session_state["model"]`` loads in the
    background; True when drawn (the caller stops there), False when the model is ready, when this
    server does not load models in the background (``streamlit run``, AppTest: the page loads it
    itself, as before), or for a model of the person's own."""
    name = st.session_state.get("model") if st.session_state.get("model") in options else model_zoo.DEFAULT_MODEL
    if name == USER_MODEL or not service.background_loading() or is_ready(name):
        return False
    start_loading(name)
    loaders.trace(f"early page {name} tensorflow={tensorflow_loaded()}")
    from gradcam_app.widgets import method_ui, model_ui, probability_chart

    model_ui(options, None)
    method_ui()
    st.sidebar.caption(":material/hourglass_top: Layers and smoothing: loading the model…")
    st.info(
        "Loading TensorFlow and the model in the background (a few seconds on a fresh server). "
        "What is already known is shown; class buttons, layers and the other views come when it is ready, "
        "and this page then redraws by itself.",
        icon=":material/hourglass_top:",
    )
    _redraw_when_ready(name)
    if not items:
        return True
    item = items[0]
    try:
        decoded = loaders.decode_cached(item.key, item.name, item.data)
    except gradcam.GradCamError as exc:
        st.error(str(exc))
        return True
    found = cached_view(name, item, decoded.pixels, state) if view == "explain" else None
    small, original_jpeg = loaders.display_original(item.key, decoded.pixels)
    c1, c2, c3 = st.columns(3)
    c1.image(original_jpeg, caption=f"Original · {decoded.pixels.shape[1]}×{decoded.pixels.shape[0]}", width="stretch")
    if found is None:
        c2.caption("The map is computed once the model is ready.")
        _first_page.set()
        return True
    explanation, names = found
    _pictures(c2, c3, small, explanation, state)
    st.caption(
        f"**{gradcam.METHODS[explanation.method].label}**"
        + (f" at `{explanation.layer}`" if explanation.layer else "")
        + f" for **{explanation.label}** (p = {explanation.target_probability:.1%}) · from the result cache"
    )
    st.markdown("**Class probabilities** (explained class highlighted)")
    probability_chart(SimpleNamespace(class_names=names), explanation)
    loaders.trace(f"early map shown tensorflow={tensorflow_loaded()}")
    _first_page.set()
    return True


def _pictures(c2, c3, small, explanation, state: PageState) -> None:
    from gradcam_app.widgets import blend, colour_bar, shown

    fraction = int(state.top_percent) / 100.0
    heat = loaders.shrink(explanation.heatmap)
    high = "1 (peak)"
    if explanation.layer is None:  # a pixel method: as the explain view clips it
        heat = gradcam.render.clip_outliers(heat)
        high = f"{gradcam.render.PIXEL_CLIP_PERCENTILE:g}th percentile and above"
    with c2:
        st.image(
            loaders.picture(gradcam.colorize(shown(heat, fraction), state.colormap)),
            caption=f"Heatmap · {explanation.label}",
            width="stretch",
        )
        colour_bar(state.colormap, high=high)
    c3.image(
        loaders.picture(blend(small, heat, state.colormap, float(state.alpha), fraction)),
        caption=f"Overlay · opacity {float(state.alpha):.2f} · p = {explanation.target_probability:.1%}",
        width="stretch",
    )


@st.fragment(run_every=1.0)
def _redraw_when_ready(name: str) -> None:
    """Every second: once the model is ready, run the whole page again (now in full); until then,
    make sure it is loading (the warm-up may have left it to the page)."""
    if is_ready(name):
        st.rerun(scope="app")
    start_loading(name)
