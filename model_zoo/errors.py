"""Errors raised by the model zoo. Every class subclasses :class:`gradcam.errors.GradCamError`, so the
app and the CLI can catch one base class; every message says what was expected, what was found and
what to do."""

from __future__ import annotations

from gradcam.errors import GradCamError, TargetError, UnknownClassError


class ModelZooError(GradCamError):
    """Base class of every error the model zoo raises on purpose."""


class UnknownModelError(ModelZooError, KeyError):
    """A zoo model name that does not exist; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class WeightsUnavailableError(ModelZooError, OSError):
    """Pretrained weights are not on this machine and could not be fetched (no network, package not
    installed). The message names the exact file, the folder it belongs in and where to get it."""


class WeightsFileError(ModelZooError, ValueError):
    """A weights file that is truncated, corrupt or in a format the reader does not support."""


class UnsafeModelError(ModelZooError, ValueError):
    """A user model refused before deserialization because loading it could run code or read files
    (Lambda layers, custom or non-Keras objects, file-backed lookup layers, oversized files)."""


class InvalidModelError(ModelZooError, ValueError):
    """A user model (or its class-names file) that is not a usable image classifier."""


class ClassLookupError(ModelZooError, UnknownClassError):
    """Text (a name, synonym, WordNet id or index) that names no ImageNet class. It is the engine's
    :class:`gradcam.errors.UnknownClassError`, so code that catches that catches this too.

    ``query`` is the text looked up; ``suggestions`` the closest display names (possibly empty)."""

    def __init__(self, message: str, query: str = "", suggestions: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.query = query
        self.suggestions = tuple(suggestions)


class AmbiguousClassError(ClassLookupError):
    """Text that names several ImageNet classes ("crane": the bird 134 and the machine 517);
    ``suggestions`` holds the unique display names of every class it names."""


class UnknownGroupError(ModelZooError, TargetError, KeyError):
    """A class-group name (WordNet hierarchy or curated concept) that does not exist; ``suggestions``
    holds the closest group names."""

    def __init__(self, message: str, query: str = "", suggestions: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.query = query
        self.suggestions = tuple(suggestions)

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""
