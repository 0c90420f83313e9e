"""Compare classes: two to four classes on one shared colour scale, plus "why A rather than B"."""
from __future__ import annotations

import streamlit as st

import gradcam
from gradcam import links
from gradcam.errors import GradCamError
from gradcam_app import loaders
from gradcam_app.state import bound, page_state
from gradcam_app.views import ViewInput
from gradcam_app.widgets import compare_pictures, ranked


def compare_classes_view(view: ViewInput) -> None:
    state = page_state()
    loaded, item, settings, probabilities = view.loaded, view.item, view.settings, view.probabilities
    names = loaded.explainer.class_names
    if state.compare_context != view.context or not state.compare_classes:
        state.compare_classes = ranked(probabilities)[:2]  # a new image or model: its top two
        state.compare_context = view.context
        st.session_state.pop("compare_classes", None)
    wanted = state.pending_link.pop("classes", ())
    if wanted:  # a link's classes, checked against this model
        try:
            state.compare_classes = [int(links.decode_target(text, names)) for text in wanted][:4]
            st.session_state.pop("compare_classes", None)
        except (GradCamError, TypeError) as exc:
            st.warning(f"Link parameter classes={','.join(wanted)!r} ignored: {exc}")
    chosen = bound("compare_classes", "compare_classes", lambda: st.multiselect(
        "Classes to compare (2 to 4), on one shared colour scale", list(range(len(names))),
        key="compare_classes", max_selections=4, format_func=lambda i: f"{names[i]} · {probabilities[i]:.1%}"))
    contrast = bound("compare_contrast", "compare_contrast", lambda: st.checkbox(
        "Add the contrastive map: why the first rather than the second", key="compare_contrast"))
    if len(chosen) < 2:
        st.info("Pick at least two classes.")
        return
    targets = list(chosen) + ([gradcam.Contrast(chosen[0], chosen[1])] if contrast else [])
    try:
        results, wall = loaders.run_explain(loaded, item, view.decoded.pixels, settings.method, settings.layer,
                                            settings.aug_smooth, targets)
    except GradCamError as exc:
        st.error(str(exc))
        return
    classes = results[:len(chosen)]
    scaled = gradcam.shared_scale(classes)
    top = max(e.peak for e in classes)
    panels = [(f"{e.target_name} · {e.target_probability:.1%}", heat,
               f"peak {e.peak / top:.0%} of the strongest" if top > 0 else "no positive evidence")
              for e, heat in zip(classes, scaled)]
    if contrast:
        c = results[-1]
        panels.append((f"Why {c.target_name} rather than {c.contrast_name}", c.heatmap,
                       "own scale" if not c.empty else "no positive evidence"))
    for e in results:
        if e.empty:
            st.warning(e.message)
    compare_pictures(item, view.decoded.pixels, panels, "1 = strongest map among the classes")
    computed = sum(e.seconds for e in results)
    st.caption(f"{gradcam.METHODS[settings.method].label} · {len(results)} maps "
               + ("from the cache" if wall < 0.05 and computed > 2 * wall else f"computed together in {computed:.2f} s")
               + f" · lookup {wall:.3f} s")
