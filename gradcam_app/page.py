"""Grad-CAM Explorer: the web page. ``main()`` arranges the sidebar and the chosen view.

    streamlit run streamlit_app.py          (or: python3 run.py app, or: gradcam-app)

The engine (``gradcam``) explains, the zoo (``model_zoo``) loads models; the views live in
``gradcam_app.views`` and the router that picks one and keeps it in the URL in
``gradcam_app.router``, shared widgets in ``gradcam_app.widgets``, cached loaders in
``gradcam_app.loaders`` and the session's state in one ``gradcam_app.state.PageState``.

Own-model uploads can be switched off for public deployments: set the environment variable
``GRADCAM_ALLOW_MODEL_UPLOAD=0``, or ``allow_model_upload = false`` in ``.streamlit/secrets.toml``.
The Dataset view opens runs only from one folder: ``GRADCAM_RUNS_DIR``, else ``runs_dir`` in the
secrets, else ``./runs``.
"""

from __future__ import annotations

import functools

import numpy as np
import streamlit as st

import gradcam
import model_zoo
from gradcam import words
from gradcam_app import early, links, loaders, photos, present, runtime
from gradcam_app.loaders import ImageItem, Loaded, ModelOutcome
from gradcam_app.router import (
    BY_KEY,
    chosen_view,
    follow_link,
    open_view,
    page_link,
    route,
    view_picker,
    write_link,
)
from gradcam_app.settings import model_upload_allowed
from gradcam_app.state import PageState, bound, page_state, set_widget
from gradcam_app.views import DatasetInput, ViewInput
from gradcam_app.views.gallery import gallery_zip_ui
from gradcam_app.widgets import (
    USER_MODEL,
    Settings,
    gallery_ui,
    in_use_note,
    input_ui,
    layer_ui,
    method_ui,
    model_choice,
    model_ui,
)

DEFAULT_SAMPLE = loaders.DEFAULT_SAMPLE
TAGLINE = "why does the classifier say what it says?"
# At 800 px wide, five class buttons in a row cut their names ("Egypti…"): let the labels wrap.
# Compare panels' titles are kept to two lines so the pictures beside each other line up.
PAGE_STYLE = """<style>
[data-testid="stMainBlockContainer"] {padding-top: 2.75rem; padding-bottom: 2rem;}
[data-testid="stMainBlockContainer"] .gc-title {margin-bottom: -0.5rem;}
[data-testid="stMain"] [data-testid="stImage"] img {max-height: calc(100vh - 250px); object-fit: contain;}
[data-testid="stMain"] [data-testid="stButton"] button p {white-space: normal; overflow-wrap: anywhere;
  text-overflow: clip; overflow: visible;}
[data-testid="stMain"] [data-testid="stColumn"] [data-testid="stMarkdownContainer"] p:has(> strong:only-child)
  {min-height: 3em; margin-bottom: 0.25rem; line-height: 1.5em; overflow: hidden;}
</style>"""


@functools.lru_cache(maxsize=1)
def mark_picture() -> str:
    """The app's mark (the page icon's heatmap blob) as a PNG data URI, for the sidebar's top."""
    from gradcam import export

    return export.data_uri(export.png_bytes(np.asarray(page_icon())), "image/png")


@functools.lru_cache(maxsize=1)
def page_icon():
    """The page's icon: a small heatmap blob drawn here (a PIL image Streamlit serves itself)."""
    from PIL import Image

    y, x = np.mgrid[0:64, 0:64].astype(np.float32)
    blob = np.exp(-((x - 34.0) ** 2 + (y - 30.0) ** 2) / (2 * 15.0**2))
    return Image.fromarray(gradcam.colorize(blob.astype(np.float32), "jet"))


def model_problem(outcome: ModelOutcome, picked: str) -> None:
    """Say why the picked model cannot be used, in words a viewer can act on; for a model that needs
    a download the operator's details (folders, environment variables) are folded away."""
    if outcome.status == "missing":
        st.info(outcome.message)
        return
    if outcome.status != "needs_download":
        st.error(outcome.message)  # an own model refused: the message is about the viewer's own file
        return
    infos = {info.name: info for info in model_zoo.list_models()}
    label = infos[picked].label if picked in infos else picked
    st.error(
        f"**{label}** is not installed on this server yet, and the server cannot fetch it now. Pick a model "
        "marked *ready offline* in the sidebar to go on, or ask whoever runs this app to install it.",
        icon=":material/cloud_off:",
    )
    with st.expander("Details for the person who runs this server"):
        st.code(outcome.message, language=None, wrap_lines=True)


# -- models -------------------------------------------------------------------------------------
def load_choice(state: PageState, options: list[str]) -> tuple[str, ModelOutcome | None]:
    """Load the picked zoo model before the sidebar draws it; one that cannot load is replaced in the
    sidebar by the model in use, and the returned outcome says why."""
    name = model_choice(options)
    if name == USER_MODEL:
        return name, None
    with st.spinner(f"Loading {name} (the first time converts or downloads its weights)…"):
        outcome = loaders.load_zoo_model(name)
    if outcome.ok:
        state.model_in_use = name
        return name, outcome
    fallback = state.model_in_use or model_zoo.DEFAULT_MODEL
    if fallback != name:
        st.session_state["model"] = fallback  # the sidebar shows the model actually in use
    return name, outcome


