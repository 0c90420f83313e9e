"""Compare classes: two to four classes on one shared colour scale, plus "why A rather than B"."""

from __future__ import annotations

import numpy as np
import streamlit as st

import gradcam
from gradcam.errors import GradCamError
from gradcam.targets import class_order
from gradcam_app import loaders
from gradcam_app.groups import as_target, decode_choice, group_keys
from gradcam_app.state import bound, page_state, set_widget
from gradcam_app.verdicts import sensitivity, top_map, verdict_ui
from gradcam_app.views import ViewInput
from gradcam_app.widgets import compare_pictures, group_label

#: One-click concept pairs (curated concepts and WordNet groups) for the compare view.
PRESETS = {
    "Alcohol or gambling?": ("group:alcohol", "group:gambling"),
    "Dog or cat?": ("group:dog", "group:domestic cat"),
    "Food or drink?": ("group:food (solid)", "group:beverage"),
}


def compare_classes_view(view: ViewInput) -> None:
    state = page_state()
    loaded, item, settings, probabilities = view.loaded, view.item, view.settings, view.probabilities
    names = loaded.explainer.class_names
    if state.compare_context != view.context or not state.compare_classes:
        state.compare_classes = class_order(probabilities)[:2]  # a new image or model: its top two
        state.compare_context = view.context
        st.session_state.pop("compare_classes", None)
    groups = group_keys(loaded.explainer)
    wanted = state.pending_link.pop("classes", ())
    if wanted:  # a link's classes and groups, checked against this model
        try:
            state.compare_classes = [_choice(loaded.explainer, text) for text in wanted][:4]
            st.session_state.pop("compare_classes", None)
            groups = group_keys(loaded.explainer)
        except (GradCamError, TypeError) as exc:
            st.warning(f"Link parameter classes={','.join(wanted)!r} ignored: {exc}")
    if groups:
        presets_ui(groups)
    options = list(range(len(names))) + list(groups)
    kept = [c for c in state.compare_classes if c in options]
    if kept != state.compare_classes:
        state.compare_classes = kept
        st.session_state.pop("compare_classes", None)
    chosen = bound(
        "compare_classes",
        "compare_classes",
        lambda: st.multiselect(
            "Classes or groups to compare (2 to 4), on one shared colour scale",
            options,
            key="compare_classes",
            max_selections=4,
            format_func=lambda i: (
                group_label(i, groups, probabilities) if isinstance(i, str) else f"{names[i]} · {probabilities[i]:.1%}"
            ),
        ),
    )
    contrast = bound(
        "compare_contrast",
        "compare_contrast",
        lambda: st.checkbox("Add the contrastive map: why the first rather than the second", key="compare_contrast"),
    )
    view.publish()
    if len(chosen) < 2:
        st.info("Pick at least two classes or groups.")
        return
    picked = [as_target(c) for c in chosen]
    top_index = int(np.argmax(probabilities))
    # The top class's map compares every other class with it. When it is not among those chosen it
    # is its own cached lookup (computed once per image, method and layer), or for a slow method one
    # more target of the same call (its passes score every class at once).
    extra_top = top_index not in chosen and loaders.is_slow(settings.method)
    targets = picked + ([gradcam.Contrast(picked[0], picked[1])] if contrast else []) + ([None] if extra_top else [])
    try:
        results, wall = loaders.run_explain(
            loaded, item, view.decoded.pixels, settings.method, settings.layer, settings.aug_smooth, targets
        )
    except GradCamError as exc:
        st.error(str(exc))
        return
    classes = results[: len(chosen)]
    found = None
    if gradcam.METHODS[settings.method].class_specific:
        if top_index in chosen:
            top = classes[chosen.index(top_index)]
        else:
            try:
                top = results[-1] if extra_top else top_map(view, settings.method, settings.layer)
            except GradCamError as exc:
                st.error(str(exc))
                return
        found = [sensitivity(view, e, top) for e in classes]
    results = results[: len(results) - extra_top]
    scaled = gradcam.shared_scale(classes)
    top = max(e.peak for e in classes)
    panels = [
        (
            f"{e.target_name} · {e.target_probability:.1%}",
            heat,
            (f"peak {e.peak / top:.0%} of the strongest" if top > 0 else "no positive evidence")
            + (f" · {found[i].short}" if found and not found[i].is_top else ""),
        )
        for i, (e, heat) in enumerate(zip(classes, scaled))
    ]
    if contrast:
        c = results[-1]
        panels.append(
            (
                f"Why {c.target_name} rather than {c.contrast_name}",
                c.heatmap,
                "own scale" if not c.empty else "no positive evidence",
            )
        )
    for e in results:
        if e.empty:
            st.warning(e.message)
    compare_pictures(item, view.decoded.pixels, panels, "1 = strongest map among the classes")
    for i, measured in enumerate(found or ()):
        # The contrast button only where this view does not show that very contrast already.
        shown = contrast and i == 0 and chosen[1] == top_index
        verdict_ui(measured, None if shown else chosen[i], view.context, f"classes_contrast_{i}")
    computed = sum(e.seconds for e in results)
    st.caption(
        f"{gradcam.METHODS[settings.method].label} · {len(results)} maps "
        + ("from the cache" if wall < 0.05 and computed > 2 * wall else f"computed together in {computed:.2f} s")
        + f" · lookup {wall:.3f} s"
    )


def _choice(explainer, text: str) -> int | str:
    """A link's compared class or group as a picker choice (checked on this model)."""
    choice = decode_choice(explainer, text)
    if choice is None:
        raise GradCamError("a class or a group is expected, not the top prediction")
    return choice


def presets_ui(groups: dict) -> None:
    """Buttons that compare a pair of concepts side by side, with the contrast between them."""
    available = {label: pair for label, pair in PRESETS.items() if all(key in groups for key in pair)}
    if not available:
        return
    columns = st.columns(len(available) + 1)
    columns[0].caption("Concept pairs, one click:")
    for column, (label, pair) in zip(columns[1:], available.items()):
        column.button(label, key=f"preset_{label}", width="stretch", on_click=_preset, args=(list(pair),))


def _preset(pair: list[str]) -> None:
    set_widget("compare_classes", "compare_classes", pair)
    set_widget("compare_contrast", "compare_contrast", True)
