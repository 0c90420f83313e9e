"""Widgets the views share: the sidebar's image, model, method and layer pickers, the class
picker, the display controls and the pictures they redraw. Deployment settings are in
:mod:`gradcam_app.settings`, the class groups the pickers offer in :mod:`gradcam_app.groups`,
reading a run's image in :mod:`gradcam_app.loaders`. ``*_ui()`` functions draw widgets and
return plain values; bound widgets keep their values in :class:`gradcam_app.state.PageState`.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import streamlit as st

import gradcam
import model_zoo
from gradcam import export, limits
from gradcam.errors import GradCamError
from gradcam.targets import class_order
from gradcam.words import percent
from gradcam_app import links, loaders
from gradcam_app.groups import as_target, decode_choice, group_keys, remember_group
from gradcam_app.loaders import ImageItem, Loaded, run_image_item
from gradcam_app.state import bound, page_state, set_widget

USER_MODEL = "__user__"
#: The image sources as the sidebar names them ("Run": an image opened from the Dataset view).
SOURCE_LABELS = {
    "Sample": "Sample",
    "Upload": "Upload",
    "Camera": "Camera",
    "Run": "Dataset run",
    "Photo": "Shared photo",
}
IMAGE_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif"]
TOP_K = 5
STATUS_WORDS = {
    model_zoo.READY: "ready offline",
    model_zoo.NEEDS_DOWNLOAD: "needs a one-time download",
    model_zoo.NEEDS_CONVERSION: "converts on first use (seconds)",
}


@dataclass(frozen=True)
class Settings:
    """The method, layer (None for pixel methods) and augmentation smoothing a map is made with."""

    method: str
    layer: str | None
    aug_smooth: bool


def _accepts(function, name: str) -> bool:
    import inspect

    return name in inspect.signature(function).parameters


def no_select_all() -> dict:
    """``select_all=False`` for ``st.multiselect`` where Streamlit has the option (its "Select all" /
    "Select N matches" entry adds every match at once); nothing on versions without the entry."""
    return {"select_all": False} if _accepts(st.multiselect, "select_all") else {}


def upload_limit(max_bytes: int) -> dict:
    """``max_upload_size=`` (MB) for ``st.file_uploader`` where Streamlit has it, so the uploader's
    own "Limit N MB per file" says the app's limit for that kind of file rather than the server's
    largest (``server.maxUploadSize``, set for model files)."""
    megabytes = max(1, int(max_bytes // 2**20))
    return {"max_upload_size": megabytes} if _accepts(st.file_uploader, "max_upload_size") else {}


def method_label(key: str) -> str:
    return gradcam.METHODS[key].label


# -- sidebar ------------------------------------------------------------------------------------
def input_ui(samples: list[str], default_sample: str, where=None) -> list[ImageItem]:
    """The sidebar's image source and the images it gives (none while nothing is uploaded).
    ``where``: a container in the sidebar to draw into (default: the sidebar itself)."""
    state = page_state()
    side = st.sidebar if where is None else where
    side.subheader("1 · Image")
    sources = ["Sample", "Upload", "Camera"] + (["Run"] if state.run_image else []) + (["Photo"] if state.photo else [])
    if state.source not in sources:
        state.source = "Sample"
    source = bound(
        "source",
        "source",
        lambda: side.radio("Source", sources, key="source", horizontal=True, format_func=SOURCE_LABELS.get),
        valid=lambda v: v in sources,
    )
    items: list[ImageItem] = []
    if source == "Sample":
        if state.sample not in samples:
            state.sample = default_sample if default_sample in samples else samples[0]
        name = bound(
            "sample",
            "sample",
            lambda value: side.selectbox(
                "Sample photo",
                samples,
                key="sample",
                index=samples.index(value),
                help="Photos from sample_images/ (see SOURCES.md there).",
            ),
            valid=lambda v: v in samples,
            as_default=True,
        )
        items.append(loaders.sample_item(name))
    elif source == "Upload":
        files = side.file_uploader(
            "Images (JPEG, PNG, WebP, BMP, TIFF, GIF)",
            type=IMAGE_TYPES,
            accept_multiple_files=True,
            key="uploads",
            **upload_limit(limits.MAX_IMAGE_BYTES),
        )
        for file in files or []:
            data = file.getvalue()
            sha = export.sha256_bytes(data)
            keep_photo(sha, file.name, data)
            items.append(ImageItem(file.name, f"upload:{state.token}:{sha}", sha, data))
    elif source == "Run":
        run, index = state.run_image
        try:
            item = run_image_item(run, index)
        except GradCamError as exc:
            side.error(str(exc))
        else:
            items.append(item)
            side.caption(
                f"Input {index} of the dataset run **{run}**: `{item.name}` (read on the server "
                "from the run's source). Open another from the Dataset view."
            )
    elif source == "Photo":
        found = linked_photo(state.photo or "")
        if found is not None:
            items.append(found)
            side.caption(
                f"The photo of the link you opened: `{found.name}`, kept on this server. Upload or pick "
                "another image to leave it."
            )
    else:
        shot = side.camera_input("Take a photo", key="camera")
        if shot is not None:
            data = shot.getvalue()
            sha = export.sha256_bytes(data)
            keep_photo(sha, "camera.jpg", data)
            items.append(ImageItem("camera.jpg", f"camera:{state.token}:{sha}", sha, data))
    return items


def keep_photo(sha: str, name: str, data: bytes) -> None:
    """Put an uploaded photo in the server's photo store (once per session), so that links made on
    it reopen it (:mod:`gradcam_app.photos`); a photo the store refuses or cannot take is left out
    and the page's link says so."""
    from gradcam_app import photos

    state = page_state()
    if sha in state.stored:
        return
    store = photos.store()
    if store is None:
        return
    try:
        store.put(data, name)
    except Exception as exc:  # too large, or a disk error: the page works, the link cannot carry it
        loaders.trace(f"photo store refused {sha[:12]}: {exc}")
        return
    state.stored.add(sha)


