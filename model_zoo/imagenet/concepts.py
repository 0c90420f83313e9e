"""Curated concept groups ("alcohol", "gambling", "weapons", ...) from ``model_zoo/data/concept_groups.json``.

The file is JSON rather than TOML because the project supports Python 3.10, whose standard library
has no TOML reader; it is laid out by hand to stay readable: one group a block, each member as
``[class index, display name]``, one line of rationale, and a list of what ImageNet cannot see
(no cigarette, dice or knife class). Loading checks every member's index against its name, so a
typo in the file fails loudly instead of silently explaining the wrong class.
"""

from __future__ import annotations

import functools
import json
import os

from ..errors import ModelZooError
from .groups import CURATED, DATA_DIR, ClassGroup
from .names import imagenet_display_names

CONCEPTS_FILE = os.path.join(DATA_DIR, "concept_groups.json")


def concept_groups() -> dict[str, ClassGroup]:
    """The curated concept groups by name, in file order; each a :class:`ClassGroup` with
    ``source == "curated"``, sorted ``members`` and a one-line ``rationale``. A new dict each call."""
    return dict(_concept_groups())


def not_in_imagenet() -> list[str]:
    """What a concept group cannot cover because ImageNet-1k has no such class, one sentence each
    ("Tobacco: no cigarette, cigar, ... class; ...")."""
    return list(_concepts_data()["not_in_imagenet"])


@functools.lru_cache(maxsize=1)
def _concepts_data() -> dict:
    try:
        with open(CONCEPTS_FILE, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError) as exc:
        raise ModelZooError(
            f"Expected the curated concept groups at {CONCEPTS_FILE}; could not read them ({exc}). "
            "The file ships with the repository: restore it with git, or fix the JSON error named above."
        ) from None


@functools.lru_cache(maxsize=1)
def _concept_groups() -> dict[str, ClassGroup]:
    names = imagenet_display_names()
    groups: dict[str, ClassGroup] = {}
    for entry in _concepts_data()["groups"]:
        name = entry.get("name", "")
        members = entry.get("members") or []
        problems = []
        for member in members:
            index, shown = (member + [None, None])[:2] if isinstance(member, list) else (None, None)
            if not isinstance(index, int) or not 0 <= index < len(names):
                problems.append(f"{member!r} (expected [index 0-999, display name])")
            elif shown != names[index]:
                problems.append(f'{member!r} (class {index} is "{names[index]}")')
        if not name or not members or not entry.get("rationale") or problems or name in groups:
            raise ModelZooError(
                f"Expected each concept group in {CONCEPTS_FILE} to have a unique name, members as "
                f'[index, display name] pairs and a rationale; group "{name}" has: '
                + ("; ".join(problems) if problems else "a missing or repeated name, no members or no rationale")
                + ". Fix the file (display names: model_zoo.imagenet.names.imagenet_display_names())."
            )
        groups[name] = ClassGroup(
            name=name, members=tuple(sorted({m[0] for m in members})), source=CURATED, rationale=entry["rationale"]
        )
    return groups
