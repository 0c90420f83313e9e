"""The explain view: one map for the chosen class, its pictures and downloads, the class
probabilities, what the model saw, and the faithfulness panel."""

from __future__ import annotations

import numpy as np
import streamlit as st

import gradcam
from gradcam.errors import GradCamError
from gradcam.targets import class_order
from gradcam_app import downloads, loaders
from gradcam_app.state import bound, page_state
from gradcam_app.verdicts import sensitivity, top_map, verdict_ui, wants_top
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
    strength = bound(
        "scale_to_top",
        "scale_to_top",
        lambda: st.toggle(
            "Show strength: draw the map on the top class's scale",
            key="scale_to_top",
            help="Each map is normally divided by its own peak, so a class the model all but rules out glows as "
            "brightly as the top class. On the top class's scale a weak map looks weak.",
        ),
    )
    view.publish()
    # The top class's map sets the "show strength" scale and tells whether this class's map is the
    # top one's again. It is its own cached lookup, computed once per image, method and layer (from
    # the cached activations: no second network run), not once per class.
    with_top = klass is not None and klass != int(np.argmax(view.probabilities))
    slow = loaders.is_slow(settings.method)  # one call: the passes score every class at once
    try:
        (explanation, *top), wall = loaders.run_explain(
            loaded,
            item,
            decoded.pixels,
            settings.method,
            settings.layer,
            settings.aug_smooth,
            [klass, None] if with_top and slow else [klass],
        )
        if with_top and not slow:
            top = [top_map(view, settings.method, settings.layer)]
    except GradCamError as exc:
        st.error(str(exc))
        return
    found = sensitivity(view, explanation, top[0]) if top and wants_top(view, settings.method, klass) else None
    if explanation.empty:
        st.warning(explanation.message)
    scale = 1.0
    if top and top[0].peak > 0:
        scale = min(explanation.peak / top[0].peak, 1.0)
    explain_pictures(view, explanation, scale if strength else None, found)
    if found is not None:
        verdict_ui(found, page_state().klass, view.context, "explain_contrast")
    layer = f" at `{explanation.layer}`" if explanation.layer else ""
    notes = " · " + "; ".join(explanation.notes) if explanation.notes else ""
    st.caption(
        f"**{gradcam.METHODS[settings.method].label}**{layer} for **{explanation.label}** "
        f"(p = {explanation.target_probability:.1%}, {standing(explanation)}) · "
        f"map {seconds_text(explanation)} · this page's lookup {wall:.3f} s{notes}"
    )
    if not gradcam.METHODS[settings.method].class_specific:
        st.info(f"{gradcam.METHODS[settings.method].label} does not depend on the class: every class shows this map.")
    c1, c2 = st.columns([2, 1])
    with c1:
        st.markdown("**Class probabilities** (explained class highlighted)")
        probability_chart(loaded.explainer, explanation)
    with c2:
        h, w = loaded.explainer.input_size
        st.markdown("**What the model saw**")
        st.image(explanation.model_input, caption=f"resized to {w}×{h} (whole image, squashed)", width="stretch")
    faithfulness_ui(view, explanation)


def standing(explanation) -> str:
    """ "rank 3 of 1000" for a class, "a group of 5 classes" for a group."""
    if explanation.target_members is not None:
        return f"a group of {len(explanation.target_members)} classes"
    rank = class_order(explanation.probabilities).index(explanation.target_index) + 1
    return f"rank {rank} of {len(explanation.probabilities)}"


@st.fragment
def explain_pictures(view: ViewInput, explanation, scale: float | None = None, sensitivity=None) -> None:
    """Original, heatmap and overlay at display size, and the downloads (built when clicked).
    A fragment: display controls redraw these pictures only, without running the page.

    ``scale``: the map's peak as a share of the top class's (the "show strength" option), else None
    (the map on its own scale). Pixel methods' maps are shown clipped at a high percentile.
    ``sensitivity``: the map's class sensitivity, recorded in its downloads."""
    colormap, alpha, fraction = display_controls_ui()
    loaders.trace("fragment run")
    item, pixels = view.item, view.decoded.pixels
    small, original_jpeg = loaders.display_original(item.key, pixels)
    heat = loaders.shrink(explanation.heatmap)
    high = "1 (peak)"
    if explanation.layer is None:  # a pixel method: a few extreme gradients would hide the rest
        heat = gradcam.render.clip_outliers(heat)
        high = f"{gradcam.render.PIXEL_CLIP_PERCENTILE:g}th percentile and above"
    if scale is not None:
        heat = heat * np.float32(scale)
        high = "the top class's peak" + (f" ({high})" if explanation.layer is None else "")
    c1, c2, c3 = st.columns(3)
    with c1:
        st.image(original_jpeg, caption=f"Original · {pixels.shape[1]}×{pixels.shape[0]}", width="stretch")
    with c2:
        st.image(
            loaders.picture(gradcam.colorize(shown(heat, fraction), colormap)),
            caption=f"Heatmap · {explanation.label}",
            width="stretch",
        )
        colour_bar(colormap, high=high)
    with c3:
        strength = f" · peak {scale:.0%} of the top class's" if scale is not None else ""
        st.image(
            loaders.picture(blend(small, heat, colormap, alpha, fraction)),
            caption=f"Overlay · opacity {alpha:.2f} · p = {explanation.target_probability:.1%}, "
            f"{standing(explanation)}{strength}",
            width="stretch",
        )
    display = {"colormap": colormap, "alpha": alpha, "top_fraction": fraction}
    downloads.explanation_buttons(view, explanation, display, sensitivity)
