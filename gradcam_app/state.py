"""The page's state: one typed object per browser session, held in ``st.session_state``.

Streamlit forgets a widget's value when a run does not draw it (a view that is not shown, a
widget below an early ``st.stop()``). Every value that must outlive such a run lives in
:class:`PageState`; a widget is *bound* to a field: drawn with the field's value when Streamlit has
forgotten it, and the field updated from the widget after it is drawn.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import streamlit as st

STATE_KEY = "gradcam_page_state"
T = TypeVar("T")


@dataclass
class PageState:
    """Everything the page remembers between runs for one session (widget values it must keep,
    what a view's defaults were computed for, the last URL it wrote)."""

    token: str = field(default_factory=lambda: uuid.uuid4().hex)  # keys this session's uploads
    # -- the view a person chose (kept across runs that do not draw the widget) --
    source: str = "Sample"
    sample: str | None = None
    gallery: str | None = None
    view: str = "explain"
    klass: int | str | None = None  # a class index, a group key ("group:dog"), None: the top prediction
    colormap: str = "jet"
    alpha: float = 0.5
    top_percent: int = 100
    smooth: bool = False  # augmentation smoothing
    scale_to_top: bool = False  # "show strength": the map on the top class's scale
    compare_classes: list[int | str] | None = None  # class indices and group keys
    custom_groups: list[str] = field(default_factory=list)  # own groups' keys ("group:name=440+907")
    compare_contrast: bool = True
    compare_methods: list[str] = field(default_factory=lambda: ["gradcam", "gradcam++", "layercam", "eigencam"])
    compare_layers: list[str] | None = None
    compare_models: list[str] | None = None  # zoo names (and USER_MODEL) of the compare-models view
    shared_scale: bool = False  # compare-models: every model's map on one colour scale
    compare_fuse: bool = False  # compare layers: add one map fusing the compared layers
    concepts_k: int = 4  # the concepts view's number of concepts
    # -- what those choices were made for: a new image or model resets them --
    class_context: tuple | None = None
    compare_context: tuple | None = None
    layers_model: str | None = None
    # -- the model actually in use (a failed load falls back to the last good one) --
    model_in_use: str | None = None
    model_key: str = ""
    # -- links: the query parameters this page last wrote, and link values checked once a model is loaded --
    written_query: dict[str, str] | None = None
    incoming_query: dict[str, str] | None = None  # the URL this run came with
    pending_link: dict[str, str] = field(default_factory=dict)
    # -- the Dataset view: the run open, a link's run still to check, and a run's image in the explorer --
    dataset_run: str | None = None  # also run A of the "Compare runs" view
    pending_run: str | None = None
    compare_run_b: str | None = None  # run B of the "Compare runs" view
    pending_run_b: str | None = None  # a link's run B, still to check inside the runs folder
    run_image: tuple[str, int] | None = None  # (run name, input index): the "Run" image source
    dataset_notice: str | None = None  # said once, on the run after the one that finished a run
    # -- photos kept on the server for links (gradcam_app.photos) --
    photo: str | None = None  # the "Shared photo" source: a link's photo id (SHA-256)
    stored: set = field(default_factory=set)  # photo ids this session has put in the store
    photo_link: str | None = None  # the photo id the page's link carries on this run (None: none)
    # -- presentation mode (gradcam_app.present): on or off, the sequence of steps, the step shown --
    present: bool = False
    sequence: list = field(default_factory=list)  # steps: link queries without the image
    step: int = 0
    # -- on-demand results kept for the current view --
    faithfulness: tuple | None = None
    layer_ranking: tuple | None = None  # (what was ranked, the rows) of the compare-layers view
    trust_reports: dict = field(default_factory=dict)  # the maps' trust blocks, by map (latest few)
    slow_done: set = field(default_factory=set)  # slow compare-methods maps already in the cache


def page_state() -> PageState:
    """This session's :class:`PageState` (created on the first run)."""
    state = st.session_state.get(STATE_KEY)
    if not isinstance(state, PageState):
        state = PageState()
        st.session_state[STATE_KEY] = state
    return state


def bound(
    key: str, name: str, draw: Callable[..., T], *, valid: Callable[[Any], bool] | None = None, as_default: bool = False
) -> T:
    """Draw a keyed widget whose value is kept in ``page_state().<name>``; afterwards the state
    holds what the widget returned.

    ``as_default=False``: if Streamlit forgot the widget (not drawn last run) or holds a value
    ``valid`` refuses, the widget's key is set to the state's value first; ``draw()`` must then not
    pass its own default. ``as_default=True``: ``draw(value)`` passes the state's value as the
    widget's default (``index=``/``value=``), which Streamlit uses only when it creates the widget;
    that is the safe way for widgets inside fragments (sliders, the colour map), whose value the
    browser keeps.
    """
    state = page_state()
    if as_default:
        if valid is not None and key in st.session_state and not valid(st.session_state[key]):
            del st.session_state[key]
        value = draw(getattr(state, name))
    else:
        if key not in st.session_state or (valid is not None and not valid(st.session_state[key])):
            st.session_state[key] = getattr(state, name)
        value = draw()
    setattr(state, name, value)
    return value


def set_widget(key: str, name: str, value: Any) -> None:
    """Set a bound widget's value and its state field together (for callbacks and links)."""
    st.session_state[key] = value
    setattr(page_state(), name, value)
