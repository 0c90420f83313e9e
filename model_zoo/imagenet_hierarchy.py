"""The old path of :mod:`model_zoo.imagenet.hierarchy` (WordNet groups and the group lookups) and
:class:`model_zoo.imagenet.groups.ClassGroup`; kept because the README and users import from it."""

from __future__ import annotations

from .imagenet.groups import (
    CURATED,
    DATA_DIR,
    WORDNET,
    ClassGroup,
)
from .imagenet.hierarchy import (
    GROUP_MATCH_KINDS,
    HIERARCHY_FILE,
    SHADOW_SUFFIX,
    SUGGEST_CUTOFF,
    TOP_GROUPS_MAX_SIZE,
    TOP_GROUPS_MIN_DEPTH,
    GroupMatch,
    GroupProbability,
    class_groups,
    class_parents,
    find_groups,
    group,
    group_members,
    imagenet_groups,
    membership_matrix,
    shadowed_wordnet_groups,
    top_groups,
)

__all__ = [
    "CURATED",
    "ClassGroup",
    "DATA_DIR",
    "GROUP_MATCH_KINDS",
    "GroupMatch",
    "GroupProbability",
    "HIERARCHY_FILE",
    "SHADOW_SUFFIX",
    "SUGGEST_CUTOFF",
    "TOP_GROUPS_MAX_SIZE",
    "TOP_GROUPS_MIN_DEPTH",
    "WORDNET",
    "class_groups",
    "class_parents",
    "find_groups",
    "group",
    "group_members",
    "imagenet_groups",
    "membership_matrix",
    "shadowed_wordnet_groups",
    "top_groups",
]
