"""The old path of :mod:`model_zoo.imagenet.names` (ImageNet class names and the class search); kept
because the README and users import from it."""

from __future__ import annotations

from .imagenet.names import (
    MATCH_KINDS,
    NUM_CLASSES,
    QUALIFIERS,
    SUGGEST_CUTOFF,
    Match,
    checked_index,
    class_index,
    class_record,
    classes_named,
    display_name,
    find_classes,
    first_synonym_collisions,
    imagenet_display_names,
    normalize,
)

__all__ = [
    "MATCH_KINDS",
    "Match",
    "NUM_CLASSES",
    "QUALIFIERS",
    "SUGGEST_CUTOFF",
    "checked_index",
    "class_index",
    "class_record",
    "classes_named",
    "display_name",
    "find_classes",
    "first_synonym_collisions",
    "imagenet_display_names",
    "normalize",
]
