"""The one progress-callback type of the library, the model zoo and the app.

A progress callback receives the fraction done (0 to 1) and a short human message, e.g.
``progress(0.25, "Score-CAM: scored 32 of 128 channels")``. Long work (Score-CAM, SmoothGrad,
metrics, downloading or converting weights) calls it; nothing else is expected of it.
"""

from __future__ import annotations

from collections.abc import Callable

#: ``progress(fraction, message)``: fraction in [0, 1], message for people.
Progress = Callable[[float, str], None]


def no_progress(fraction: float, message: str) -> None:
    """A progress callback that ignores every report (the default where none is given)."""


__all__ = ["Progress", "no_progress"]