def linked_photo(sha: str) -> ImageItem | None:
    """A link's photo from the server's store, as an image of the page; None when the store does
    not hold it (the page then says the link's photo is gone, and shows no other image)."""
    from gradcam_app import photos

    store = photos.store()
    found = store.get(sha) if store is not None else None
    if found is None:
        return None
    page_state().stored.add(sha)
    # keyed by content: every page that opens this link shares its decoded image and maps
    return ImageItem(found.name, f"photo:{sha}", sha, found.data)


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
    return {
        "model": st.sidebar.file_uploader(
            "Model file",
            type=["keras", "h5"],
            key="user_model_file",
            **upload_limit(limits.MAX_MODEL_BYTES),
            help="A Keras image classifier with one image input and one "
            "(batch, classes) output. Checked before loading: "
            "Lambda and custom layers are refused.",
        ),
        "names": st.sidebar.file_uploader(
            "Class names (.txt, one per line, or .json list)", type=["txt", "json"], key="user_names_file"
        ),
        "preprocessing": st.sidebar.selectbox(
            "Preprocessing it was trained with", list(model_zoo.PREPROCESSING), key="user_preprocessing"
        ),
    }


def in_use_note(loaded: Loaded) -> None:
    """Name, in the sidebar, the model whose results the page shows when it is not the one picked."""
    st.sidebar.warning(
        f"In use meanwhile: **{loaded.zoo.label}** ({loaded.zoo.name}). {loaded.zoo.description}",
        icon=":material/swap_horiz:",
    )


def method_chip(key: str) -> str:
    """A method's name with its cost, once (the label may already say it)."""
    info = gradcam.METHODS[key]
    return info.label if info.passes.lower() in info.label.lower() else f"{info.label} · {info.passes}"


def method_ui() -> str:
    st.sidebar.subheader("3 · Method")
    st.session_state.setdefault("method", "gradcam")
    method = st.sidebar.selectbox("Explanation method", list(gradcam.METHODS), key="method", format_func=method_label)
    info = gradcam.METHODS[method]
    st.sidebar.caption(f"{info.summary}  \n*{info.paper}* · {info.passes}")
    return method


def layer_label(explainer, path: str | None) -> str:
    """A layer's name with its plain gloss: "block4c_bn · stage 4 of 5, 14×14" (token layers say
    they are tokens shown as a grid)."""
    if path is None:
        return "no layer"
    notes = explainer.layer_notes
    if path in notes:  # a transformer's token layers share one grid: their stage says nothing
        return f"{path} (tokens as {notes[path].split(' grid')[0].rsplit(' ', 1)[-1]})"
    gloss = _glosses(explainer).get(path, "")
    return f"{path} · {gloss}" if gloss else path


