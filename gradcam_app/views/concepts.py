"""What parts does the model see? The concepts one layer sees in the image (Deep Feature
Factorization, ``explainer.concepts``): one overlay where each pixel takes the colour of its
strongest concept, a legend naming each concept by the classes it votes for, and each concept's
map on its own. No class is chosen here: the concepts come from the activations alone."""

from __future__ import annotations

import html

import numpy as np
import streamlit as st

from gradcam.errors import GradCamError
from gradcam.render import CONCEPT_COLOURS, concepts_overlay
from gradcam.targets import class_order
from gradcam_app import links, loaders
from gradcam_app.state import bound
from gradcam_app.views import ViewInput

#: Classes named per concept in the legend.
LEGEND_CLASSES = 3
#: Opacity of the concepts' colours where a concept is at its peak.
CONCEPT_ALPHA = 0.6


def concepts_view(view: ViewInput) -> None:
    loaded, item, decoded = view.loaded, view.item, view.decoded
    explainer = loaded.explainer
    if not explainer.layers:
        st.info(
            "Concepts need a layer with a spatial output (they are found in a layer's activations, "
            "location by location), and this model has none. Pick a convolutional or vision-transformer "
            "model in the sidebar to see its concepts; the other views explain this model with gradient "
            "saliency."
        )
        return
    low, high = links.CONCEPTS_K_RANGE
    k = bound(
        "concepts_k",
        "concepts_k",
        lambda value: st.slider(
            "Number of concepts (k)",
            low,
            high,
            int(min(max(int(value), low), high)),
            key="concepts_k",
            help="The layer's activations are factorised into k parts (non-negative matrix factorisation). "
            "Few concepts give broad parts; more split them finer.",
        ),
        as_default=True,
    )
    view.publish()
    layer = view.settings.layer or explainer.default_layer
    names = explainer.class_names
    best = class_order(view.probabilities)[0]
    st.caption(
        f"The {k} concepts layer `{layer}` sees in this image, where each one is, and which classes each "
        "votes for (Deep Feature Factorization, Collins et al., ECCV 2018). No class is chosen here, and "
        "the sidebar's method does not apply; the sidebar's layer does. The whole image: "
        f"**{names[best]}** ({float(view.probabilities[best]):.1%})."
    )
    if layer in explainer.layer_notes:
        # gradcam.concepts reads a (batch, h, w, K) layer; a token layer (batch, T, K) is not handled
        # there yet (it fails with an IndexError), so the page says so instead of calling it.
        st.info(
            f"Concepts of token layers (such as `{layer}`, {explainer.layer_notes[layer]}) are not "
            "available yet: the factorisation reads a layer's (height, width, channels) map. Pick a "
            "convolutional layer in the sidebar, or a convolutional model."
        )
        return
    try:
        with st.spinner(f"Finding {k} concepts at {layer}…"):
            concepts, wall = loaders.run_concepts(loaded, item, decoded.pixels, layer, k)
    except GradCamError as exc:
        st.error(str(exc))
        return
    notes = [note for note in concepts.notes if not note.startswith("Concept classes:")]
    for note in notes:
        st.warning(note)

    overlay, tiles = pictures(item.key, loaded.key, concepts.layer, concepts.k, concepts, decoded.pixels)
    left, right = st.columns([3, 2], vertical_alignment="top")
    with left:
        st.image(
            overlay,
            width="stretch",
            caption=f"Each pixel coloured by its strongest concept · layer {concepts.layer} · k = {concepts.k}",
        )
        st.markdown("**Concepts** · the classes each votes for (the model's head on the concept alone)")
        for line in legend_lines(concepts):
            st.markdown(line, unsafe_allow_html=True)
    with right:
        st.markdown("**Each concept on its own** (1 = its peak)")
        columns = st.columns(2)
        for i in range(concepts.k):
            with columns[i % 2]:
                area = float(concepts.coarse[i].mean())
                st.image(tiles[i], caption=f"Concept {i + 1} · covers {area:.0%}", width="stretch")
    h, w = concepts.coarse.shape[1:]
    st.caption(
        f"Layer `{concepts.layer}` ({w}×{h} locations, {concepts.embeddings.shape[1]} channels) · "
        f"reconstruction error {concepts.reconstruction_error:.1%} (the share of the layer's activations "
        f"the {concepts.k} concepts leave out) · {concepts.iterations} NMF iterations, seed {concepts.seed} · "
        f"computed in {seconds(concepts.seconds)} · this page's lookup {wall:.3f} s"
    )


@st.cache_resource(show_spinner=False, max_entries=loaders.CONCEPTS_CACHE_ENTRIES)
def pictures(
    image_key: str, model_key: str, layer: str, k: int, _concepts, _pixels: np.ndarray
) -> tuple[bytes, list[bytes]]:
    """The overlay and each concept's tinted picture at display size, as JPEG bytes (made once per
    result: a rerun of the page sends the same bytes without touching the full-size maps)."""
    small, _ = loaders.display_original(image_key, _pixels)
    maps = [loaders.shrink(m) for m in _concepts.maps]
    overlay = loaders.jpeg_bytes(concepts_overlay(small, np.stack(maps), alpha=CONCEPT_ALPHA))
    tiles = [loaders.jpeg_bytes(tint(small, m, CONCEPT_COLOURS[i % len(CONCEPT_COLOURS)])) for i, m in enumerate(maps)]
    return overlay, tiles


def legend_lines(concepts) -> list[str]:
    """One Markdown line per concept: its colour swatch, its number and its classes with scores."""
    lines = []
    for i in range(concepts.k):
        r, g, b = (int(c) for c in CONCEPT_COLOURS[i % len(CONCEPT_COLOURS)])
        swatch = (
            f"<span style='display:inline-block;width:1.1em;height:1.1em;border-radius:3px;"
            f"vertical-align:-0.2em;margin-right:0.4em;background:rgb({r},{g},{b})'></span>"
        )
        classes = concepts.top_classes[i] if concepts.top_classes else ()
        votes = ", ".join(
            f"{html.escape(str(name))} {probability:.0%}" for _, name, probability in classes[:LEGEND_CLASSES]
        )
        lines.append(f"{swatch}**Concept {i + 1}** · {votes if votes else 'no classes at this layer'}")
    return lines


def tint(image: np.ndarray, heatmap: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """``image`` with ``colour`` blended in where ``heatmap`` (same size, [0, 1]) is high."""
    strength = np.clip(heatmap, 0.0, 1.0)[..., None] * np.float32(CONCEPT_ALPHA)
    mixed = image.astype(np.float32) * (1.0 - strength) + colour.astype(np.float32) * strength
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


def seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 0.1 else f"{value:.2f} s"
