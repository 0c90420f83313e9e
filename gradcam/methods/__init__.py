"""The registry of explanation methods: name -> method, each with its label and paper.

It feeds the CLI (``python -m gradcam methods``), the app's picker, the tests and the README
table. Adding a method is one class in this package and one ``@register`` line.
"""

from __future__ import annotations

from ..errors import MethodError
from .base import COMMON_OPTIONS, Job, Method, MethodOutput, Option

METHODS: dict[str, Method] = {}


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: add one instance of ``cls`` to :data:`METHODS` under ``cls.key``."""
    if cls.key in METHODS:
        raise ValueError(f"Method key {cls.key!r} is registered twice.")
    METHODS[cls.key] = cls()
    return cls


def get_method(name: str) -> Method:
    """The registered method called ``name`` (case-insensitive); MethodError lists the valid ones."""
    method = METHODS.get(str(name).lower())
    if method is None:
        raise MethodError(f"Unknown method {name!r}. Available: {', '.join(METHODS)}.")
    return method


# Registration order is display order (so the import order matters: keep isort off here).
# isort: off
from . import gradient_cams, cam, perturbation, eigen_cam, pixel, occlusion  # noqa: E402,F401
# isort: on

__all__ = ["COMMON_OPTIONS", "METHODS", "Job", "Method", "MethodOutput", "Option", "get_method", "register"]
