"""Grad-CAM Explorer: the web page. ``main()`` arranges the sidebar and the chosen view.

    streamlit run streamlit_app.py          (or: python3 run.py app, or: gradcam-app)

The engine (``gradcam``) explains, the zoo (``model_zoo``) loads models; the views live in
``gradcam_app.views``, shared widgets in ``gradcam_app.widgets``, cached loaders in
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
from gradcam import links
from gradcam_app import early, loaders, runtime
from gradcam_app.loaders import ImageItem, Loaded, ModelOutcome
from gradcam_app.state import PageState, bound, page_state
from gradcam_app.views import VIEWS, DatasetInput, ViewInput
from gradcam_app.views.classes import compare_classes_view
from gradcam_app.views.concepts import concepts_view
from gradcam_app.views.dataset import dataset_view
from gradcam_app.views.explain import explain_view
from gradcam_app.views.gallery import gallery_zip_ui
from gradcam_app.views.layers import compare_layers_view
from gradcam_app.views.methods import compare_methods_view
from gradcam_app.views.models import compare_models_view
from gradcam_app.widgets import (
    USER_MODEL,
    Settings,
    as_target,
    gallery_ui,
    in_use_note,
    input_ui,
    layer_ui,
    method_ui,
    model_choice,
    model_ui,
    model_upload_allowed,
)

DEFAULT_SAMPLE = loaders.DEFAULT_SAMPLE
DRAW = {
    "explain": explain_view,
    "classes": compare_classes_view,
    "methods": compare_methods_view,
    "layers": compare_layers_view,
    "models": compare_models_view,
    "concepts": concepts_view,
    "dataset": dataset_view,
}
DEFAULT_COMPARE_METHODS = PageState().compare_methods
# At 800 px wide, five class buttons in a row cut their names ("Egypti…"): let the labels wrap.
# Compare panels' titles are kept to two lines so the pictures beside each other line up.
PAGE_STYLE = """<style>
[data-testid="stMain"] [data-testid="stButton"] button p {white-space: normal; overflow-wrap: anywhere;
  text-overflow: clip; overflow: visible;}
[data-testid="stMain"] [data-testid="stColumn"] [data-testid="stMarkdownContainer"] p:has(> strong:only-child)
  {min-height: 3em; margin-bottom: 0.25rem; line-height: 1.5em; overflow: hidden;}
</style>"""


# -- links --------------------------------------------------------------------------------------
def follow_link(state: PageState, models: list[str], samples: list[str]) -> list[str]:
    """Apply the URL's view when it is not the one this page last wrote: a shared link on the first
    run, or the browser's Back/Forward later (Streamlit reruns the page with that URL). Values the
    link does not give take their defaults. Returns the problems to show (values ignored)."""
    params = {key: str(value) for key, value in st.query_params.to_dict().items()}
    first = state.written_query is None
    state.incoming_query = params
    loaders.trace(f"link in {params} last written {state.written_query} history={history_navigation()}")
    # A widget's rerun can carry the URL from before this page's last write (the browser had not
    # applied it yet): only a first run or the browser's Back/Forward may change the view.
    if params == state.written_query or not (first or history_navigation()):
        return []
    link, problems = links.View.from_query(
        params, models=models, samples=samples, methods=list(gradcam.METHODS), views=list(VIEWS)
    )
    if first and not params:
        return problems
    apply_view(state, link, first)
    return problems


def apply_view(state: PageState, link: links.View, first: bool = False) -> None:
    """Set the page to ``link``'s view, as a followed link does (the Dataset view calls it too, to
    open a run's image in the explorer). ``first``: the session's first run, where values the link
    does not give keep the page's own choices rather than their defaults."""
    if link.model or not first:
        st.session_state["model"] = link.model or model_zoo.DEFAULT_MODEL
    if link.sample:
        state.source, state.sample = "Sample", link.sample
    if link.run and link.item is not None and link.view != "dataset":
        state.source, state.run_image = "Run", (link.run, link.item)  # resolved in the runs folder when read
    elif link.run:
        state.pending_run = link.run  # checked inside the runs folder by the Dataset view
    if link.method or not first:
        st.session_state["method"] = link.method or "gradcam"
    state.view = link.view or "explain"
    state.colormap, state.alpha, state.top_percent, state.smooth = (
        link.colormap,
        float(link.alpha),
        int(link.top_percent),
        bool(link.aug_smooth),
    )
    state.compare_methods = list(link.compare_methods) or list(DEFAULT_COMPARE_METHODS)
    state.compare_contrast = bool(link.compare_contrast)
    # compared models: names already checked against the page's models (None: the view's default pair)
    state.compare_models = [m for m in link.compare_models if m != USER_MODEL] or None
    state.shared_scale = bool(link.shared_scale)
    state.compare_fuse, state.concepts_k = bool(link.compare_fuse), int(link.concepts_k)
    for key in (
        "source",
        "sample",
        "view",
        "colormap",
        "alpha",
        "top_percent",
        "aug_smooth",
        "compare_methods",
        "compare_contrast",
        "compare_models",
        "shared_scale",
        "compare_fuse",
        "concepts_k",
    ):
        st.session_state.pop(key, None)  # bound widgets start from the state on this run
    # class, layers and compared classes depend on the model: checked once it is loaded
    state.pending_link = {
        "class": link.target,
        "layer": link.layer,
        "classes": link.compare_classes,
        "layers": link.compare_layers,
    }


