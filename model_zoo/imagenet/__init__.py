"""ImageNet-1k as the model zoo knows it: class names and WordNet ids (:mod:`.classes`), names people
recognise and a class search (:mod:`.names`), and groups of classes (:class:`~.groups.ClassGroup`):
the WordNet hierarchy and the group lookups (:mod:`.hierarchy`) and curated concepts (:mod:`.concepts`).

Imports go one way: classes <- names <- groups/concepts <- hierarchy. The names below are the
package's public API (``model_zoo.imagenet.imagenet_class_names`` keeps its old path).
"""

from __future__ import annotations

from .classes import (
    imagenet_class_names,
    imagenet_descriptions,
    imagenet_synonyms,
    imagenet_wnids,
    shared_class_names,
    shared_descriptions,
    shared_synonyms,
    shared_wnids,
)
from .concepts import (
    CONCEPTS_FILE,
    concept_groups,
    not_in_imagenet,
)
from .groups import (
    CURATED,
    DATA_DIR,
    WORDNET,
    ClassGroup,
)
from .hierarchy import (
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
from .names import (
    MATCH_KINDS,
    NUM_CLASSES,
    QUALIFIERS,
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
    "CONCEPTS_FILE",
    "CURATED",
    "ClassGroup",
    "DATA_DIR",
    "GROUP_MATCH_KINDS",
    "GroupMatch",
    "GroupProbability",
    "HIERARCHY_FILE",
    "MATCH_KINDS",
    "Match",
    "NUM_CLASSES",
    "QUALIFIERS",
    "SHADOW_SUFFIX",
    "SUGGEST_CUTOFF",
    "TOP_GROUPS_MAX_SIZE",
    "TOP_GROUPS_MIN_DEPTH",
    "WORDNET",
    "checked_index",
    "class_groups",
    "class_index",
    "class_parents",
    "class_record",
    "classes_named",
    "concept_groups",
    "display_name",
    "find_classes",
    "find_groups",
    "first_synonym_collisions",
    "group",
    "group_members",
    "imagenet_class_names",
    "imagenet_descriptions",
    "imagenet_display_names",
    "imagenet_groups",
    "imagenet_synonyms",
    "imagenet_wnids",
    "membership_matrix",
    "normalize",
    "not_in_imagenet",
    "shadowed_wordnet_groups",
    "shared_class_names",
    "shared_descriptions",
    "shared_synonyms",
    "shared_wnids",
    "top_groups",
]
