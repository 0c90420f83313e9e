"""Compare layers: one method's maps at up to four layers, each on its own scale, and optionally
one more map fusing them (multi-layer fusion: the mean of the layers' normalised maps)."""

from __future__ import annotations

import streamlit as st

import gradcam
from gradcam.errors import GradCamError
from gradcam.explanation import LAYER_JOINER
from gradcam_app import downloads, loaders
from gradcam_app.state import bound, page_state
from gradcam_app.views import ViewInput
from gradcam_app.widgets import class_picker_ui, compare_pictures


def compare_layers_view(view: ViewInput) -> None:
    state = page_state()
    loaded, item, settings = view.loaded, view.item, view.settings
    klass = class_picker_ui(loaded.explainer, view.probabilities, view.context)
    method = settings.method if gradcam.METHODS[settings.method].uses_layer else "gradcam"
    if method != settings.method:
        st.info(f"{gradcam.METHODS[settings.method].label} uses no layer; comparing layers with Grad-CAM.")
    layers = loaded.explainer.layers
    if not layers:
        st.info("This model has no layer with a spatial output: there are no layers to compare.")
        return
    if state.layers_model != loaded.key or not state.compare_layers:
        n = len(layers)  # a new model: four layers from the middle to the last
        state.compare_layers = list(
            dict.fromkeys([layers[int(n * 0.45)], layers[int(n * 0.7)], layers[int(n * 0.85)], layers[-1]])
        )
        state.layers_model = loaded.key
        st.session_state.pop("compare_layers", None)
    wanted = [layer for layer in state.pending_link.pop("layers", ()) if layer in layers]
    if wanted:  # a link's layers (those this model has)
        state.compare_layers = wanted[:4]
        st.session_state.pop("compare_layers", None)
    chosen = bound(
        "compare_layers",
        "compare_layers",
        lambda: st.multiselect(
            "Layers to compare (each on its own scale)", layers, key="compare_layers", max_selections=4
        ),
    )
    fuse = bound(
        "compare_fuse",
        "compare_fuse",
        lambda: st.checkbox(
            "Fuse these layers into one map",
            key="compare_fuse",
            help="Adds a panel with the mean of the chosen layers' maps (each divided by its own peak first), "
            "as explain(..., layer=[a, b]) makes it: the early layers' detail with the late layers' meaning.",
        ),
    )
    view.publish()
    panels, reported = [], []
    for layer in chosen:
        try:
            (e,), _ = loaders.run_explain(
                loaded, item, view.decoded.pixels, method, layer, settings.aug_smooth, [klass]
            )
        except GradCamError as exc:
            st.error(f"{layer}: {exc}")
            continue
        h, w = e.coarse.shape
        reported.append(e)
        panels.append((layer, e.heatmap, f"{w}×{h} map · {e.label}" + (" · no positive evidence" if e.empty else "")))
    if fuse and len(chosen) < 2:
        st.info("Choose two or more layers above to fuse them into one map.")
    elif fuse:
        fused = LAYER_JOINER.join(chosen)
        try:
            (e,), _ = loaders.run_explain(
                loaded, item, view.decoded.pixels, method, fused, settings.aug_smooth, [klass]
            )
        except GradCamError as exc:
            st.error(f"Fused {fused}: {exc}")
        else:
            # The title stays short (two lines at most); the caption names the layers.
            reported.append(e)
            panels.append(
                (
                    f"Fused · {len(chosen)} layers",
                    e.heatmap,
                    f"{fused} · mean of the layers' maps · {e.label}" + (" · no positive evidence" if e.empty else ""),
                )
            )
    if panels:
        compare_pictures(
            item,
            view.decoded.pixels,
            panels,
            "1 = each map's own peak",
            publish=view.publish,
            report=lambda display: downloads.report_row(
                view, reported, [p[1] for p in panels], "Compare layers", "layers", display
            ),
        )
