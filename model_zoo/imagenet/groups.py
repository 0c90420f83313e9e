"""A named set of ImageNet classes (:class:`ClassGroup`), whichever source it comes from.

:mod:`.hierarchy` builds the WordNet groups and :mod:`.concepts` the curated ones; both make
``ClassGroup`` objects, and the lookups (``group``, ``find_groups``, ``class_groups``) in
:mod:`.hierarchy` search both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

#: The package's data files (the hierarchy, the curated concepts, WordNet's licence).
DATA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
#: ``ClassGroup.source`` of a WordNet group and of a curated concept.
WORDNET = "wordnet"
CURATED = "curated"


@dataclass(frozen=True)
class ClassGroup:
    """A named set of ImageNet classes.

    ``name``: unique among all groups (WordNet and curated); ``members``: sorted class indices (0-999);
    ``source``: ``"wordnet"`` or ``"curated"``. WordNet groups also have ``wnid``, ``lemmas`` (the
    synset's words, underscores as spaces), ``parents`` (WordNet ids of the groups directly above;
    empty for the root "entity") and ``depth`` (shortest hypernym path from "entity", which is 0);
    curated groups have ``rationale`` (one line) and ``depth`` None."""

    name: str
    members: tuple[int, ...]
    source: str
    wnid: str = ""
    lemmas: tuple[str, ...] = ()
    parents: tuple[str, ...] = ()
    depth: int | None = None
    rationale: str = ""

    @property
    def size(self) -> int:
        """How many classes the group covers."""
        return len(self.members)

    def as_record(self) -> dict:
        """A JSON-ready description for saved records: name, source, WordNet id (WordNet groups) and
        the member indices, so that a record still says what was explained if the data change."""
        record: dict = {"group": self.name, "source": self.source, "members": list(self.members)}
        if self.wnid:
            record["wnid"] = self.wnid
        return record


__all__ = ["CURATED", "DATA_DIR", "WORDNET", "ClassGroup"]
