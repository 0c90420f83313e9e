"""Grad-CAM Explorer: the web app.

    streamlit run streamlit_app.py          (or: python3 run.py app)

UI only. The engine (``gradcam``) explains, the zoo (``model_zoo``) loads models, and
``gradcam.export`` writes downloads and reads shared links; this file arranges widgets and calls
them through cached loaders. ``*_ui()`` functions draw widgets and return plain values.

Caching: models and explainers live in ``st.cache_resource`` (shared by every session); maps live
in ``st.cache_data`` with bounded ``max_entries``, keyed by a SHA-256 of the image *bytes* (never
the array), the model, method, layer, targets and options. Uploaded images are keyed with a
per-session token as well, so sessions share models but never results.

Own-model uploads can be switched off for public deployments: set the environment variable
``GRADCAM_ALLOW_MODEL_UPLOAD=0``, or ``allow_model_upload = false`` in ``.streamlit/secrets.toml``.
"""
from __future__ import annotations

import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

import gradcam
import model_zoo
from gradcam import export
from gradcam.errors import GradCamError
from gradcam.images import decode_image

ROOT = Path(__file__).resolve().parent
SAMPLES_DIR = ROOT / "sample_images"
DEFAULT_SAMPLE = "cat_and_coffee.jpg"
USER_MODEL = "__user__"
IMAGE_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif"]
VIEWS = {"explain": "Explain", "classes": "Compare classes", "methods": "Compare methods",
         "layers": "Compare layers"}
TOP_K = 5
RESULT_CACHE_ENTRIES = 64
STATUS_WORDS = {model_zoo.READY: "ready offline", model_zoo.NEEDS_DOWNLOAD: "needs a one-time download",
                model_zoo.NEEDS_CONVERSION: "converts on first use (seconds)"}


@dataclass(frozen=True)
class ImageItem:
    name: str
    key: str  # what results are cached under: source, sha256 of the bytes (and session for uploads)
    sha256: str
    data: bytes


@dataclass(frozen=True)
class Settings:
    method: str
    layer: str | None
    aug_smooth: bool


# -- configuration ------------------------------------------------------------------------------
def model_upload_allowed() -> bool:
    """GRADCAM_ALLOW_MODEL_UPLOAD (0/false/no/off disables) wins; else secrets' allow_model_upload."""
    value = os.environ.get("GRADCAM_ALLOW_MODEL_UPLOAD")
    if value is not None and value.strip():
        return value.strip().lower() not in ("0", "false", "no", "off")
    try:
        return bool(st.secrets.get("allow_model_upload", True))
    except Exception:  # no secrets file: the default applies
        return True