def _glosses(explainer) -> dict[str, str]:
    # computed once per explainer: the picker formats every layer (140 on Lite0) on every run
    found = getattr(explainer, "_page_glosses", None)
    if found is None:
        found = explainer.layer_glosses
        explainer._page_glosses = found
    return found


def layer_ui(explainer, method: str, needs_layer: bool = False) -> tuple[str | None, bool]:
    """The layer (None for methods that use none) and augmentation smoothing. ``needs_layer``: the
    view uses a layer whatever the method (the concepts view): the picker is enabled and its layer
    returned, and smoothing, which that view does not use, is off."""
    state = page_state()
    layers = explainer.layers
    if not layers:
        st.sidebar.info(
            "This model has no layer with a spatial output, so CAM methods cannot run on it; "
            "gradient saliency, SmoothGrad and occlusion can."
        )
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
    uses_layer = gradcam.METHODS[method].uses_layer or needs_layer
    notes = explainer.layer_notes  # token layers of a vision transformer, reshaped to a grid
    default = explainer.default_layer
    layer = st.sidebar.selectbox(
        f"Layer ({len(layers)} spatial layers; default: {'the last' if default == layers[-1] else default})",
        layers,
        # The widget's own default is the layer in use, not the first: under load a rerun that a
        # click triggered while the page was still drawing came back with the picker's default
        # (docs/serving.md); now that default is the layer the page already had.
        index=layers.index(st.session_state["layer"]),
        key="layer",
        disabled=not uses_layer,
        format_func=lambda path: layer_label(explainer, path),
        help="A layer's stage says how deep it sits (stage 1 is next to the pixels; the last stage feeds the "
        "classifier) and its grid how fine its map can be (a 7×7 map points at one of 49 cells). "
        "Pixel methods (saliency, SmoothGrad, guided backprop) use no layer; the concepts view always "
        "uses one."
        + (
            " Token layers (batch, T, C) are shown as their patch-token grid; extra tokens such as "
            "a class token are dropped from the map."
            if notes
            else ""
        ),
    )
    if notes and uses_layer and not needs_layer:
        # Measured on the tests' toy ViT: gradient maps missed the object in a quarter of the
        # images where occlusion found it (README, Vision transformers).
        st.sidebar.caption(
            "A vision transformer: gradient maps can miss what a small or saturated "
            "transformer uses. Check one against **Occlusion**, which needs no gradient."
        )
    aug = bound(
        "aug_smooth",
        "smooth",
        lambda: st.sidebar.checkbox(
            "Augmentation smoothing (6 passes)", key="aug_smooth", disabled=not uses_layer or needs_layer
        ),
    )
    return layer if uses_layer else None, bool(aug and uses_layer and not needs_layer)


# -- main area pieces ---------------------------------------------------------------------------
def gallery_ui(items: list[ImageItem]) -> ImageItem:
    if len(items) == 1:
        return items[0]
    names = [f"{i + 1}. {item.name}" for i, item in enumerate(items)]
    state = page_state()
    if state.gallery not in names:
        state.gallery = names[0]
    choice = bound(
        "gallery",
        "gallery",
        lambda value: st.radio(
            f"Gallery: {len(items)} images", names, key="gallery", horizontal=True, index=names.index(value)
        ),
        valid=lambda v: v in names,
        as_default=True,
    )
    return items[names.index(choice)]


@functools.lru_cache(maxsize=4)
def class_labels(names: tuple[str, ...], imagenet: bool) -> list[str]:
    """The class picker's labels: "slot  (800)", and on an ImageNet model its other ILSVRC synonyms
    and WordNet id too ("slot  (800) · one-armed bandit · n04243546"), so the picker's search finds
    a class by any of them. (An LRU cache, not Streamlit's: st.cache_resource hashed the 1000 names
    on every run, a third of a class change's page time.)"""
    labels = [f"{name}  ({i})" for i, name in enumerate(names)]
    if imagenet:
        from model_zoo.imagenet import imagenet_synonyms, imagenet_wnids

        for i, (synonyms, wnid) in enumerate(zip(imagenet_synonyms(), imagenet_wnids())):
            others = [s for s in synonyms if s != names[i]]
            labels[i] += "".join(f" · {s}" for s in others) + f" · {wnid}"
    return labels