def main() -> None:
    runtime.keep_keras_session()
    # The icon is a picture the app serves itself (a Material icon is drawn from a font another host
    # serves, which fails offline and tells that host who opened the page).
    st.set_page_config(page_title="Grad-CAM Explorer", page_icon=page_icon(), layout="wide")
    loaders.trace("page run")
    # The app's mark, first of all the page's elements: the browser then fetches the code that draws
    # pictures before the widgets' code (one after another, six at a time), and a fresh page's first
    # heatmap is on screen about a second sooner (measured on 2 cores: docs/serving.md).
    st.sidebar.image(mark_picture(), width=32)
    st.html(PAGE_STYLE)
    state = page_state()
    samples = loaders.sample_names()
    allow_upload = model_upload_allowed()
    options = [info.name for info in model_zoo.list_models()] + ([USER_MODEL] if allow_upload else [])
    problems = follow_link(state, options, samples)
    if "present" in st.session_state:  # the sidebar's toggle, drawn further down, as last set
        state.present = bool(st.session_state["present"])
    if state.present:
        st.html(present.PRESENT_STYLE)

    source_box = st.sidebar.container()  # "1 · Image": the image source and its widgets
    # One title, on one line with its tagline: at 1280x720 every line above the pictures pushes the
    # heatmap below the fold. Plain HTML (st.html): Markdown with HTML in it costs the browser one
    # more script (rehype-raw, 184 kB) on every new page.
    st.html(f"<div class='gc-title'><strong>Grad-CAM Explorer</strong> · {TAGLINE}</div>")
    bar = st.container()  # presentation mode's Previous / Next, filled once the image is known
    for line in problems:
        st.warning(line)
    # While TensorFlow loads, a sample's page sends its map before the sidebar's image widgets (their
    # place is kept): each element the browser has not seen yet costs it a script fetch first.
    known = early.sample_before_widgets(state, samples)
    if known is not None and early.show_before_model(state, [known], options, chosen_view(state)):
        input_ui(samples, DEFAULT_SAMPLE, where=source_box)
        return
    items = input_ui(samples, DEFAULT_SAMPLE, where=source_box)
    if early.show_before_model(state, items, options, chosen_view(state)):
        return  # TensorFlow and the model are loading: what is known is drawn, the page reruns when ready

    picked, outcome = load_choice(state, options)
    failed = outcome if outcome is not None and not outcome.ok else None
    files = model_ui(options, None)
    if picked == USER_MODEL:
        with st.spinner("Checking and loading your model…"):
            outcome = loaders.load_user_model(files["model"], files["names"], files["preprocessing"])
        failed = None if outcome.ok else outcome
    method = method_ui()

    loaded: Loaded | None = outcome.loaded if outcome is not None and outcome.ok else None
    if failed is not None:
        model_problem(failed, picked)
        fallback = state.model_in_use or model_zoo.DEFAULT_MODEL
        if fallback != picked:
            again = loaders.load_zoo_model(fallback)
            loaded = again.loaded if again.ok else None
        if loaded is None:
            st.stop()
        if picked == USER_MODEL:
            in_use_note(loaded)
        st.caption(f"Meanwhile the page keeps using **{loaded.zoo.label}** ({loaded.zoo.name}).")
    state.model_key = loaded.key
    chosen = route(chosen_view(state))
    layer, aug = layer_ui(loaded.explainer, method, needs_layer=chosen.needs_layer)
    settings = Settings(method, layer, aug)
    presentation_ui(state, loaded.explainer.class_names)

    # The view tabs come before the image is checked: a bad upload must not take them away.
    view = view_picker()
    if not chosen.needs_image:  # the Dataset view: needs no image
        chosen.function()(DatasetInput(loaded, settings, picked, options, lambda link: open_view(state, link)))
        write_link(
            state,
            links.View(
                model=loaded.zoo.name if picked != USER_MODEL else None,
                sample=state.sample if state.source == "Sample" else None,
                method=method,
                layer=layer,
                view=chosen.key,
                colormap=state.colormap,
                alpha=float(state.alpha),
                top_percent=int(state.top_percent),
                aug_smooth=bool(aug),
                run=state.dataset_run,
            ),
        )
        return
    state.photo_link = None
    if not items and state.source == "Photo":  # never another image in its place
        st.error(photos.gone_message(), icon=":material/image_not_supported:")
        st.stop()
    if not items:
        st.info(
            "The dataset image could not be opened: the sidebar says why. Open another from the **Dataset** "
            "view, or pick another source."
            if state.source == "Run"
            else "Upload one or several images, or take a photo, in the sidebar — or switch the source back to "
            "**Sample**."
        )
        st.stop()
    good: list[ImageItem] = []
    for item in items:
        try:
            loaders.decode_cached(item.key, item.name, item.data)
            good.append(item)
        except gradcam.GradCamError as exc:
            st.error(str(exc))
    if not good:
        st.stop()
    item = gallery_ui(good)
    # the link carries the photo when the store holds it: a sample travels by its name instead
    state.photo_link = (
        item.sha256 if state.source in ("Upload", "Camera", "Photo") and item.sha256 in state.stored else None
    )
    if state.source in ("Upload", "Camera") and state.photo_link is None:
        st.caption("Links to this view cannot carry this photo (the server keeps no uploads): send the photo too.")
    decoded = loaders.decode_cached(item.key, item.name, item.data)
    for note in decoded.notes:
        st.caption(f"{item.name}: {note}")
    small = words.small_image_warning(decoded.original_size, loaded.explainer.input_size)
    if small:  # said before the map, which over such an image is one flat colour
        st.warning(small, icon=":material/photo_size_select_small:")
    # The class probabilities come with the default Grad-CAM map (one pass; usually the map shown);
    # a model without a spatial layer gets them with gradient saliency, which any model allows.
    if loaded.explainer.layers:
        first, layer0 = "gradcam", loaded.explainer.default_layer
    else:
        first, layer0 = "saliency", None
    try:
        (top,), _ = loaders.run_explain(loaded, item, decoded.pixels, first, layer0, False, [None])
    except gradcam.GradCamError as exc:  # the server's queue was full too long: say so, not a traceback
        st.error(str(exc))
        st.stop()

    def publish() -> None:
        write_link(state, page_link(state, loaded, picked, item, view, method, layer, aug))

    if state.present:
        if not state.sequence:  # prepared for this image: photo, top class, a ruled-out class, contrast
            base = page_link(state, loaded, picked, item, view, method, layer, aug).to_query()
            state.sequence, state.step = present.prepared_sequence(base, top.probabilities), 0
        state.step = min(max(state.step, 0), len(state.sequence) - 1)
        with bar:
            present.presenter_bar(
                state.sequence, state.step, loaded.explainer.class_names, lambda i: go_to_step(state, i)
            )
        if state.sequence[state.step].get("show") == "photo":
            photo_step(item, decoded)
            publish()
            return

    route(view).function()(
        ViewInput(loaded, item, decoded, settings, top.probabilities, (item.key, loaded.key), publish)
    )
    gallery_zip_ui(loaded, good, settings)

    publish()


