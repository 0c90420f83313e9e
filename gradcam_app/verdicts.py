"""Is this map about this class? The class-sensitivity line under a map, and the one-click
contrast "why this class rather than the top one" (see :mod:`gradcam.sensitivity`).

The figures come from maps the page has anyway: the top prediction's map is one cached lookup per
image, model, method and layer (:func:`top_map`; the page computes it first for the probabilities),
its ranks on the 56x56 grid are kept beside it, so a class change adds only the ranking of the
class's own map. Slow methods (many passes) get the top map in the same call as the class's
instead, where the passes score every class at once."""

from __future__ import annotations

import numpy as np
import streamlit as st

import gradcam
from gradcam.compare import grid_ranks
from gradcam.sensitivity import (
    DISTINCT,
    PARTLY_SHARED_VERDICT,
    SAME_AS_TOP_VERDICT,
    ClassSensitivity,
    compare_to_top,
)
from gradcam_app import loaders
from gradcam_app.state import page_state, set_widget

#: How each verdict is drawn: the Streamlit call and its icon.
_STYLE = {
    SAME_AS_TOP_VERDICT: ("warning", ":material/content_copy:"),
    PARTLY_SHARED_VERDICT: ("info", ":material/join_inner:"),
    DISTINCT: ("success", ":material/target:"),
}


def verdict_ui(found: ClassSensitivity, choice, context: tuple, key: str) -> None:
    """The verdict in words under a map of a class other than the top one; for "same as top", a
    button that opens the contrastive map "why <class> rather than <top>" (Compare classes).

    ``choice``: the class as the pickers hold it (an index, or a group key); ``context``: the
    (image, model) the page shows, so the compare view keeps the classes; ``key``: the button's key."""
    if found.is_top:
        return
    how, icon = _STYLE.get(found.verdict, ("caption", None))
    text = f"**About this class? {found.verdict.capitalize()}.** {found.reading}"
    if found.random_similarities:
        text += f" (Random classes' maps on this image: {found.random_mean:.0%} on average.)"
    if how == "caption":
        st.caption(text)
    else:
        getattr(st, how)(text, icon=icon)
    if found.offers_contrast and choice is not None:
        st.button(
            f"Why {found.target_label} rather than {found.top_name}?",
            key=key,
            icon=":material/compare_arrows:",
            help="Opens the contrastive map, which removes what the two classes' maps share: "
            f"the evidence for {found.target_label} against {found.top_name}.",
            on_click=open_contrast,
            args=(choice, found.top_index, context),
        )


def open_contrast(choice, top_index: int, context: tuple) -> None:
    """Button callback: Compare classes with ``choice`` and the top class, and the contrastive map
    "why choice rather than top" (the compare view's contrast is first rather than second)."""
    state = page_state()
    state.compare_classes = [choice, int(top_index)]
    state.compare_context = context  # the same image and model: the view keeps these classes
    st.session_state.pop("compare_classes", None)  # the bound multiselect starts from the state
    set_widget("compare_contrast", "compare_contrast", True)
    state.view = "classes"
    st.session_state["view"] = "classes"


def wants_top(view, method: str, target) -> bool:
    """Whether a map of ``target`` with ``method`` gets a class-sensitivity line: a class-specific
    method and a class or group other than the top prediction."""
    return (
        gradcam.METHODS[method].class_specific and target is not None and target != int(np.argmax(view.probabilities))
    )


def top_map(view, method: str, layer: str | None):
    """The top prediction's explanation for this image, model, method and layer (the page's cached
    lookup: computed once, then reused by every class change)."""
    (top,), _ = loaders.run_explain(
        view.loaded, view.item, view.decoded.pixels, method, layer, view.settings.aug_smooth, [None]
    )
    return top


def sensitivity(view, explanation, top) -> ClassSensitivity:
    """``explanation`` compared with the top class's map ``top`` (whose grid ranks are cached)."""
    ranks = _top_ranks(view.item.key, view.loaded.key, top.method, top.layer, view.settings.aug_smooth, top)
    return compare_to_top(explanation, top, top_ranks=ranks)


@st.cache_resource(show_spinner=False, max_entries=loaders.RESULT_CACHE_ENTRIES)
def _top_ranks(image_key: str, model_key: str, method: str, layer: str | None, aug_smooth: bool, _top):
    # Shrinking a 12-megapixel map to 56x56 costs tens of milliseconds: once per top map, not per class.
    return grid_ranks(_top.heatmap)