def group_label(key: str, groups: dict, probabilities: np.ndarray) -> str:
    name, members = groups[key]
    return f"{name} · group of {len(members)} · {percent(probabilities[list(members)].sum())}"


def class_picker_ui(explainer, probabilities: np.ndarray, context: tuple, slot: list | None = None):
    """Top-k buttons, the top groups (ImageNet models) and a searchable picker over all classes and
    groups. Returns the target: a class index, a :class:`gradcam.Group`, or None (the top prediction).

    ``slot``: a list to which an empty container, placed right under the top-k buttons, is appended;
    the explain view draws its pictures there, so that at 1280×720 they come before the search box."""
    state = page_state()
    names = explainer.class_names
    if state.class_context != context:
        if state.class_context is not None:  # a new image or model: back to its top prediction
            state.klass = None
            st.session_state.pop("klass", None)
        state.class_context = context
    if "class" in state.pending_link:  # a link's class or group, checked against this model
        wanted = state.pending_link.pop("class")
        state.klass = None
        st.session_state.pop("klass", None)
        try:
            state.klass = decode_choice(explainer, wanted)
        except GradCamError as exc:
            st.warning(f"Link parameter class={wanted!r} ignored: {exc}")
    groups = group_keys(explainer)
    if (isinstance(state.klass, int) and not 0 <= state.klass < len(names)) or (
        isinstance(state.klass, str) and state.klass not in groups
    ):
        state.klass = None
        st.session_state.pop("klass", None)

    order = class_order(probabilities)[:TOP_K]
    st.markdown("**Top predictions** · click one to explain it")
    columns = st.columns(TOP_K)
    chosen = state.klass if state.klass is not None else order[0]
    for column, index in zip(columns, order):
        column.button(
            f"{names[index]} · {percent(probabilities[index])}",
            key=f"top_{index}",
            type="primary" if index == chosen else "secondary",
            width="stretch",
            on_click=set_widget,
            args=("klass", "klass", index),
        )
    if slot is not None:
        slot.append(st.container())
    if groups:
        top_groups_ui(probabilities, groups, chosen)
    what = f"{len(names)} classes" + (f" and {len(groups)} groups" if groups else "")
    options = list(range(len(names))) + list(groups)
    labels = class_labels(tuple(names), explainer.has_imagenet_classes)
    choice = bound(
        "klass",
        "klass",
        lambda: st.selectbox(
            f"…or search all {what}" + (" (names, synonyms, WordNet ids)" if groups else ""),
            options,
            key="klass",
            format_func=lambda i: group_label(i, groups, probabilities) if isinstance(i, str) else labels[i],
            placeholder=f"Top prediction: {names[order[0]]}",
        ),
    )
    if groups:
        group_editor_ui(explainer)
    return as_target(choice)


def top_groups_ui(probabilities: np.ndarray, groups: dict, chosen) -> None:
    """Buttons for the most probable groups that say more than the top classes do."""
    found = [
        g
        for g in _top_groups(np.asarray(probabilities, dtype=np.float32).tobytes())
        if links.encode_target(gradcam.Group(g.group.name)) in groups
    ]
    if not found:
        return
    st.markdown("**Top groups** · several classes as one (the sum of their probabilities)")
    columns = st.columns(TOP_K)
    for column, entry in zip(columns, found):
        key = links.encode_target(gradcam.Group(entry.group.name))
        column.button(
            f"{entry.group.name} · {entry.group.size} classes · {percent(entry.probability)}",
            key=f"topgroup_{key}",
            type="primary" if key == chosen else "secondary",
            width="stretch",
            help=f"Most probable member: {percent(entry.best_probability)}",
            on_click=set_widget,
            args=("klass", "klass", key),
        )


@functools.lru_cache(maxsize=16)
def _top_groups(probabilities: bytes) -> list:
    """The most probable groups of one prediction (its probabilities' float32 bytes), computed once
    per image, not on every class change."""
    from model_zoo.imagenet import top_groups

    return top_groups(np.frombuffer(probabilities, dtype=np.float32), k=TOP_K - 1)


