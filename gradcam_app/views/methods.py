"""Compare methods: up to four methods' maps for one class, each on its own scale. Slow methods
(many passes, e.g. Score-CAM) are computed last while the ready panels stay on the page, and a
method whose map does not depend on the class is not recomputed when the class changes."""

from __future__ import annotations

import streamlit as st

import gradcam
from gradcam.errors import GradCamError
from gradcam_app import loaders
from gradcam_app.state import bound, page_state
from gradcam_app.verdicts import sensitivity, top_map, wants_top
from gradcam_app.views import ViewInput
from gradcam_app.widgets import class_picker_ui, compare_pictures, method_label, seconds_text


def compare_methods_view(view: ViewInput) -> None:
    state = page_state()
    loaded, item, settings = view.loaded, view.item, view.settings
    klass = class_picker_ui(loaded.explainer, view.probabilities, view.context)
    methods = bound(
        "compare_methods",
        "compare_methods",
        lambda value: st.multiselect(
            "Methods to compare (each on its own scale)",
            list(gradcam.METHODS),
            key="compare_methods",
            default=value,
            max_selections=4,
            format_func=method_label,
            help="Slow methods (many forward passes) are filled in last; the others show meanwhile.",
        ),
        as_default=True,
    )
    view.publish()
    jobs = []
    for method in methods:
        info = gradcam.METHODS[method]
        layer = settings.layer if info.uses_layer else None
        if layer is None and info.uses_layer and loaded.explainer.layers:
            layer = loaded.explainer.default_layer
        # A class-independent map (Eigen-CAM) is the same for every class: cache it once.
        target = klass if info.class_specific else None
        jobs.append((method, layer, target))
    key = (item.key, loaded.key, settings.aug_smooth)
    ready = [job for job in jobs if not loaders.is_slow(job[0]) or (key, job) in state.slow_done]
    pending = [job for job in jobs if job not in ready]
    panels = [panel for panel in (_panel(view, *job) for job in ready) if panel is not None]
    if panels or pending:
        compare_pictures(
            item,
            view.decoded.pixels,
            panels,
            "1 = each map's own peak",
            pending=[method_label(job[0]) for job in pending],
        )
    if pending:
        for job in pending:  # progress bars show below the ready panels
            if _panel(view, *job) is not None:
                state.slow_done.add((key, job))
        st.rerun()  # draw the slow panels beside the others, from the cache


def _panel(view: ViewInput, method: str, layer: str | None, target):
    info = gradcam.METHODS[method]
    # A class other than the top one is compared with the top class's map: its own cached lookup,
    # or for a slow method one more target of the same call (its passes score every class at once).
    with_top = wants_top(view, method, target)
    slow = loaders.is_slow(method)
    try:
        (e, *top), _ = loaders.run_explain(
            view.loaded,
            view.item,
            view.decoded.pixels,
            method,
            layer,
            view.settings.aug_smooth,
            [target, None] if with_top and slow else [target],
        )
        cached = loaders.last_lookup_cached()
        if with_top and not slow:
            top = [top_map(view, method, layer)]
    except GradCamError as exc:
        st.error(f"{info.label}: {exc}")
        return None
    notes = [
        e.label if info.class_specific else "same map for every class",
        seconds_text(e, cached),
    ]
    if top:
        notes.append(sensitivity(view, e, top[0]).short)
    if e.empty:
        notes.append("no positive evidence")
    heatmap = e.heatmap
    if not info.uses_layer:  # a pixel method: a few extreme gradients would hide the rest
        heatmap = gradcam.render.clip_outliers(heatmap)
        notes.append(f"clipped at the {gradcam.render.PIXEL_CLIP_PERCENTILE:g}th percentile")
    return info.label, heatmap, " · ".join(notes)
