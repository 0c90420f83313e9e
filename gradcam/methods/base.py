"""What every explanation method is: a small class with one hook, ``compute``, and its options as data.

A method receives a :class:`~gradcam.job.Job` (one batch of images with their targets, options
resolved) and returns a :class:`MethodOutput`: raw maps, one per image, before ReLU and
normalisation, which the explainer applies the same way for all. CAM-family methods return maps
at the chosen layer's resolution; pixel methods at the model's input resolution, with their
signed gradient image as ``attributions``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..errors import MethodError
from ..job import Job

#: Options every method accepts, besides its own (``Method.options``): handled by the explainer.
COMMON_OPTIONS = ("aug_smooth", "progress")


@dataclass(frozen=True)
class Option:
    """One keyword option of a method, declared as data so that the CLI, the app and the README
    can show it without knowing the method.

    Attributes:
        name: the keyword, e.g. ``"samples"``.
        default: the value used when the caller gives none (None: "not set", e.g. all channels).
        help: one line for people: what it changes, and its unit.
        convert: applied to a value the caller gives (e.g. ``int``), so that "25" from a command
            line and 25 from Python mean the same; None keeps the value as given.
    """

    name: str
    default: Any
    help: str
    convert: Callable[[Any], Any] | None = None

    def value(self, given: Any) -> Any:
        """``given`` converted (None stays None), or a MethodError saying what was expected."""
        if given is None or self.convert is None:
            return given
        try:
            return self.convert(given)
        except (TypeError, ValueError) as error:
            kind = getattr(self.convert, "__name__", "a valid value")
            raise MethodError(
                f"Option {self.name}={given!r} is not usable: {kind} expected ({error}). {self.help}"
            ) from None


@dataclass(frozen=True)
class MethodOutput:
    """What a method computed for one batch.

    Attributes:
        maps: float (B, h, w), the raw maps before ReLU (the explainer rectifies, upsamples and
            normalises them).
        attributions: for pixel methods, the signed attribution image (B, H, W, C) at the model's
            input resolution (kept as ``Explanation.attribution``); else None.
        notes: remarks on how the maps were made, shown with every explanation of the batch.
    """

    maps: np.ndarray
    attributions: np.ndarray | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


class Method:
    """Base class of every method. Subclasses set the class attributes and override ``compute``.

    Attributes:
        key: the registry name, e.g. ``"gradcam++"``.
        label: the name shown to people.
        paper: the paper implemented, with its arXiv or DOI reference.
        summary: one line on what the map means.
        uses_layer: True for CAM-family methods (a map at a convolutional layer).
        class_specific: False for methods whose map does not depend on the target (Eigen-CAM).
        passes: a rough count of network passes, as text for people ("1 forward").
        slow: True for methods that run many passes per image (one per channel or per sample):
            seconds rather than milliseconds; an app shows progress for them.
        options: the method's own keyword options, as :class:`Option` (name, default, help).
    """

    key: ClassVar[str]
    label: ClassVar[str]
    paper: ClassVar[str]
    summary: ClassVar[str]
    uses_layer: ClassVar[bool] = True
    class_specific: ClassVar[bool] = True
    passes: ClassVar[str] = "1 forward + partial backward"
    slow: ClassVar[bool] = False
    options: ClassVar[tuple[Option, ...]] = ()

    def compute(self, job: Job) -> MethodOutput:
        """The raw maps of the job's batch (before ReLU), and attributions for pixel methods."""
        raise NotImplementedError

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """The names of the method's own options."""
        return tuple(option.name for option in cls.options)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """``{name: default}`` of the method's own options."""
        return {option.name: option.default for option in cls.options}

    @classmethod
    def resolve_options(cls, given: Mapping[str, Any]) -> dict[str, Any]:
        """Every option of the method: the given values (converted), defaults for the rest.
        An unknown name is refused with the list of valid ones (``COMMON_OPTIONS`` included)."""
        unknown = set(given) - set(cls.option_names())
        if unknown:
            valid = sorted(set(cls.option_names()) | set(COMMON_OPTIONS))
            raise MethodError(
                f"Unknown option(s) {', '.join(sorted(unknown))} for {cls.label}; "
                f"valid options: {', '.join(valid) or 'none'}."
            )
        return {o.name: o.value(given[o.name]) if o.name in given else o.default for o in cls.options}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.key!r}>"


def rows_by_image(job: Job) -> list[list[int]]:
    """Batch rows grouped by identical image: methods whose passes depend on the image only
    (Score-CAM's masks, Ablation-CAM's ablations, Occlusion's windows) run them once for several
    targets of one image."""
    groups: dict[str, list[int]] = {}
    for row, key in enumerate(job.keys):
        groups.setdefault(key, []).append(row)
    return list(groups.values())


__all__ = ["COMMON_OPTIONS", "Job", "Method", "MethodOutput", "Option", "rows_by_image"]