def group_editor_ui(explainer) -> None:
    """Make a group of one's own: pick its classes, name it; it travels in the page's link."""
    names = explainer.class_names
    editor = st.expander("Make your own group of classes", key="group_editor_open", on_change="rerun")
    if not editor.open:  # drawn only while open (Streamlit's lazy expander): a closed one costs nothing
        return
    with editor:
        c1, c2 = st.columns([1, 2])
        name = c1.text_input("Name", key="group_name", placeholder="e.g. hot drinks")
        members = c2.multiselect(
            "Classes",
            list(range(len(names))),
            key="group_members",
            format_func=lambda i: f"{names[i]}  ({i})",
            **no_select_all(),
        )
        st.button(
            "Explain this group",
            key="group_make",
            disabled=not members,
            on_click=_make_group,
            args=(explainer, name, members),
        )
        problem = st.session_state.pop("group_problem", None)
        if problem:
            st.error(problem)


def _make_group(explainer, name: str, members: list[int]) -> None:
    try:
        key = remember_group(explainer, gradcam.Group(members, name=name.strip() or None))
    except GradCamError as exc:
        st.session_state["group_problem"] = str(exc)
        return
    set_widget("klass", "klass", key)


def display_controls_ui() -> tuple[str, float, float]:
    """Colour map, opacity and the fraction of the map shown (display only: no model call)."""
    c1, c2, c3 = st.columns(3)
    colormaps = list(gradcam.COLORMAPS)
    colormap = bound(
        "colormap",
        "colormap",
        lambda value: c1.selectbox("Colour map", colormaps, key="colormap", index=colormaps.index(value)),
        valid=lambda v: v in colormaps,
        as_default=True,
    )
    alpha = bound(
        "alpha",
        "alpha",
        lambda value: c2.slider("Overlay opacity", 0.0, 1.0, float(value), step=0.05, key="alpha"),
        as_default=True,
    )
    top = bound(
        "top_percent",
        "top_percent",
        lambda value: c3.slider("Show the top X% of the map", 5, 100, int(value), step=5, key="top_percent"),
        as_default=True,
    )
    return colormap, float(alpha), top / 100.0


@functools.lru_cache(maxsize=32)
def _colour_bar_picture(colormap: str) -> str:
    """The colour map's ramp as a PNG data URI (sent inside the page's message, like the maps)."""
    ramp = np.repeat(np.linspace(0.0, 1.0, 256, dtype=np.float32)[None, :], 14, axis=0)
    return export.data_uri(export.png_bytes(gradcam.colorize(ramp, colormap)), "image/png")


def colour_bar(colormap: str, low: str = "0", high: str = "1 (peak)") -> None:
    """The colour map's ramp with its two ends named: one HTML element (a picture and two labels)."""
    st.html(
        f"<div class='gc-colour-bar'><img src='{_colour_bar_picture(colormap)}' alt='{html.escape(colormap)} colour "
        "scale' style='width: 100%; height: 14px; display: block'><div style='display: flex; justify-content: "
        f"space-between; font-size: 0.8em'><span>{html.escape(low)}</span><span>{html.escape(high)}</span></div></div>"
    )


def shown(heatmap: np.ndarray, fraction: float) -> np.ndarray:
    return gradcam.keep_top(heatmap, fraction) if fraction < 1.0 and heatmap.max() > 0 else heatmap


def blend(original: np.ndarray, heatmap: np.ndarray, colormap: str, alpha: float, fraction: float) -> np.ndarray:
    """The overlay as the page shows it: with "show the top X%", the original photo elsewhere."""
    return gradcam.render.overlay(original, heatmap, colormap, alpha, keep=fraction if fraction < 1.0 else None)


#: Bar colours of :func:`probability_chart`: a group's own bar, the explained class(es), the others.
BAR_COLOURS = {"group": "#a4243b", "explained": "#e4572e", "other": "#9db4c0"}
PROBABILITY_STYLE = """<style>
.gc-probs {display: grid; grid-template-columns: minmax(8rem, max-content) 1fr 4.5rem; gap: 3px 0.5rem;
  align-items: center; font-size: 0.8rem; line-height: 1.2;}
.gc-probs .gc-name {text-align: right; overflow: hidden; text-overflow: ellipsis; white-space: nowrap;}
.gc-probs .gc-track {height: 18px; background: rgba(128, 128, 128, 0.08);}
.gc-probs .gc-bar {display: block; height: 100%; min-width: 3px;}
.gc-probs .gc-value {font-variant-numeric: tabular-nums;}
.gc-probs .gc-explained {font-weight: 600;}
</style>"""


