"""Is this map about this class? The class-sensitivity line under a map, and the one-click
contrast "why this class rather than the top one" (see :mod:`gradcam.sensitivity`).

The figures come from maps the page computes anyway: a view asks for the top prediction's map in
the same :func:`gradcam_app.loaders.run_explain` call as the class's (one more row of the head, on
cached activations), and :func:`gradcam.sensitivity.compare_all_to_top` compares them."""

from __future__ import annotations

import streamlit as st

from gradcam.sensitivity import DISTINCT, PARTLY_SHARED_VERDICT, SAME_AS_TOP_VERDICT, ClassSensitivity
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