def go_to_step(state: PageState, index: int | None) -> None:
    """Show step ``index`` of the presentation (a button's callback, so the step's view is applied
    before the page runs, as a followed link is); None leaves presentation mode."""
    if index is None:
        set_widget("present", "present", False)
        return
    if not 0 <= index < len(state.sequence):
        return
    state.step = index
    step = state.sequence[index]
    if step.get("show") != "photo":
        link, _ = links.View.from_query(step, methods=list(gradcam.METHODS), views=list(BY_KEY))
        open_view(state, link)


def photo_step(item: ImageItem, decoded) -> None:
    """A presentation's photo step: the photo alone, as large as the screen allows."""
    _, jpeg = loaders.display_original(item.key, decoded.pixels)
    width, height = decoded.original_size
    # centred, and no taller than the screen allows (the page's style caps every picture's height)
    with st.columns([1, 4, 1])[1]:
        st.image(jpeg, caption=f"{item.name} · {width}×{height} pixels", width="stretch")


def presentation_ui(state: PageState, class_names: list[str]) -> None:
    """The sidebar's presentation section: the toggle, and the sequence (add this view, add the photo,
    clear), which travels in the page's link."""
    st.sidebar.subheader("4 · Present")
    bound(
        "present",
        "present",
        lambda: st.sidebar.toggle(
            "Presentation mode",
            key="present",
            help="Hides the sidebar and the controls, enlarges the pictures, and steps through the sequence "
            "with the arrow keys (Escape leaves). Without a sequence of your own, one is prepared: the photo, "
            "the top class, a class the model rules out, and the contrast.",
        ),
    )
    c1, c2, c3 = st.sidebar.columns(3)
    c1.button(
        "Add view", key="gc_add_step", on_click=_add_step, args=(state,), help="Add the view on the page as a step"
    )
    c2.button(
        "Add photo", key="gc_add_photo", on_click=_add_photo, args=(state,), help="Add a step showing the photo alone"
    )
    c3.button("Clear", key="gc_clear_steps", on_click=_clear_steps, args=(state,), disabled=not state.sequence)
    if state.sequence:
        st.sidebar.caption("Sequence: " + " → ".join(present.step_title(step, class_names) for step in state.sequence))
    else:
        st.sidebar.caption("No sequence yet: presentation mode prepares one for the image.")


def _add_step(state: PageState) -> None:
    if len(state.sequence) < present.MAX_STEPS:
        state.sequence = [*state.sequence, present.step_of(state.written_query or {})]


def _add_photo(state: PageState) -> None:
    if len(state.sequence) < present.MAX_STEPS:
        state.sequence = [*state.sequence, dict(present.PHOTO)]


def _clear_steps(state: PageState) -> None:
    state.sequence, state.step = [], 0


if __name__ == "__main__":
    main()
