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

import streamlit as st

import gradcam
import model_zoo
from gradcam_app import links, loaders, runtime
from gradcam_app.loaders import ImageItem, Loaded, ModelOutcome
from gradcam_app.router import chosen_view, follow_link, open_view, page_link, route, view_picker, write_link
from gradcam_app.settings import model_upload_allowed
from gradcam_app.state import PageState, page_state
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
# At 800 px wide, five class buttons in a row cut their names ("Egypti…"): let the labels wrap.
# Compare panels' titles are kept to two lines so the pictures beside each other line up.
PAGE_STYLE = """<style>
[data-testid="stMain"] [data-testid="stButton"] button p {white-space: normal; overflow-wrap: anywhere;
  text-overflow: clip; overflow: visible;}
[data-testid="stMain"] [data-testid="stColumn"] [data-testid="stMarkdownContainer"] p:has(> strong:only-child)
  {min-height: 3em; margin-bottom: 0.25rem; line-height: 1.5em; overflow: hidden;}
</style>"""


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
    st.set_page_config(page_title="Grad-CAM Explorer", page_icon=":material/local_fire_department:", layout="wide")
    loaders.trace("page run")
    st.html(PAGE_STYLE)
    state = page_state()
    samples = loaders.sample_names()
    allow_upload = model_upload_allowed()
    options = [info.name for info in model_zoo.list_models()] + ([USER_MODEL] if allow_upload else [])
    problems = follow_link(state, options, samples)

    st.sidebar.title("Grad-CAM Explorer")
    items = input_ui(samples, DEFAULT_SAMPLE)
    st.title("Grad-CAM Explorer")
    st.caption(
        "Why does the classifier say what it says? Pick an image, a model and a class; "
        "compare classes, methods and layers, or see the parts the model sees."
    )
    for line in problems:
        st.warning(line)

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
        (st.info if failed.status == "missing" else st.error)(failed.message)
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

    if not chosen.needs_image:  # the Dataset view: drawn before any image is checked
        view_picker()
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
    decoded = loaders.decode_cached(item.key, item.name, item.data)
    for note in decoded.notes:
        st.caption(f"{item.name}: {note}")

    view = view_picker()
    # The class probabilities come with the default Grad-CAM map (one pass; usually the map shown);
    # a model without a spatial layer gets them with gradient saliency, which any model allows.
    if loaded.explainer.layers:
        first, layer0 = "gradcam", loaded.explainer.default_layer
    else:
        first, layer0 = "saliency", None
    (top,), _ = loaders.run_explain(loaded, item, decoded.pixels, first, layer0, False, [None])

    def publish() -> None:
        write_link(state, page_link(state, loaded, picked, item, view, method, layer, aug))

    route(view).function()(
        ViewInput(loaded, item, decoded, settings, top.probabilities, (item.key, loaded.key), publish)
    )
    gallery_zip_ui(loaded, good, settings)

    publish()


if __name__ == "__main__":
    main()
