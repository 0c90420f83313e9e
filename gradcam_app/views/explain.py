"""The explain view: one map for the chosen class, its pictures and downloads, the class
probabilities, what the model saw, and the faithfulness panel."""
from __future__ import annotations

import streamlit as st

import gradcam
from gradcam.errors import GradCamError
from gradcam_app import downloads, loaders
from gradcam_app.views import ViewInput
from gradcam_app.views.faithfulness import faithfulness_ui
from gradcam_app.widgets import (
    blend,
    class_picker_ui,
    colour_bar,
    display_controls_ui,
    probability_chart,
    seconds_text,
    shown,
)


def explain_view(view: ViewInput) -> None:
    loaded, item, decoded, settings = view.loaded, view.item, view.decoded, view.settings
    klass = class_picker_ui(loaded.explainer, view.probabilities, view.context)
    try:
        (explanation,), wall = loaders.run_explain(loaded, item, decoded.pixels, settings.method, settings.layer,
                                                   settings.aug_smooth, [klass])
    except GradCamError as exc:
        st.error(str(exc))
        return
    if explanation.empty:
        st.warning(explanation.message)
    explain_pictures(view, explanation)
    layer = f" at `{explanation.layer}`" if explanation.layer else ""
    st.caption(f"**{gradcam.METHODS[settings.method].label}**{layer} for **{explanation.label}** "
               f"(p = {explanation.target_probability:.1%}) · map {seconds_text(explanation)} · "
               f"this page's lookup {wall:.3f} s" + (" · " + "; ".join(explanation.notes) if explanation.notes else ""))
    if not gradcam.METHODS[settings.method].class_specific:
        st.info(f"{gradcam.METHODS[settings.method].label} does not depend on the class: every class shows this map.")
    c1, c2 = st.columns([2, 1])
    with c1:
        st.markdown("**Class probabilities** (explained class highlighted)")
        probability_chart(loaded.explainer, explanation.probabilities, explanation.target_index)
    with c2:
        h, w = loaded.explainer.input_size
        st.markdown("**What the model saw**")
        st.image(explanation.model_input, caption=f"resized to {w}×{h} (whole image, squashed)", width="stretch")
    faithfulness_ui(view, explanation)


@st.fragment
def explain_pictures(view: ViewInput, explanation) -> None:
    """Original, heatmap and overlay at display size, and the downloads (built when clicked).
    A fragment: display controls redraw these pictures only, without running the page."""
    colormap, alpha, fraction = display_controls_ui()
    loaders.trace("fragment run")
    item, pixels = view.item, view.decoded.pixels
    small, original_jpeg = loaders.display_original(item.key, pixels)
    heat = loaders.shrink(explanation.heatmap)
    c1, c2, c3 = st.columns(3)
    with c1:
        st.image(original_jpeg, caption=f"Original · {pixels.shape[1]}×{pixels.shape[0]}", width="stretch")
    with c2:
        st.image(loaders.jpeg_bytes(gradcam.colorize(shown(heat, fraction), colormap)),
                 caption=f"Heatmap · {explanation.label}", width="stretch")
        colour_bar(colormap)
    with c3:
        st.image(loaders.jpeg_bytes(blend(small, heat, colormap, alpha, fraction)),
                 caption=f"Overlay · opacity {alpha:.2f}", width="stretch")
    display = {"colormap": colormap, "alpha": alpha, "top_fraction": fraction}
    downloads.explanation_buttons(view, explanation, display)