def open_view(state: PageState, link: links.View) -> None:
    """Apply ``link`` from a button's callback (the Dataset view's Explain): as a followed link does,
    and the view and image-source pickers, which the browser shows and would otherwise send back
    with their old values on the next run, are set to the new view too."""
    apply_view(state, link)
    st.session_state["view"] = state.view
    st.session_state["source"] = state.source


def history_navigation() -> bool:
    """Whether this run comes from the browser's Back or Forward button."""
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    ctx = get_script_run_ctx()
    return bool(getattr(ctx, "is_history_navigation", False))


def write_link(state: PageState, link: links.View) -> None:
    """Write the view into the URL when it changed. Each change is one browser history entry, which
    Back undoes through :func:`follow_link` (rather than the page rewriting the URL back)."""
    params = link.to_query()
    if params == state.incoming_query:
        # The browser shows this URL already (a link followed, Back or Forward): writing it again
        # would arrive after a second Back and put this URL over the entry that Back went to.
        state.written_query = params
    elif params != state.written_query:
        loaders.trace(f"link out {params}")
        st.query_params.from_dict(params)
        state.written_query = params


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
    layer, aug = layer_ui(loaded.explainer, method, needs_layer=chosen_view(state) == "concepts")
    settings = Settings(method, layer, aug)

    if chosen_view(state) == "dataset":  # needs no image: drawn before the image is checked
        view_picker()
        DRAW["dataset"](DatasetInput(loaded, settings, picked, options, lambda link: open_view(state, link)))
        write_link(
            state,
            links.View(
                model=loaded.zoo.name if picked != USER_MODEL else None,
                sample=state.sample if state.source == "Sample" else None,
                method=method,
                layer=layer,
                view="dataset",
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
    try:
        (top,), _ = loaders.run_explain(loaded, item, decoded.pixels, first, layer0, False, [None])
    except gradcam.GradCamError as exc:  # the server's queue was full too long: say so, not a traceback
        st.error(str(exc))
        st.stop()

    def publish() -> None:
        write_link(state, page_link(state, loaded, picked, item, view, method, layer, aug))

    DRAW[view](ViewInput(loaded, item, decoded, settings, top.probabilities, (item.key, loaded.key), publish))
    gallery_zip_ui(loaded, good, settings)

    publish()


def page_link(
    state: PageState, loaded: Loaded, picked: str, item: ImageItem, view: str, method: str, layer: str | None, aug: bool
) -> links.View:
    """The view as a link, from the page's state: what :func:`write_link` writes."""
    names = loaded.explainer.class_names
    return links.View(
        model=loaded.zoo.name if picked != USER_MODEL else None,
        sample=item.name if state.source == "Sample" else None,
        target=links.encode_target(as_target(state.klass) if view not in ("classes", "concepts") else None, names),
        method=method,
        layer=layer,
        view=view,
        colormap=state.colormap,
        alpha=float(state.alpha),
        top_percent=int(state.top_percent),
        aug_smooth=bool(aug),
        compare_classes=tuple(links.encode_target(as_target(i), names) for i in state.compare_classes or ())
        if view == "classes"
        else (),
        compare_contrast=state.compare_contrast,
        compare_methods=tuple(state.compare_methods) if state.compare_methods != DEFAULT_COMPARE_METHODS else (),
        compare_layers=tuple(state.compare_layers or ()) if view == "layers" else (),
        compare_models=tuple(m for m in state.compare_models or () if m != USER_MODEL) if view == "models" else (),
        shared_scale=bool(state.shared_scale) if view == "models" else False,
        compare_fuse=bool(state.compare_fuse) if view == "layers" else False,
        concepts_k=int(state.concepts_k) if view == "concepts" else links.View().concepts_k,
        run=state.run_image[0] if state.source == "Run" and state.run_image else None,
        item=state.run_image[1] if state.source == "Run" and state.run_image else None,
    )


def chosen_view(state: PageState) -> str:
    """The view the picker will show on this run, before it is drawn."""
    value = st.session_state.get("view")
    return value if value in VIEWS else state.view if state.view in VIEWS else "explain"


def view_picker() -> str:
    """The view tabs (a bound radio)."""
    return bound(
        "view",
        "view",
        lambda value: st.radio(
            "View",
            list(VIEWS),
            key="view",
            horizontal=True,
            format_func=VIEWS.get,
            label_visibility="collapsed",
            index=list(VIEWS).index(value),
        ),
        valid=lambda v: v in VIEWS,
        as_default=True,
    )


if __name__ == "__main__":
    main()
