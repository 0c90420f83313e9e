"""Widgets the views share: the sidebar's image, model, method and layer pickers, the class
picker, the display controls and the pictures they redraw. ``*_ui()`` functions draw widgets and
return plain values; bound widgets keep their values in :class:`gradcam_app.state.PageState`.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import streamlit as st

import gradcam
import model_zoo
from gradcam import export, links
from gradcam.errors import GradCamError
from gradcam_app import loaders
from gradcam_app.loaders import ImageItem, Loaded
from gradcam_app.state import bound, page_state, set_widget

USER_MODEL = "__user__"
IMAGE_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif"]
TOP_K = 5
STATUS_WORDS = {model_zoo.READY: "ready offline", model_zoo.NEEDS_DOWNLOAD: "needs a one-time download",
                model_zoo.NEEDS_CONVERSION: "converts on first use (seconds)"}


@dataclass(frozen=True)
class Settings:
    """The method, layer (None for pixel methods) and augmentation smoothing a map is made with."""

    method: str
    layer: str | None
    aug_smooth: bool


def ranked(probabilities: np.ndarray) -> list[int]:
    """Class indices from most to least probable; among equal probabilities the lowest index comes
    first, the rule ``np.argmax`` (and so the explainer's "top prediction") follows."""
    return [int(i) for i in np.argsort(-np.asarray(probabilities, dtype=np.float64), kind="stable")]


def model_upload_allowed() -> bool:
    """GRADCAM_ALLOW_MODEL_UPLOAD (0/false/no/off disables) wins; else secrets' allow_model_upload."""
    value = os.environ.get("GRADCAM_ALLOW_MODEL_UPLOAD")
    if value is not None and value.strip():
        return value.strip().lower() not in ("0", "false", "no", "off")
    try:
        return bool(st.secrets.get("allow_model_upload", True))
    except Exception:  # no secrets file: the default applies
        return True


def method_label(key: str) -> str:
    return gradcam.METHODS[key].label


# -- sidebar ------------------------------------------------------------------------------------
def input_ui(samples: list[str], default_sample: str) -> list[ImageItem]:
    """The sidebar's image source and the images it gives (none while nothing is uploaded)."""
    state = page_state()
    st.sidebar.subheader("1 · Image")
    source = bound("source", "source", lambda: st.sidebar.radio(
        "Source", ["Sample", "Upload", "Camera"], key="source", horizontal=True))
    items: list[ImageItem] = []
    if source == "Sample":
        if state.sample not in samples:
            state.sample = default_sample if default_sample in samples else samples[0]
        name = bound("sample", "sample", lambda value: st.sidebar.selectbox(
            "Sample photo", samples, key="sample", index=samples.index(value),
            help="Photos from sample_images/ (see SOURCES.md there)."), valid=lambda v: v in samples, as_default=True)
        data = loaders.read_sample(name)
        sha = export.sha256_bytes(data)
        items.append(ImageItem(name, f"sample:{name}:{sha}", sha, data))
    elif source == "Upload":
        files = st.sidebar.file_uploader("Images (JPEG, PNG, WebP, BMP, TIFF, GIF)", type=IMAGE_TYPES,
                                         accept_multiple_files=True, key="uploads")
        for file in files or []:
            data = file.getvalue()
            sha = export.sha256_bytes(data)
            items.append(ImageItem(file.name, f"upload:{state.token}:{sha}", sha, data))
    else:
        shot = st.sidebar.camera_input("Take a photo", key="camera")
        if shot is not None:
            data = shot.getvalue()
            sha = export.sha256_bytes(data)
            items.append(ImageItem("camera.jpg", f"camera:{state.token}:{sha}", sha, data))
    return items


def model_choice(options: list[str]) -> str:
    """The model the person picked (before the widget is drawn: the page loads it first, so that a
    model that cannot load is taken off the sidebar before the sidebar shows it)."""
    if st.session_state.get("model") not in options:
        st.session_state["model"] = model_zoo.DEFAULT_MODEL
    return st.session_state["model"]


def model_ui(options: list[str], in_use: Loaded | None) -> dict | None:
    """The sidebar's model picker; for USER_MODEL, its uploaded files (else None)."""
    st.sidebar.subheader("2 · Model")
    infos = {info.name: info for info in model_zoo.list_models()}

    def label(name: str) -> str:
        if name == USER_MODEL:
            return "Your own model (.keras / .h5)"
        info = infos[name]
        return f"{info.label} ({STATUS_WORDS.get(info.status, info.status)})"

    name = st.sidebar.selectbox("Classifier", options, key="model", format_func=label)
    if name in infos:
        st.sidebar.caption(infos[name].description)
        return None
    return {"model": st.sidebar.file_uploader("Model file", type=["keras", "h5"], key="user_model_file",
                                              help="A Keras image classifier with one image input and one "
                                                   "(batch, classes) output. Checked before loading: "
                                                   "Lambda and custom layers are refused."),
            "names": st.sidebar.file_uploader("Class names (.txt, one per line, or .json list)",
                                              type=["txt", "json"], key="user_names_file"),
            "preprocessing": st.sidebar.selectbox("Preprocessing it was trained with",
                                                  list(model_zoo.PREPROCESSING), key="user_preprocessing")}


def in_use_note(loaded: Loaded) -> None:
    """Name, in the sidebar, the model whose results the page shows when it is not the one picked."""
    st.sidebar.warning(f"In use meanwhile: **{loaded.zoo.label}** ({loaded.zoo.name}). "
                       f"{loaded.zoo.description}", icon=":material/swap_horiz:")


def method_chip(key: str) -> str:
    """A method's name with its cost, once (the label may already say it)."""
    info = gradcam.METHODS[key]
    return info.label if info.passes.lower() in info.label.lower() else f"{info.label} · {info.passes}"


def method_ui() -> str:
    st.sidebar.subheader("3 · Method")
    st.session_state.setdefault("method", "gradcam")
    method = st.sidebar.selectbox("Explanation method", list(gradcam.METHODS), key="method",
                                  format_func=method_label)
    info = gradcam.METHODS[method]
    st.sidebar.caption(f"{info.summary}  \n*{info.paper}* · {info.passes}")
    return method


def layer_ui(explainer, method: str) -> tuple[str | None, bool]:
    """The layer (None for methods that use none) and augmentation smoothing."""
    state = page_state()
    layers = explainer.layers
    if not layers:
        st.sidebar.info("This model has no layer with a spatial output, so CAM methods cannot run on it; "
                        "gradient saliency and SmoothGrad can.")
        return None, False
    if "layer" in state.pending_link:
        wanted = state.pending_link.pop("layer")
        if wanted is None:
            st.session_state["layer"] = explainer.default_layer
        elif wanted in layers:
            st.session_state["layer"] = wanted
        else:
            st.warning(f"Link parameter layer={wanted!r} ignored: this model has no such spatial layer.")
    if st.session_state.get("layer") not in layers:
        st.session_state["layer"] = explainer.default_layer
    uses_layer = gradcam.METHODS[method].uses_layer
    notes = explainer.layer_notes  # token layers of a vision transformer, reshaped to a grid
    default = explainer.default_layer
    layer = st.sidebar.selectbox(
        f"Layer ({len(layers)} spatial layers; default: {'the last' if default == layers[-1] else default})",
        layers, key="layer", disabled=not uses_layer,
        format_func=lambda path: f"{path} (tokens as {notes[path].split(' grid')[0].rsplit(' ', 1)[-1]})"
        if path in notes else path,
        help="Pixel methods (saliency, SmoothGrad, guided backprop) use no layer."
             + (" Token layers (batch, T, C) are shown as their patch-token grid; extra tokens such as "
                "a class token are dropped from the map." if notes else ""))
    aug = bound("aug_smooth", "smooth", lambda: st.sidebar.checkbox(
        "Augmentation smoothing (6 passes)", key="aug_smooth", disabled=not uses_layer))
    return layer if uses_layer else None, bool(aug and uses_layer)


# -- main area pieces ---------------------------------------------------------------------------
def gallery_ui(items: list[ImageItem]) -> ImageItem:
    if len(items) == 1:
        return items[0]
    names = [f"{i + 1}. {item.name}" for i, item in enumerate(items)]
    state = page_state()
    if state.gallery not in names:
        state.gallery = names[0]
    choice = bound("gallery", "gallery", lambda value: st.radio(
        f"Gallery: {len(items)} images", names, key="gallery", horizontal=True, index=names.index(value)),
        valid=lambda v: v in names, as_default=True)
    return items[names.index(choice)]


def class_picker_ui(explainer, probabilities: np.ndarray, context: tuple) -> int | None:
    """Top-k buttons and a searchable picker over all classes; None means the top prediction."""
    state = page_state()
    names = explainer.class_names
    if state.class_context != context:
        if state.class_context is not None:  # a new image or model: back to its top prediction
            state.klass = None
            st.session_state.pop("klass", None)
        state.class_context = context
    if "class" in state.pending_link:  # a link's class, checked against this model
        wanted = state.pending_link.pop("class")
        state.klass = None
        st.session_state.pop("klass", None)
        try:
            target = links.decode_target(wanted, names)
            if isinstance(target, gradcam.Contrast):
                raise GradCamError("a single class is expected here, not a contrast")
            state.klass = target
        except GradCamError as exc:
            st.warning(f"Link parameter class={wanted!r} ignored: {exc}")
    if state.klass is not None and not 0 <= state.klass < len(names):
        state.klass = None
        st.session_state.pop("klass", None)

    order = ranked(probabilities)[:TOP_K]
    st.markdown("**Top predictions** · click one to explain it")
    columns = st.columns(TOP_K)
    chosen = state.klass if state.klass is not None else order[0]
    for column, index in zip(columns, order):
        column.button(f"{names[index]} · {probabilities[index]:.1%}", key=f"top_{index}",
                      type="primary" if index == chosen else "secondary", width="stretch",
                      on_click=set_widget, args=("klass", "klass", index))
    return bound("klass", "klass", lambda: st.selectbox(
        f"…or search all {len(names)} classes", list(range(len(names))), key="klass",
        format_func=lambda i: f"{names[i]}  ({i})", placeholder=f"Top prediction: {names[order[0]]}"))


def display_controls_ui() -> tuple[str, float, float]:
    """Colour map, opacity and the fraction of the map shown (display only: no model call)."""
    c1, c2, c3 = st.columns(3)
    colormaps = list(gradcam.COLORMAPS)
    colormap = bound("colormap", "colormap", lambda value: c1.selectbox(
        "Colour map", colormaps, key="colormap", index=colormaps.index(value)),
        valid=lambda v: v in colormaps, as_default=True)
    alpha = bound("alpha", "alpha", lambda value: c2.slider(
        "Overlay opacity", 0.0, 1.0, float(value), step=0.05, key="alpha"), as_default=True)
    top = bound("top_percent", "top_percent", lambda value: c3.slider(
        "Show the top X% of the map", 5, 100, int(value), step=5, key="top_percent"), as_default=True)
    return colormap, float(alpha), top / 100.0


@st.cache_data(show_spinner=False, max_entries=32)
def _colour_bar_picture(colormap: str) -> bytes:
    ramp = np.repeat(np.linspace(0.0, 1.0, 256, dtype=np.float32)[None, :], 14, axis=0)
    return export.png_bytes(gradcam.colorize(ramp, colormap))


def colour_bar(colormap: str, low: str = "0", high: str = "1 (peak)") -> None:
    st.image(_colour_bar_picture(colormap), width="stretch")
    st.markdown(f"<div style='display:flex;justify-content:space-between;font-size:0.8em;"
                f"margin-top:-0.8em'><span>{low}</span><span>{high}</span></div>", unsafe_allow_html=True)


def shown(heatmap: np.ndarray, fraction: float) -> np.ndarray:
    return gradcam.keep_top(heatmap, fraction) if fraction < 1.0 and heatmap.max() > 0 else heatmap


def blend(original: np.ndarray, heatmap: np.ndarray, colormap: str, alpha: float, fraction: float) -> np.ndarray:
    """The overlay as the page shows it: with "show the top X%", the original photo elsewhere."""
    return gradcam.render.overlay(original, heatmap, colormap, alpha, keep=fraction if fraction < 1.0 else None)


def probability_chart(explainer, probabilities: np.ndarray, chosen: int) -> None:
    import altair as alt
    import pandas as pd

    order = ranked(probabilities)[:10]
    if chosen not in order:
        order.append(chosen)
    names = explainer.class_names
    frame = pd.DataFrame({"class": [f"{names[i]} ({i})" for i in order],
                          "probability": [float(probabilities[i]) for i in order],
                          "explained": ["explained" if i == chosen else "other" for i in order]})
    chart = alt.Chart(frame).mark_bar().encode(
        x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
        y=alt.Y("class:N", sort=None, title=None),
        color=alt.Color("explained:N", scale=alt.Scale(domain=["explained", "other"],
                                                       range=["#e4572e", "#9db4c0"]), legend=None),
        tooltip=["class", alt.Tooltip("probability:Q", format=".2%")],
    ).properties(height=28 * len(order))
    st.altair_chart(chart, width="stretch")


def seconds_text(explanation, lookup: float | None = None) -> str:
    """"computed in 0.42 s" (or "in 3 ms": a new class on cached activations is that fast), or
    "cached (computed in ...)" when ``lookup``, the wall time of this page's call, shows the map
    itself came from a cache."""
    took = _duration(explanation.seconds)
    if lookup is not None and lookup < 0.05 and explanation.seconds >= lookup * 2:
        return f"cached (computed in {took})"
    return f"computed in {took}"


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 0.1 else f"{seconds:.2f} s"


# -- pictures: fragments redraw them without running the page or touching the model -------------------
Panel = tuple[str, np.ndarray, str]  # (title, heatmap in [0, 1], caption)


@st.fragment
def compare_pictures(item: ImageItem, pixels: np.ndarray, panels: Sequence[Panel], scale_note: str,
                     pending: Sequence[str] = ()) -> None:
    """Overlays side by side (``pending``: titles of slow panels still computing, drawn as places)."""
    colormap, alpha, fraction = display_controls_ui()
    loaders.trace("fragment run")
    small, _ = loaders.display_original(item.key, pixels)
    columns = st.columns(len(panels) + len(pending), vertical_alignment="top")
    for column, (title, heatmap, caption) in zip(columns, panels):
        with column:
            st.markdown(f"**{title}**")
            heat = loaders.shrink(heatmap)
            st.image(loaders.jpeg_bytes(blend(small, heat, colormap, alpha, fraction)), caption=caption,
                     width="stretch")
    for column, title in zip(columns[len(panels):], pending):
        with column:
            st.markdown(f"**{title}**")
            st.info("Computing… the other panels are ready.", icon=":material/hourglass_top:")
    colour_bar(colormap, "0", scale_note)