def sample_names() -> list[str]:
    return sorted(p.name for p in SAMPLES_DIR.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


# -- cached loaders -----------------------------------------------------------------------------
@st.cache_resource(show_spinner=False, max_entries=4)
def get_model(name: str):
    """(ZooModel, Explainer) for a zoo model; shared by all sessions."""
    zoo = model_zoo.load_model(name)
    return zoo, gradcam.Explainer(zoo)


@st.cache_resource(show_spinner=False, max_entries=3)
def get_user_model(model_sha: str, names_sha: str | None, preprocessing: str, model_filename: str,
                   names_filename: str | None, _model_bytes: bytes, _names_bytes: bytes | None):
    """(ZooModel, Explainer) for an uploaded model, keyed by the hashes of the uploaded bytes."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / (export.safe_stem(model_filename, "model") + Path(model_filename).suffix.lower())
        path.write_bytes(_model_bytes)
        names_path = None
        if _names_bytes is not None and names_filename:
            names_path = Path(folder) / ("class_names" + Path(names_filename).suffix.lower())
            names_path.write_bytes(_names_bytes)
        zoo = model_zoo.load_user_model(path, class_names=names_path, preprocessing=preprocessing)
        return zoo, gradcam.Explainer(zoo)


@st.cache_data(show_spinner=False, max_entries=32)
def read_sample(name: str) -> bytes:
    return (SAMPLES_DIR / name).read_bytes()


@st.cache_data(show_spinner=False, max_entries=32)
def decode_cached(image_key: str, name: str, _data: bytes):
    return decode_image(_data, name=name)


@st.cache_data(show_spinner=False, max_entries=RESULT_CACHE_ENTRIES)
def explain_cached(image_key: str, model_key: str, method: str, layer: str | None, targets: tuple,
                   aug_smooth: bool, _pixels: np.ndarray, _explainer) -> list:
    """Explanations of one image for several targets, in one pass. Slow methods show progress."""
    trace(f"compute {method} layer={layer} targets={targets} image={image_key[:40]}")
    info = gradcam.METHODS[method]
    bar = st.progress(0.0, text=f"{info.label}: starting ({info.passes})") if "per " in info.passes else None

    def progress(fraction: float, message: str) -> None:
        if bar is not None:
            bar.progress(float(min(max(fraction, 0.0), 1.0)), text=message)

    try:
        return _explainer.explain_targets(_pixels, [decode_target(t) for t in targets], method=method,
                                          layer=layer, aug_smooth=aug_smooth, progress=progress)
    finally:
        if bar is not None:
            bar.empty()


def trace(message: str) -> None:
    """With GRADCAM_APP_TRACE=1, one line per model computation and page run on stdout (the e2e
    tests count them to check that display changes call no model)."""
    if os.environ.get("GRADCAM_APP_TRACE") == "1":
        print(f"[gradcam-app] {message} @{time.time():.3f}", flush=True)


def encode_target(target) -> tuple:
    if target is None:
        return ("top",)
    if isinstance(target, gradcam.Contrast):
        return ("contrast", int(target.target), int(target.other))
    return ("class", int(target))


def decode_target(code: tuple):
    if code[0] == "top":
        return None
    if code[0] == "contrast":
        return gradcam.Contrast(code[1], code[2])
    return code[1]


def model_key(zoo) -> str:
    return f"{zoo.name}:{zoo.weights_sha256}"


# -- state --------------------------------------------------------------------------------------
# Widgets drawn after a possible st.stop() or only in some views lose their state when a run does
# not draw them; their values are also kept under "_keep_<key>" and passed back as the default.
def remembered(key: str, default):
    return st.session_state.get(f"_keep_{key}", default)


def remember(key: str, value):
    st.session_state[f"_keep_{key}"] = value
    return value


def park(*keys: str) -> None:
    """Set aside the state of widgets this run does not draw (restored by unpark before drawing)."""
    for key in keys:
        if key in st.session_state:
            st.session_state[f"_keep_{key}"] = st.session_state.pop(key)


def unpark(key: str) -> None:
    if key not in st.session_state and f"_keep_{key}" in st.session_state:
        st.session_state[key] = st.session_state.pop(f"_keep_{key}")


def session_token() -> str:
    return st.session_state.setdefault("_token", uuid.uuid4().hex)


def apply_link_once(samples: list[str], models: list[str]) -> list[str]:
    """On a session's first run, copy a shared link's query parameters into widget state."""
    if st.session_state.get("_link_applied"):
        return []
    st.session_state["_link_applied"] = True
    view, problems = export.parse_view(dict(st.query_params.to_dict()), models=models, samples=samples,
                                       methods=list(gradcam.METHODS), views=list(VIEWS))
    if "model" in view:
        st.session_state["model"] = view["model"]
    if "sample" in view:
        st.session_state["source"] = "Sample"
        st.session_state["_keep_sample"] = view["sample"]
    if "method" in view:
        st.session_state["method"] = view["method"]
    if "view" in view:
        st.session_state["_keep_view"] = view["view"]
    # class and layer depend on the model: checked once it is loaded
    st.session_state["_pending_link"] = {k: view[k] for k in ("class", "layer") if k in view}
    return problems


# -- sidebar ------------------------------------------------------------------------------------
def input_ui(samples: list[str]) -> list[ImageItem]:
    st.sidebar.subheader("1 · Image")
    st.session_state.setdefault("source", "Sample")
    source = st.sidebar.radio("Source", ["Sample", "Upload", "Camera"], key="source", horizontal=True)
    items: list[ImageItem] = []
    if source == "Sample":
        default = remembered("sample", DEFAULT_SAMPLE)
        name = remember("sample", st.sidebar.selectbox(
            "Sample photo", samples, key="sample", index=samples.index(default) if default in samples else 0,
            help="Photos from sample_images/ (see SOURCES.md there)."))
        data = read_sample(name)
        sha = export.sha256_bytes(data)
        items.append(ImageItem(name, f"sample:{name}:{sha}", sha, data))
    elif source == "Upload":
        files = st.sidebar.file_uploader("Images (JPEG, PNG, WebP, BMP, TIFF, GIF)", type=IMAGE_TYPES,
                                         accept_multiple_files=True, key="uploads")
        for file in files or []:
            data = file.getvalue()
            sha = export.sha256_bytes(data)
            items.append(ImageItem(file.name, f"upload:{session_token()}:{sha}", sha, data))
    else:
        shot = st.sidebar.camera_input("Take a photo", key="camera")
        if shot is not None:
            data = shot.getvalue()
            sha = export.sha256_bytes(data)
            items.append(ImageItem("camera.jpg", f"camera:{session_token()}:{sha}", sha, data))
    return items


def model_ui(allow_upload: bool) -> tuple[str, dict | None]:
    """The chosen zoo model name (or USER_MODEL) and, for USER_MODEL, the uploaded files."""
    st.sidebar.subheader("2 · Model")
    infos = {info.name: info for info in model_zoo.list_models()}
    options = list(infos) + ([USER_MODEL] if allow_upload else [])
    st.session_state.setdefault("model", model_zoo.DEFAULT_MODEL)
    if st.session_state["model"] not in options:
        st.session_state["model"] = model_zoo.DEFAULT_MODEL

    def label(name: str) -> str:
        if name == USER_MODEL:
            return "Your own model (.keras / .h5)"
        info = infos[name]
        return f"{info.label} ({STATUS_WORDS.get(info.status, info.status)})"

    name = st.sidebar.selectbox("Classifier", options, key="model", format_func=label)
    if name in infos:
        st.sidebar.caption(infos[name].description)
        return name, None
    files = {"model": st.sidebar.file_uploader("Model file", type=["keras", "h5"], key="user_model_file",
                                               help="A Keras image classifier with one image input and one "
                                                    "(batch, classes) output. Checked before loading: "
                                                    "Lambda and custom layers are refused."),
             "names": st.sidebar.file_uploader("Class names (.txt, one per line, or .json list)",
                                               type=["txt", "json"], key="user_names_file"),
             "preprocessing": st.sidebar.selectbox("Preprocessing it was trained with",
                                                   list(model_zoo.PREPROCESSING), key="user_preprocessing")}
    return name, files


def method_ui() -> str:
    st.sidebar.subheader("3 · Method")
    st.session_state.setdefault("method", "gradcam")
    method = st.sidebar.selectbox("Explanation method", list(gradcam.METHODS), key="method",
                                  format_func=lambda k: gradcam.METHODS[k].label)
    info = gradcam.METHODS[method]
    st.sidebar.caption(f"{info.summary}  \n*{info.paper}* · {info.passes}")
    return method


def layer_ui(explainer, method: str) -> str | None:
    layers = explainer.layers
    if not layers:
        st.sidebar.info("This model has no layer with a spatial output, so CAM methods cannot run on it; "
                        "gradient saliency and SmoothGrad can.")
        return None, False
    pending = st.session_state.get("_pending_link", {})
    if "layer" in pending:
        wanted = pending.pop("layer")
        if wanted in layers:
            st.session_state["layer"] = wanted
        else:
            st.warning(f"Link parameter layer={wanted!r} ignored: this model has no such spatial layer.")
    if st.session_state.get("layer") not in layers:
        st.session_state["layer"] = explainer.default_layer
    uses_layer = gradcam.METHODS[method].uses_layer
    layer = st.sidebar.selectbox(f"Layer ({len(layers)} spatial layers; default: the last)", layers,
                                 key="layer", disabled=not uses_layer,
                                 help="Pixel methods (saliency, SmoothGrad, guided backprop) use no layer.")
    aug = st.sidebar.checkbox("Augmentation smoothing (6 passes)", key="aug_smooth", disabled=not uses_layer)
    return layer if uses_layer else None, bool(aug and uses_layer)


# -- main area pieces ---------------------------------------------------------------------------
def gallery_ui(items: list[ImageItem]) -> ImageItem:
    if len(items) == 1:
        return items[0]
    names = [f"{i + 1}. {item.name}" for i, item in enumerate(items)]
    default = remembered("gallery", names[0])
    choice = remember("gallery", st.radio(f"Gallery: {len(items)} images", names, key="gallery", horizontal=True,
                                          index=names.index(default) if default in names else 0))
    return items[names.index(choice)]


def class_picker_ui(explainer, probabilities: np.ndarray, context: tuple) -> int | None:
    """Top-k buttons and a searchable picker over all classes; None means the top prediction."""
    names = explainer.class_names
    unpark("klass")
    if st.session_state.get("_class_context") != context:
        if st.session_state.get("_class_context") is not None:
            st.session_state["klass"] = None
        st.session_state["_class_context"] = context
    pending = st.session_state.get("_pending_link", {})
    if "class" in pending:
        wanted = pending.pop("class")
        try:
            st.session_state["klass"] = explainer.class_index(wanted)
        except GradCamError as exc:
            st.warning(f"Link parameter class={wanted!r} ignored: {exc}")
    if st.session_state.get("klass") is not None and not 0 <= st.session_state["klass"] < len(names):
        st.session_state["klass"] = None
    st.session_state.setdefault("klass", None)

    order = np.argsort(probabilities)[::-1][:TOP_K]
    st.markdown("**Top predictions** · click one to explain it")
    columns = st.columns(TOP_K)
    chosen = st.session_state["klass"] if st.session_state["klass"] is not None else int(order[0])
    for column, index in zip(columns, order):
        column.button(f"{names[index]} · {probabilities[index]:.1%}", key=f"top_{int(index)}",
                      type="primary" if int(index) == chosen else "secondary", width="stretch",
                      on_click=_set_class, args=(int(index),))
    st.selectbox(f"…or search all {len(names)} classes", list(range(len(names))), key="klass",
                 format_func=lambda i: f"{names[i]}  ({i})", index=None,
                 placeholder=f"Top prediction: {names[order[0]]}")
    return st.session_state["klass"]


def _set_class(index: int) -> None:
    st.session_state["klass"] = index


def display_controls_ui() -> tuple[str, float, float]:
    c1, c2, c3 = st.columns(3)
    colormaps = list(gradcam.COLORMAPS)
    colormap = remember("colormap", c1.selectbox(
        "Colour map", colormaps, key="colormap", index=colormaps.index(remembered("colormap", "jet"))))
    alpha = remember("alpha", c2.slider("Overlay opacity", 0.0, 1.0, remembered("alpha", 0.5), step=0.05,
                                        key="alpha"))
    top = remember("top_percent", c3.slider("Show the top X% of the map", 5, 100,
                                            remembered("top_percent", 100), step=5, key="top_percent"))
    return colormap, float(alpha), top / 100.0


def colour_bar(colormap: str, low: str = "0", high: str = "1 (peak)") -> None:
    ramp = np.repeat(np.linspace(0.0, 1.0, 256, dtype=np.float32)[None, :], 14, axis=0)
    st.image(gradcam.colorize(ramp, colormap), width="stretch")
    st.markdown(f"<div style='display:flex;justify-content:space-between;font-size:0.8em;"
                f"margin-top:-0.8em'><span>{low}</span><span>{high}</span></div>", unsafe_allow_html=True)


def shown(heatmap: np.ndarray, fraction: float) -> np.ndarray:
    return gradcam.keep_top(heatmap, fraction) if fraction < 1.0 and heatmap.max() > 0 else heatmap


def probability_chart(explainer, probabilities: np.ndarray, chosen: int) -> None:
    import altair as alt
    import pandas as pd

    order = list(np.argsort(probabilities)[::-1][:10])
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


def provenance_for(explanation, zoo, item: ImageItem, decoded, settings: Settings, display: dict) -> dict:
    info = gradcam.METHODS[explanation.method]
    return export.provenance(explanation, model=zoo, image_name=item.name, image_sha256=item.sha256,
                             image_size=decoded.original_size, method_label=info.label,
                             method_paper=info.paper, options={"aug_smooth": settings.aug_smooth},
                             display=display)


# -- fragments: redraw pictures without touching the model ----------------------------------------
@st.fragment
def explain_pictures(original: np.ndarray, explanation, zoo, item: ImageItem, decoded, settings: Settings):
    colormap, alpha, fraction = display_controls_ui()
    trace("fragment run")
    heat = shown(explanation.heatmap, fraction)
    over = gradcam.overlay(original, heat, colormap, alpha)
    c1, c2, c3 = st.columns(3)
    with c1:
        st.image(original, caption=f"Original · {original.shape[1]}×{original.shape[0]}", width="stretch",
                 output_format="JPEG")
    with c2:
        st.image(gradcam.colorize(heat, colormap), caption=f"Heatmap · {explanation.label}", width="stretch")
        colour_bar(colormap)
    with c3:
        st.image(over, caption=f"Overlay · opacity {alpha:.2f}", width="stretch", output_format="JPEG")
    display = {"colormap": colormap, "alpha": alpha, "top_fraction": fraction}
    record = provenance_for(explanation, zoo, item, decoded, settings, display)
    stem = f"{export.safe_stem(item.name)}_{export.safe_stem(explanation.target_name)}_{explanation.method}"
    d1, d2, d3 = st.columns(3)
    d1.download_button("Overlay PNG", export.png_bytes(over), file_name=f"{stem}_overlay.png",
                       mime="image/png", on_click="ignore", key="dl_png", icon=":material/download:", width="stretch")
    d2.download_button("Heatmap .npy", export.npy_bytes(explanation.heatmap), file_name=f"{stem}_heatmap.npy",
                       mime="application/octet-stream", on_click="ignore", key="dl_npy", icon=":material/download:",
                       width="stretch")
    d3.download_button("Provenance JSON", export.json_bytes(record), file_name=f"{stem}.json",
                       mime="application/json", on_click="ignore", key="dl_json", icon=":material/download:",
                       width="stretch")


@st.fragment
def compare_pictures(original: np.ndarray, panels: list[tuple[str, np.ndarray, str]], scale_note: str):
    """panels: (title, heatmap in [0, 1], caption) drawn side by side as overlays."""
    colormap, alpha, fraction = display_controls_ui()
    trace("fragment run")
    columns = st.columns(len(panels))
    for column, (title, heatmap, caption) in zip(columns, panels):
        with column:
            st.markdown(f"**{title}**")
            st.image(gradcam.overlay(original, shown(heatmap, fraction), colormap, alpha), caption=caption,
                     width="stretch", output_format="JPEG")
    colour_bar(colormap, "0", scale_note)


# -- views --------------------------------------------------------------------------------------
def run_explain(explainer, item, pixels, settings, targets):
    started = time.perf_counter()
    results = explain_cached(item.key, st.session_state["_model_key"], settings.method, settings.layer,
                             tuple(encode_target(t) for t in targets), settings.aug_smooth, pixels, explainer)
    return results, time.perf_counter() - started


def explain_view(zoo, explainer, item, decoded, settings, probabilities, context):
    klass = class_picker_ui(explainer, probabilities, context)
    try:
        (explanation,), wall = run_explain(explainer, item, decoded.pixels, settings, [klass])
    except GradCamError as exc:
        st.error(str(exc))
        return
    if explanation.empty:
        st.warning(explanation.message)
    explain_pictures(decoded.pixels, explanation, zoo, item, decoded, settings)
    layer = f" at `{explanation.layer}`" if explanation.layer else ""
    st.caption(f"**{gradcam.METHODS[settings.method].label}**{layer} for **{explanation.label}** "
               f"(p = {explanation.target_probability:.1%}) · map computed in {explanation.seconds:.2f} s · "
               f"this page's lookup {wall:.3f} s" + (" · " + "; ".join(explanation.notes) if explanation.notes else ""))
    if not gradcam.METHODS[settings.method].class_specific:
        st.info(f"{gradcam.METHODS[settings.method].label} does not depend on the class: every class shows this map.")
    c1, c2 = st.columns([2, 1])
    with c1:
        st.markdown("**Class probabilities** (explained class highlighted)")
        probability_chart(explainer, explanation.probabilities, explanation.target_index)
    with c2:
        h, w = explainer.input_size
        st.markdown("**What the model saw**")
        st.image(explanation.model_input, caption=f"resized to {w}×{h} (whole image, squashed)", width="stretch")
    st.session_state["_last"] = {"class": explanation.target_name}
    faithfulness_ui(explainer, item, decoded, settings, explanation)


# Lighter than the library's defaults so that a person waits seconds, not a minute: 25 deletion and
# insertion steps instead of 50, and ROAD at three removal levels instead of nine.
FAITHFULNESS_OPTIONS = {"steps": 25, "road_fractions": (0.2, 0.5, 0.8)}


@st.cache_data(show_spinner=False, max_entries=16)
def faithfulness_cached(image_key: str, model_key_: str, layer: str | None, target_index: int, methods: tuple,
                        _pixels: np.ndarray, _explainer) -> dict:
    """gradcam.evaluate for each method's map of one image and class, sharing one random baseline."""
    trace(f"faithfulness {methods} layer={layer} class={target_index} image={image_key[:40]}")
    bar = st.progress(0.0, text="Scoring the maps")
    results, baseline = {}, True
    try:
        for number, method in enumerate(methods):
            uses_layer = gradcam.METHODS[method].uses_layer
            explanation = _explainer.explain(_pixels, target_index, method=method, layer=layer if uses_layer else None)

            def progress(fraction: float, message: str, number=number, method=method) -> None:
                done = (number + min(max(fraction, 0.0), 1.0)) / len(methods)
                bar.progress(done, text=f"{gradcam.METHODS[method].label}: {message}")

            results[method] = gradcam.evaluate(_explainer, _pixels, explanation, baseline=baseline,
                                               progress=progress, **FAITHFULNESS_OPTIONS)
            baseline = results[method].baseline  # computed once, reused for the other methods
    finally:
        bar.empty()
    return results


def faithfulness_ui(explainer, item, decoded, settings, explanation) -> None:
    """The expander "How faithful is this map?": metrics on demand, curves, methods ranked."""
    with st.expander("How faithful is this map?"):
        st.caption("A heatmap is a claim about the model. Deletion removes the most important pixels first "
                   "(the class probability should fall fast: lower area is better); insertion reveals them "
                   "first (higher is better); average drop masks the image by the map (lower is better); "
                   "ROAD removes pixels with noisy linear imputation (MoRF lower, LeRF higher). Every score "
                   "is also computed for a map of random numbers. Papers: Petsiuk et al. 2018, "
                   "Chattopadhyay et al. 2018, Rong et al. 2022.")
        fast = [key for key, m in gradcam.METHODS.items() if "per " not in m.passes]
        preferred = (k for k in ("gradcam", "gradcam++", "layercam") if k in fast)
        default = list(dict.fromkeys([settings.method, *preferred]))
        methods = st.multiselect("Methods to rank on this image and class", list(gradcam.METHODS),
                                 default=default[:3], key="faithfulness_methods",
                                 format_func=lambda key: gradcam.METHODS[key].label)
        context = (item.key, st.session_state["_model_key"], settings.layer, explanation.target_index, tuple(methods))
        if st.button("Compute the figures", key="faithfulness_go", disabled=not methods,
                     help="About 100 to 150 forward passes per method, plus the random baseline."):
            try:
                st.session_state["_faithfulness"] = (context, faithfulness_cached(
                    item.key, st.session_state["_model_key"], settings.layer, explanation.target_index,
                    tuple(methods), decoded.pixels, explainer))
            except GradCamError as exc:
                st.error(str(exc))
                return
        stored = st.session_state.get("_faithfulness")
        if not stored or stored[0] != context:
            st.caption(f"For **{explanation.target_name}** at `{settings.layer or 'the input'}`: press the button.")
            return
        results = stored[1]
        table = gradcam.rank_methods(results)
        for row in table:
            row["method"] = gradcam.METHODS[row["method"]].label if row["method"] in gradcam.METHODS else row["method"]
        st.dataframe(table, hide_index=True, width="stretch")
        import pandas as pd

        first = next(iter(results.values()))
        charts = st.columns(2)
        for column, curve, title in ((charts[0], "deletion", "Deletion: most important pixels removed first"),
                                     (charts[1], "insertion", "Insertion: most important pixels revealed first")):
            fractions = first.curves[curve][0]
            frame = pd.DataFrame({gradcam.METHODS[key].label: r.curves[curve][1] for key, r in results.items()},
                                 index=pd.Index(np.round(fractions, 3), name="fraction of pixels"))
            if first.baseline is not None:
                frame["random map"] = first.baseline.curves[curve][1]
            with column:
                st.markdown(f"**{title}**")
                st.line_chart(frame, x_label="fraction of pixels", y_label=f"p({explanation.target_name})")


def compare_classes_view(explainer, item, decoded, settings, probabilities, context):
    names = explainer.class_names
    order = [int(i) for i in np.argsort(probabilities)[::-1]]
    unpark("compare_classes")
    if st.session_state.get("_compare_context") != context or "compare_classes" not in st.session_state:
        st.session_state["compare_classes"] = order[:2]
        st.session_state["_compare_context"] = context
    chosen = st.multiselect("Classes to compare (2 to 4), on one shared colour scale", list(range(len(names))),
                            key="compare_classes", max_selections=4,
                            format_func=lambda i: f"{names[i]} · {probabilities[i]:.1%}")
    contrast = st.checkbox("Add the contrastive map: why the first rather than the second",
                           key="compare_contrast", value=True)
    if len(chosen) < 2:
        st.info("Pick at least two classes.")
        return
    targets = list(chosen) + ([gradcam.Contrast(chosen[0], chosen[1])] if contrast else [])
    try:
        results, wall = run_explain(explainer, item, decoded.pixels, settings, targets)
    except GradCamError as exc:
        st.error(str(exc))
        return
    classes = results[:len(chosen)]
    scaled = gradcam.shared_scale(classes)
    top = max(e.peak for e in classes)
    panels = [(f"{e.target_name} · {e.target_probability:.1%}", heat,
               f"peak {e.peak / top:.0%} of the strongest" if top > 0 else "no positive evidence")
              for e, heat in zip(classes, scaled)]
    if contrast:
        c = results[-1]
        panels.append((f"Why {c.target_name} rather than {c.contrast_name}", c.heatmap,
                       "own scale" if not c.empty else "no positive evidence"))
    for e in results:
        if e.empty:
            st.warning(e.message)
    compare_pictures(decoded.pixels, panels, "1 = strongest map among the classes")
    st.caption(f"{gradcam.METHODS[settings.method].label} · {len(results)} maps computed together in "
               f"{sum(e.seconds for e in results):.2f} s · lookup {wall:.3f} s")


def compare_methods_view(explainer, item, decoded, settings, probabilities, context):
    klass = class_picker_ui(explainer, probabilities, context)
    methods = remember("compare_methods", st.multiselect(
        "Methods to compare (each on its own scale)", list(gradcam.METHODS), key="compare_methods",
        default=remembered("compare_methods", ["gradcam", "gradcam++", "layercam", "eigencam"]), max_selections=4,
        format_func=lambda k: f"{gradcam.METHODS[k].label} ({gradcam.METHODS[k].passes})"))
    panels = []
    for method in methods:
        layer = settings.layer if gradcam.METHODS[method].uses_layer else None
        if layer is None and gradcam.METHODS[method].uses_layer and explainer.layers:
            layer = explainer.default_layer
        try:
            one = Settings(method, layer, settings.aug_smooth)
            (e,), _ = run_explain(explainer, item, decoded.pixels, one, [klass])
        except GradCamError as exc:
            st.error(f"{gradcam.METHODS[method].label}: {exc}")
            continue
        panels.append((gradcam.METHODS[method].label, e.heatmap,
                       f"{e.label} · {e.seconds:.2f} s" + (" · no positive evidence" if e.empty else "")))
    if panels:
        compare_pictures(decoded.pixels, panels, "1 = each map's own peak")


def compare_layers_view(explainer, item, decoded, settings, probabilities, context):
    klass = class_picker_ui(explainer, probabilities, context)
    method = settings.method if gradcam.METHODS[settings.method].uses_layer else "gradcam"
    if method != settings.method:
        st.info(f"{gradcam.METHODS[settings.method].label} uses no layer; comparing layers with Grad-CAM.")
    layers = explainer.layers
    if not layers:
        st.info("This model has no layer with a spatial output: there are no layers to compare.")
        return
    n = len(layers)
    default = list(dict.fromkeys([layers[int(n * 0.45)], layers[int(n * 0.7)], layers[int(n * 0.85)], layers[-1]]))
    unpark("compare_layers")
    stale = st.session_state.get("_layers_model") != st.session_state["_model_key"]
    if stale or "compare_layers" not in st.session_state:
        st.session_state["compare_layers"] = default
        st.session_state["_layers_model"] = st.session_state["_model_key"]
    chosen = st.multiselect("Layers to compare (each on its own scale)", layers, key="compare_layers",
                            max_selections=4)
    panels = []
    for layer in chosen:
        try:
            one = Settings(method, layer, settings.aug_smooth)
            (e,), _ = run_explain(explainer, item, decoded.pixels, one, [klass])
        except GradCamError as exc:
            st.error(f"{layer}: {exc}")
            continue
        h, w = e.coarse.shape
        panels.append((layer, e.heatmap, f"{w}×{h} map · {e.label}" + (" · no positive evidence" if e.empty else "")))
    if panels:
        compare_pictures(decoded.pixels, panels, "1 = each map's own peak")


def gallery_zip_ui(zoo, explainer, items, settings, klass_name: str | None) -> None:
    if len(items) < 2:
        return
    st.divider()
    if st.button(f"Explain all {len(items)} images and build a ZIP", key="build_zip"):
        files: dict[str, bytes] = {}
        colormap = st.session_state.get("colormap", "jet")
        alpha = float(st.session_state.get("alpha", 0.5))
        for number, item in enumerate(items, 1):
            try:
                decoded = decode_cached(item.key, item.name, item.data)
                (e,), _ = run_explain(explainer, item, decoded.pixels, settings, [None])
            except GradCamError as exc:
                files[f"{number:02d}_{export.safe_stem(item.name)}_ERROR.txt"] = (str(exc) + "\n").encode()
                continue
            stem = f"{number:02d}_{export.safe_stem(item.name)}"
            files[f"{stem}_overlay.png"] = export.png_bytes(gradcam.overlay(decoded.pixels, e.heatmap, colormap, alpha))
            files[f"{stem}_heatmap.npy"] = export.npy_bytes(e.heatmap)
            files[f"{stem}.json"] = export.json_bytes(provenance_for(
                e, zoo, item, decoded, settings, {"colormap": colormap, "alpha": alpha}))
        st.download_button(f"ZIP of {len(items)} images (each its top class)", export.zip_bytes(files),
                           file_name="gradcam_gallery.zip", mime="application/zip", on_click="ignore",
                           key="dl_zip", icon=":material/folder_zip:")


# -- the page -----------------------------------------------------------------------------------
def load_explainer(name: str, files: dict | None):
    """(zoo, explainer) for the sidebar's choice, or an error message; never raises GradCamError."""
    if name != USER_MODEL:
        try:
            with st.spinner(f"Loading {name} (the first time converts or downloads its weights)…"):
                return get_model(name), None
        except GradCamError as exc:
            return None, str(exc)
    if files is None or files["model"] is None:
        return None, ("Upload a .keras or .h5 classifier in the sidebar (and its class-names file) "
                      "to use your own model.")
    data = files["model"].getvalue()
    names = files["names"].getvalue() if files["names"] is not None else None
    try:
        with st.spinner("Checking and loading your model…"):
            return get_user_model(export.sha256_bytes(data), export.sha256_bytes(names) if names else None,
                                  files["preprocessing"], files["model"].name,
                                  files["names"].name if files["names"] is not None else None, data, names), None
    except GradCamError as exc:
        return None, str(exc)
    except Exception as exc:  # a file Keras itself cannot read: say so, keep the page alive
        detail = " ".join(str(exc).split())[:300]  # Keras's messages span lines; the box shows one
        return None, f"{files['model'].name}: could not be loaded as a Keras model ({type(exc).__name__}: {detail})."


def main() -> None:
    st.set_page_config(page_title="Grad-CAM Explorer", page_icon=":material/local_fire_department:",
                       layout="wide")
    trace("page run")
    samples = sample_names()
    zoo_names = [info.name for info in model_zoo.list_models()]
    allow_upload = model_upload_allowed()
    problems = apply_link_once(samples, zoo_names + ([USER_MODEL] if allow_upload else []))

    st.sidebar.title("Grad-CAM Explorer")
    items = input_ui(samples)
    model_name, model_files = model_ui(allow_upload)
    method = method_ui()

    st.title("Grad-CAM Explorer")
    st.caption("Why does the classifier say what it says? Pick an image, a model and a class; "
               "compare classes, methods and layers.")
    for line in problems:
        st.warning(line)

    loaded, error = load_explainer(model_name, model_files)
    if loaded is None:
        (st.info if model_name == USER_MODEL and "Upload a" in error else st.error)(error)
        fallback = st.session_state.get("_good_model", model_zoo.DEFAULT_MODEL)
        if model_name == fallback:
            st.stop()
        st.caption(f"Meanwhile the page keeps using **{fallback}**.")
        loaded, _ = load_explainer(fallback, None)
        if loaded is None:
            st.stop()
    else:
        if model_name != USER_MODEL:
            st.session_state["_good_model"] = model_name
    zoo, explainer = loaded
    st.session_state["_model_key"] = model_key(zoo)
    layer, aug = layer_ui(explainer, method)
    settings = Settings(method, layer, aug)

    if not items:
        st.info("Upload one or several images, or take a photo, in the sidebar — or switch the source back to "
                "**Sample**.")
        st.stop()
    good: list[ImageItem] = []
    for item in items:
        try:
            decode_cached(item.key, item.name, item.data)
            good.append(item)
        except GradCamError as exc:
            st.error(str(exc))
    if not good:
        st.stop()
    item = gallery_ui(good)
    decoded = decode_cached(item.key, item.name, item.data)
    for note in decoded.notes:
        st.caption(f"{item.name}: {note}")

    views = list(VIEWS)
    view = remember("view", st.radio("View", views, key="view", horizontal=True, format_func=VIEWS.get,
                                     index=views.index(remembered("view", "explain")),
                                     label_visibility="collapsed"))
    park(*{"explain": ["compare_classes", "compare_layers"], "classes": ["klass", "compare_layers"],
            "methods": ["compare_classes", "compare_layers"], "layers": ["compare_classes"]}[view])
    # The class probabilities come with the default Grad-CAM map (one pass; usually the map shown);
    # a model without a spatial layer gets them with gradient saliency, which any model allows.
    if explainer.layers:
        default = Settings("gradcam", explainer.default_layer, False)
    else:
        default = Settings("saliency", None, False)
    (first,), _ = run_explain(explainer, item, decoded.pixels, default, [None])
    probabilities = first.probabilities
    context = (item.key, st.session_state["_model_key"])
    {"explain": explain_view, "classes": compare_classes_view, "methods": compare_methods_view,
     "layers": compare_layers_view}[view](
        *((zoo,) if view == "explain" else ()), explainer, item, decoded, settings, probabilities, context)
    gallery_zip_ui(zoo, explainer, good, settings, None)

    klass = st.session_state.get("klass")
    st.query_params.from_dict(export.view_params({
        "model": zoo.name if model_name != USER_MODEL else None,
        "sample": item.name if st.session_state.get("source") == "Sample" else None,
        "class": explainer.class_names[klass] if klass is not None else None,
        "method": method, "layer": layer, "view": view,
    }))


main()