def probability_rows(class_names, explanation) -> list[tuple[str, float, str]]:
    """(label, probability, kind) of each bar of :func:`probability_chart`, top to bottom: the ten
    most probable classes, then up to five explained classes not among them; a group's own bar
    (kind "group") first. ``kind``: "group", "explained" or "other"."""
    probabilities = explanation.probabilities
    explained = list(explanation.target_members or (explanation.target_index,))
    order = class_order(probabilities)[:10]
    order += [i for i in sorted(explained, key=lambda i: -probabilities[i])[:5] if i not in order]
    rows = [
        (f"{class_names[i]} ({i})", float(probabilities[i]), "explained" if i in explained else "other") for i in order
    ]
    if explanation.target_members is not None:
        group = f"{explanation.target_name} (group of {len(explained)})"
        rows.insert(0, (group, float(explanation.target_probability), "group"))
    return rows


def probability_chart(explainer, explanation) -> None:
    """The ten most probable classes and the explained one(s), highlighted; a group's members are
    all highlighted under a first bar for the group itself. Each bar's label gives its true value
    (a bar too small to see is drawn a few pixels wide).

    Plain HTML and CSS bars in one element, not a chart library: a chart (Vega-Lite) made the
    browser fetch and run about 1 MB of JavaScript for every new page, which was a quarter of what
    a first page cost the browser (measured with twenty pages at once; docs/serving.md)."""
    cells = []
    for label, probability, kind in probability_rows(explainer.class_names, explanation):
        name, value = html.escape(label), percent(probability)
        emphasis = " gc-explained" if kind != "other" else ""
        width = min(max(probability, 0.0), 1.0) * 100
        cells.append(
            f'<span class="gc-name{emphasis}" title="{name}">{name}</span>'
            f'<span class="gc-track" title="{name}: {value}"><span class="gc-bar" '
            f'style="width: {width:.2f}%; background: {BAR_COLOURS[kind]}"></span></span>'
            f'<span class="gc-value{emphasis}">{value}</span>'
        )
    st.html(f'{PROBABILITY_STYLE}<div class="gc-probs" aria-label="Class probabilities">{"".join(cells)}</div>')


def seconds_text(explanation, cached: bool = False) -> str:
    """ "computed in 0.42 s" (or "in 3 ms": a new class on cached activations is that fast), or
    "cached (computed in ...)" when the page took the map from its cache (``cached``)."""
    took = _duration(explanation.seconds)
    return f"cached (computed in {took})" if cached else f"computed in {took}"


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 0.1 else f"{seconds:.2f} s"


# -- pictures: fragments redraw them without running the page or touching the model -------------------
Panel = tuple[str, np.ndarray, str]  # (title, heatmap in [0, 1], caption)


@st.fragment
def compare_pictures(
    item: ImageItem,
    pixels: np.ndarray,
    panels: Sequence[Panel],
    scale_note: str,
    pending: Sequence[str] = (),
    publish: Callable[[], None] = lambda: None,
    report: Callable[[dict], None] | None = None,
) -> None:
    """Overlays side by side (``pending``: titles of slow panels still computing, drawn as places).
    ``publish`` writes the page's link: called after the display controls, so that their changes
    reach the URL as they happen. ``report(display)`` draws the view's Report download under the
    pictures, with the display settings in use."""
    colormap, alpha, fraction = display_controls_ui()
    publish()
    loaders.trace("fragment run")
    small, _ = loaders.display_original(item.key, pixels)
    columns = st.columns(len(panels) + len(pending), vertical_alignment="top")
    for column, (title, heatmap, caption) in zip(columns, panels):
        with column:
            st.markdown(f"**{title}**")
            heat = loaders.shrink(heatmap)
            st.image(loaders.picture(blend(small, heat, colormap, alpha, fraction)), caption=caption, width="stretch")
    for column, title in zip(columns[len(panels) :], pending):
        with column:
            st.markdown(f"**{title}**")
            st.info("Computing… the other panels are ready.", icon=":material/hourglass_top:")
    colour_bar(colormap, "0", scale_note)
    if report is not None and not pending:
        report({"colormap": colormap, "alpha": alpha, "top_fraction": fraction})
