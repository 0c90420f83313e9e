"""The old path of :mod:`model_zoo.imagenet.concepts` (the curated concept groups); kept because
users import from it."""

from __future__ import annotations

from .imagenet.concepts import (
    CONCEPTS_FILE,
    concept_groups,
    not_in_imagenet,
)

__all__ = [
    "CONCEPTS_FILE",
    "concept_groups",
    "not_in_imagenet",
]
