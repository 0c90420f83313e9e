"""The class groups the pickers offer: every named group of an ImageNet model (WordNet and curated)
and this session's own groups, each under its key in the links' format ("group:dog",
"group:my drinks=440+907"). Own groups are kept in :class:`gradcam_app.state.PageState`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

import gradcam
from gradcam.errors import GradCamError
from gradcam_app import links
from gradcam_app.state import page_state

if TYPE_CHECKING:
    from gradcam import Explainer
    from gradcam.targets import Target


def as_target(choice: int | str | None) -> Target:
    """A picker's choice as an explainer target: a class index, None (the top prediction), or a
    group key ("group:dog", "group:my drinks=440+907", the links' format) as a :class:`gradcam.Group`."""
    return links.decode_target(choice) if isinstance(choice, str) else choice


def group_keys(explainer: Explainer) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Every named class group of an ImageNet model, and this session's own groups, as
    ``{key: (name, members)}``; empty for other models (their classes have no known hierarchy)."""
    if not explainer.has_imagenet_classes:
        return {}
    keys = dict(_named_groups())
    for key in page_state().custom_groups:
        keys[key] = explainer.group_members(as_target(key))
    return keys


@st.cache_resource(show_spinner=False, max_entries=1)
def _named_groups() -> dict[str, tuple[str, tuple[int, ...]]]:
    from model_zoo.imagenet import concept_groups, imagenet_groups

    found = {}
    for group in [*concept_groups().values(), *imagenet_groups().values()]:
        try:
            found[links.encode_target(gradcam.Group(group.name))] = (group.name, tuple(group.members))
        except GradCamError:  # a name a link cannot carry: left out of the picker
            continue
    return found


def decode_choice(explainer: Explainer, text: str) -> int | str | None:
    """A link's class or group as a picker choice, checked on this model: a class index, a group key,
    or None (the top prediction). Names the model does not show resolve as the explainer resolves
    them (on ImageNet models, older names and synonyms: "tea cup", "one-armed bandit")."""
    try:
        target = links.decode_target(text, explainer.class_names)
    except gradcam.UnknownClassError:
        target = links.decode_target(text)  # names stay names, for the explainer's own lookup
    if isinstance(target, gradcam.Contrast):
        raise GradCamError("a single class or group is expected here, not a contrast")
    if isinstance(target, gradcam.Group):
        return remember_group(explainer, target)
    return None if target is None else explainer.class_index(target)


def remember_group(explainer: Explainer, group: gradcam.Group) -> str:
    """A group's key for the pickers, checked on this model; an own group is kept for the session."""
    explainer.group_members(group)  # an unknown group or class raises with the closest names
    key = links.encode_target(group, explainer.class_names)
    if not isinstance(group.members, str) and key not in page_state().custom_groups:
        page_state().custom_groups.append(key)
    return key


__all__ = ["as_target", "decode_choice", "group_keys", "remember_group"]
