"""Compare layers: one method's maps at up to four layers, each on its own scale, and optionally
one more map fusing them (multi-layer fusion: the mean of the layers' normalised maps); on demand,
the layers ranked by how faithful their maps are (:func:`gradcam.rank_layers`)."""

from __future__ import annotations

import streamlit as st

import gradcam
from gradcam.errors import GradCamError
from gradcam.explanation import LAYER_JOINER
from gradcam_app import links, loaders
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
    panels = []
    for layer in chosen:
        try:
            (e,), _ = loaders.run_explain(
                loaded, item, view.decoded.pixels, method, layer, settings.aug_smooth, [klass]
            )
        except GradCamError as exc:
            st.error(f"{layer}: {exc}")
            continue
        h, w = e.coarse.shape
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
            panels.append(
                (
                    f"Fused · {len(chosen)} layers",
                    e.heatmap,
                    f"{fused} · mean of the layers' maps · {e.label}" + (" · no positive evidence" if e.empty else ""),
                )
            )
    if panels:
        compare_pictures(item, view.decoded.pixels, panels, "1 = each map's own peak")
    rank_layers_ui(view, method, klass, chosen)


#: Deletion and insertion steps of the ranking: the faithfulness panel's lighter setting.
RANK_STEPS = loaders.FAITHFULNESS_OPTIONS["steps"]

COLUMNS = {
    "rank": st.column_config.NumberColumn("Rank", format="%d"),
    "layer": st.column_config.TextColumn("Layer"),
    "stage": st.column_config.TextColumn("Stage"),
    "grid": st.column_config.TextColumn("Map"),
    "score": st.column_config.NumberColumn("Insertion − deletion ↑", format="%.3f"),
    "insertion_auc": st.column_config.NumberColumn("Insertion AUC ↑", format="%.3f"),
    "deletion_auc": st.column_config.NumberColumn("Deletion AUC ↓", format="%.3f"),
    "seconds": st.column_config.NumberColumn("Seconds", format="%.1f"),
}


def rank_layers_ui(view: ViewInput, method: str, klass, chosen: list[str]) -> None:
    """ "Rank these layers" (the compared ones) or each stage's last layer, on demand, with
    progress: gradcam.rank_layers's figures, best first."""
    state = page_state()
    loaded, item = view.loaded, view.item
    target = links.encode_target(klass)
    st.markdown("**Which layer explains best?**")
    st.caption(
        "Each layer's map is scored by its insertion area minus its deletion area (Petsiuk et al. 2018; "
        f"{RANK_STEPS} steps each, about {2 * RANK_STEPS + 2} forward passes per layer, plus a few seconds the "
        "first time a layer is used): higher is better."
    )
    c1, c2 = st.columns(2)
    these = c1.button("Rank these layers", key="rank_layers", disabled=not chosen, icon=":material/leaderboard:")
    stages = c2.button("Rank each stage's last layer", key="rank_stages", icon=":material/stacks:")
    base = (item.key, loaded.key, method, target, view.settings.aug_smooth)
    if these or stages:
        layers = tuple(chosen) if these else None
        try:
            rows = _ranked(*base, layers, view.decoded.pixels, loaded.explainer)
        except GradCamError as exc:
            st.error(str(exc))
            return
        state.layer_ranking = ((*base, layers), rows)
    ranking = state.layer_ranking
    if not ranking or ranking[0][:5] != base:
        return
    rows = ranking[1]
    st.dataframe(
        [{"rank": i + 1, **r.summary(), "grid": f"{r.grid[1]}×{r.grid[0]}"} for i, r in enumerate(rows)],
        column_config=COLUMNS,
        column_order=list(COLUMNS),
        hide_index=True,
        key="layer_ranking_table",
    )
    best = rows[0]
    st.caption(
        f"Best: `{best.layer}` ({best.stage}), insertion {best.insertion_auc:.3f} − deletion "
        f"{best.deletion_auc:.3f} = {best.score:.3f}, for {best.explanation.label}."
    )


@st.cache_resource(show_spinner=False, max_entries=8)
def _ranked(image_key, model_key, method, target, aug_smooth, layers, _pixels, _explainer) -> list:
    """gradcam.rank_layers of one image and class (layers None: each stage's last), with a progress bar."""
    loaders.trace(f"rank-layers {method} layers={layers} class={target} image={image_key[:40]}")
    with loaders.progress_bar("Ranking the layers") as progress:
        return gradcam.rank_layers(
            _explainer,
            _pixels,
            links.decode_target(target),
            method,
            list(layers) if layers is not None else None,
            steps=RANK_STEPS,
            aug_smooth=aug_smooth,
            progress=progress,
        )
