"""The app's router: which view a run draws, and the URL that says so.

The views are the :data:`ROUTES` below, one line each: the ``?view=`` name, the tab's label, the
function that draws it (``module:function`` in :mod:`gradcam_app.views`, imported when first drawn)
and what the view keeps in its link. A new view is one module in ``gradcam_app/views/`` and one
line here. The tabs are a radio (key ``view``) and the whole view lives in the URL's query
parameters (:class:`gradcam_app.links.View`): :func:`follow_link` applies a shared link on the
first run and the browser's Back/Forward later, :func:`write_link` writes each change as one
browser history entry.

Why not Streamlit's ``st.navigation``: its pages live at URL paths (``/classes``), so every link
shared so far (``/?view=classes&model=...``) would open the default page and need a redirect, and
the view and its settings would be split between the path and the query; the sidebar and the
image are shared by every view, which st.navigation would draw again per page. This router keeps
the query format, so old links open unchanged and Back/Forward step through views as before.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

import gradcam
import model_zoo
from gradcam_app import links, loaders, present
from gradcam_app.groups import as_target
from gradcam_app.loaders import ImageItem, Loaded
from gradcam_app.state import PageState, bound
from gradcam_app.widgets import USER_MODEL

#: Fields of :class:`~gradcam_app.links.View` that belong to one view: a link keeps them only for
#: the views whose :attr:`Route.link` names them (the others keep their defaults, so links stay short).
VIEW_FIELDS = (
    "compare_classes",
    "compare_layers",
    "compare_fuse",
    "compare_models",
    "shared_scale",
    "concepts_k",
    "run_b",
)


@dataclass(frozen=True)
class Route:
    """One view of the page.

    Attributes:
        key: its name in the URL (``?view=explain``) and in the page's state.
        label: the tab's text.
        draw: ``"module:function"`` in :mod:`gradcam_app.views`; the function takes a
            :class:`~gradcam_app.views.ViewInput` (a :class:`~gradcam_app.views.DatasetInput` when
            ``needs_image`` is False) and draws the view.
        link: the fields of :data:`VIEW_FIELDS` the view keeps in its link.
        picks_class: whether the view explains the class picked in the page's class picker (the
            link then carries it).
        needs_image: False for a view drawn before any image is read (the Dataset and Compare runs views).
        needs_layer: whether the sidebar must offer a layer even for a pixel method.
    """

    key: str
    label: str
    draw: str
    link: tuple[str, ...] = ()
    picks_class: bool = True
    needs_image: bool = True
    needs_layer: bool = False

    def function(self) -> Callable[[Any], None]:
        """The function that draws this view (imported on first use)."""
        module, _, name = self.draw.partition(":")
        return getattr(importlib.import_module(f"gradcam_app.views.{module}"), name)


#: The views, in the tabs' order; the first is the default.
ROUTES = (
    Route("explain", "Explain", "explain:explain_view"),
    Route("classes", "Compare classes", "classes:compare_classes_view", link=("compare_classes",), picks_class=False),
    Route("methods", "Compare methods", "methods:compare_methods_view"),
    Route("layers", "Compare layers", "layers:compare_layers_view", link=("compare_layers", "compare_fuse")),
    Route("models", "Compare models", "models:compare_models_view", link=("compare_models", "shared_scale")),
    Route(
        "concepts",
        "What parts does the model see?",
        "concepts:concepts_view",
        link=("concepts_k",),
        picks_class=False,
        needs_layer=True,
    ),
    Route("dataset", "Dataset", "dataset:dataset_view", needs_image=False),
    Route(
        "runs", "Compare runs", "compare_runs:compare_runs_view", link=("run_b",), picks_class=False, needs_image=False
    ),
)
#: The routes by their URL name.
BY_KEY = {r.key: r for r in ROUTES}
DEFAULT_VIEW = ROUTES[0].key
DEFAULT_COMPARE_METHODS = PageState().compare_methods


def route(key: str | None) -> Route:
    """The route of view ``key`` (None or an unknown name: the default view)."""
    return BY_KEY.get(key or DEFAULT_VIEW, BY_KEY[DEFAULT_VIEW])


def chosen_view(state: PageState) -> str:
    """The view the picker will show on this run, before it is drawn."""
    value = st.session_state.get("view")
    return value if value in BY_KEY else state.view if state.view in BY_KEY else DEFAULT_VIEW


def view_picker() -> str:
    """The view tabs (a bound radio)."""
    keys = list(BY_KEY)
    return bound(
        "view",
        "view",
        lambda value: st.radio(
            "View",
            keys,
            key="view",
            horizontal=True,
            format_func=lambda key: BY_KEY[key].label,
            label_visibility="collapsed",
            index=keys.index(value),
        ),
        valid=lambda v: v in BY_KEY,
        as_default=True,
    )


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
        params, models=models, samples=samples, methods=list(gradcam.METHODS), views=list(BY_KEY)
    )
    follow_photo(state, params.get("photo"))
    state.present, state.sequence, state.step, more = present.read(params)
    st.session_state.pop("present", None)  # the toggle starts from the link's value
    problems += more
    if first and not params:
        return problems
    apply_view(state, link, first)
    return problems


def follow_photo(state: PageState, photo: str | None) -> None:
    """A link's ``photo=`` (a photo id in the server's store): the page shows that photo, or says it is
    gone; never another image. A Back or Forward onto the photo this session uploaded keeps the
    uploader as it is."""
    if not photo:
        return
    photo = str(photo).strip().lower()
    if state.source in ("Upload", "Camera") and photo in state.stored:
        return
    state.photo, state.source = photo, "Photo"
    st.session_state["source"] = "Photo"


def apply_view(state: PageState, link: links.View, first: bool = False) -> None:
    """Set the page to ``link``'s view, as a followed link does (the Dataset view calls it too, to
    open a run's image in the explorer). ``first``: the session's first run, where values the link
    does not give keep the page's own choices rather than their defaults."""
    if link.model or not first:
        st.session_state["model"] = link.model or model_zoo.DEFAULT_MODEL
    if link.sample:
        state.source, state.sample = "Sample", link.sample
    if link.run and link.item is not None and route(link.view).needs_image:
        state.source, state.run_image = "Run", (link.run, link.item)  # resolved in the runs folder when read
    elif link.run:
        state.pending_run = link.run  # checked inside the runs folder by the Dataset (or Compare runs) view
    if link.run_b:
        state.pending_run_b = link.run_b  # checked inside the runs folder by the Compare runs view
    if link.method or not first:
        st.session_state["method"] = link.method or "gradcam"
    state.view = link.view or DEFAULT_VIEW
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
    # The widgets are set to the link's values rather than forgotten: a forgotten widget would be
    # drawn with the right value on the server while the browser kept showing its old one (after
    # Back, the view tabs said "What parts does the model see?" over the Explain view).
    values = {
        "source": state.source,
        "sample": state.sample,
        "view": state.view,
        "colormap": state.colormap,
        "alpha": state.alpha,
        "top_percent": state.top_percent,
        "aug_smooth": state.smooth,
        "compare_methods": state.compare_methods,
        "compare_contrast": state.compare_contrast,
        "shared_scale": state.shared_scale,
        "compare_fuse": state.compare_fuse,
        "concepts_k": state.concepts_k,
    }
    for key, value in values.items():
        if value is None:
            st.session_state.pop(key, None)
        else:
            st.session_state[key] = value
    st.session_state.pop("compare_models", None)  # the view picks its default pair when the link gives none
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
    # An uploaded photo travels by its id in the server's photo store (gradcam_app.photos), and the
    # presentation (gradcam_app.present) by its sequence and step.
    here = route(link.view)
    if not here.needs_image and "run_b" in here.link and link.run_b is None:
        # The page writes a view without an image from the run open (run A); run B is this view's own.
        link = link.replace(run_b=state.compare_run_b)
    photo = {"photo": state.photo_link} if state.photo_link and here.needs_image else {}
    params = link.to_query() | photo | present.query(state.present, state.sequence, state.step)
    if params == state.incoming_query:
        # The browser shows this URL already (a link followed, Back or Forward): writing it again
        # would arrive after a second Back and put this URL over the entry that Back went to.
        state.written_query = params
    elif params != state.written_query:
        loaders.trace(f"link out {params}")
        st.query_params.from_dict(params)
        state.written_query = params


