"""One exception class per kind of failure. Each message says what was expected, what was found,
and what to do about it."""

from __future__ import annotations


class GradCamError(Exception):
    """Base class of every error the engine raises on purpose."""


class ImageError(GradCamError, ValueError):
    """The image could not be read or is not usable (corrupt, empty, too large, wrong type)."""


class TargetError(GradCamError, ValueError):
    """A target that cannot be used: wrong type, a contrast of a class with itself, or a list of
    targets whose length does not match the images."""


class UnknownClassError(TargetError, KeyError):
    """A target class name or index that the model does not have."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class LayerError(GradCamError, ValueError):
    """A layer that does not exist, or that has no spatial (H, W, C) output."""


class NoSpatialLayerError(LayerError):
    """The model has no layer with a spatial output, so CAM methods cannot run on it."""


class UnsupportedModelError(GradCamError, ValueError):
    """A model the engine cannot explain (several inputs, output that is not (batch, classes), ...)."""


class MethodError(GradCamError, ValueError):
    """An unknown method name, or a method that cannot run on this model or layer."""


class MetricError(GradCamError, ValueError):
    """A faithfulness metric that cannot be computed as asked: an unknown metric name, a bad
    option (steps, fractions, fill), a pointing-game box or point outside the image, or an
    explanation that does not belong to the image given."""


class RenderError(GradCamError, ValueError):
    """A picture that cannot be drawn as asked: an unknown colour map, an opacity or a "show the
    top X%" fraction out of range, or an image or heatmap of the wrong shape or type."""


class ExportError(GradCamError, ValueError):
    """A download that cannot be built as asked: an image that is not uint8, two files with one
    name in a ZIP archive, an unknown file kind, or an explanation without the data it needs."""


class LinkError(TargetError):
    """A shared link's target that cannot be read (for example "285-vs-" or "group:"); the app
    shows it as a one-line warning and ignores the value."""