def page_link(
    state: PageState, loaded: Loaded, picked: str, item: ImageItem, view: str, method: str, layer: str | None, aug: bool
) -> links.View:
    """The view as a link, from the page's state: what :func:`write_link` writes. A field of
    :data:`VIEW_FIELDS` is kept only when the view's route names it."""
    names = loaded.explainer.class_names
    here = route(view)
    # The fields of VIEW_FIELDS, computed only for a view that keeps them (the others' defaults).
    own: dict[str, Callable[[], Any]] = {
        "compare_classes": lambda: tuple(links.encode_target(as_target(i), names) for i in state.compare_classes or ()),
        "compare_layers": lambda: tuple(state.compare_layers or ()),
        "compare_fuse": lambda: bool(state.compare_fuse),
        "compare_models": lambda: tuple(m for m in state.compare_models or () if m != USER_MODEL),
        "shared_scale": lambda: bool(state.shared_scale),
        "concepts_k": lambda: int(state.concepts_k),
    }
    return links.View(
        model=loaded.zoo.name if picked != USER_MODEL else None,
        sample=item.name if state.source == "Sample" else None,
        target=links.encode_target(as_target(state.klass) if here.picks_class else None, names),
        method=method,
        layer=layer,
        view=view,
        colormap=state.colormap,
        alpha=float(state.alpha),
        top_percent=int(state.top_percent),
        aug_smooth=bool(aug),
        compare_contrast=state.compare_contrast,
        compare_methods=tuple(state.compare_methods) if state.compare_methods != DEFAULT_COMPARE_METHODS else (),
        run=state.run_image[0] if state.source == "Run" and state.run_image else None,
        item=state.run_image[1] if state.source == "Run" and state.run_image else None,
        **{name: make() for name, make in own.items() if name in here.link},
    )


__all__ = [
    "BY_KEY",
    "DEFAULT_VIEW",
    "ROUTES",
    "Route",
    "apply_view",
    "chosen_view",
    "follow_link",
    "open_view",
    "page_link",
    "route",
    "view_picker",
    "write_link",
]
