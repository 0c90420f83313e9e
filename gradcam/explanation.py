"""What an explanation is: the map, what it explains, and how it was made."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from .resize import upsample
from .targets import Contrast, Group, Target, top_classes


@dataclass(frozen=True, eq=False)
class Explanation:
    """One map for one image, one target, one method and one layer.

    Attributes:
        heatmap: float32 (H, W) in [0, 1], aligned with the pixels of the image as given. All
            zeros (never NaN) when ``empty``.
        coarse: float32 (h, w), the method's raw map after ReLU and before upsampling or
            normalisation (the layer's resolution for CAM methods, the model input's for pixel
            methods). Its units are comparable between classes of one image and method.
        peak: the maximum of the upsampled raw map that ``heatmap`` was divided by; see
            :func:`gradcam.shared_scale`.
        probabilities: float32 (classes,) the model's probabilities for the image.
        target_index, target_name, target_probability: the class explained. For a
            :class:`Group`: its most probable member, the group's name and the sum of its
            members' probabilities.
        contrast_index, contrast_name: the other class of a :class:`Contrast`, else None (for a
            group on the other side, its most probable member and its name).
        target_members, contrast_members: the member indices of a group target (a class on one
            side of a contrast with a group counts as a group of one), else None.
        method: the method's registry key; layer: the layer's path, or None for pixel methods.
            For a map fused from several layers (``explain(..., layer=[a, b])``), their paths
            joined by " + " ("a + b"), which ``explain`` also accepts back.
        layers: the paths of the layers whose maps were used, in order: one for a CAM method on
            one layer, several for a fused map; empty for pixel methods.
        seconds: wall time of the explanation.
        empty: True when the map has no positive evidence; ``message`` then says so.
        model_input: uint8 (h, w, 3), the resized image the model actually saw.
        attribution: for pixel methods, the signed gradient image (h, w, C) at the model's input
            resolution (guided backpropagation's coloured picture); else None.
        notes: remarks on how the map was made (smoothing used, channels skipped, ...).
        top: the five most probable classes as (index, name, probability).
    """

    heatmap: np.ndarray
    coarse: np.ndarray
    peak: float
    probabilities: np.ndarray
    target_index: int
    target_name: str
    target_probability: float
    method: str
    layer: str | None
    seconds: float
    model_input: np.ndarray
    top: tuple[tuple[int, str, float], ...]
    contrast_index: int | None = None
    contrast_name: str | None = None
    empty: bool = False
    message: str | None = None
    attribution: np.ndarray | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    target_members: tuple[int, ...] | None = None
    contrast_members: tuple[int, ...] | None = None
    layers: tuple[str, ...] = ()

    @classmethod
    def from_raw(
        cls,
        raw: np.ndarray,
        *,
        image_size: tuple[int, int],
        model_input: np.ndarray,
        probabilities: np.ndarray,
        weights: np.ndarray,
        class_names: Sequence[str],
        method: str,
        method_label: str,
        layer: str | None,
        seconds: float,
        attribution: np.ndarray | None = None,
        notes: Sequence[str] = (),
        group: tuple | None = None,
    ) -> Explanation:
        """An explanation from a method's raw map: rectified, upsampled and normalised here.

        Args:
            raw: float (h, w), the method's map before ReLU.
            image_size: (H, W) of the image as given: the heatmap's shape.
            model_input: uint8 (h, w, 3), the resized image the model saw.
            probabilities: float32 (classes,) the model's probabilities for the image.
            weights: (classes,) the target's weights over the logits actually used: the first
                positive weight names the class explained, the first negative one the contrast.
            class_names: one name per class.
            method, method_label: the method's registry key and its name for people.
            layer: the layer's path, or None for pixel methods.
            seconds: wall time spent per image.
            attribution: a pixel method's signed gradient image (h, w, C), or None.
            notes: remarks on how the map was made.
            group: for a group target, ``(name, members, other_name, other_members)`` (the other
                side empty when there is no contrast): the names and probabilities come from it.
        """
        coarse, heatmap, peak = heatmap_from_raw(raw, image_size)
        members = other_members = None
        if group is not None:
            name, members, other_name, other_members = group
            members, other_members = tuple(members), (tuple(other_members) or None)
            index = max(members, key=lambda i: probabilities[i])
            other = max(other_members, key=lambda i: probabilities[i]) if other_members else None
            probability = float(np.sum(probabilities[list(members)], dtype=np.float64))
        else:
            positive, negative = np.flatnonzero(weights > 0), np.flatnonzero(weights < 0)
            index = int(positive[0]) if len(positive) else int(np.argmax(probabilities))
            other = int(negative[0]) if len(negative) else None
            name = str(class_names[index])
            other_name = str(class_names[other]) if other is not None else None
            probability = float(probabilities[index])
        message = None
        if peak == 0.0:
            what = f"{name!r} rather than {other_name!r}" if other is not None else repr(name)
            message = (
                f"No positive evidence for {what} at {layer or 'the input'} with {method_label}: "
                "every region lowers this score. Try another layer or method, or another class."
            )

        return cls(
            heatmap=heatmap,
            coarse=coarse,
            peak=peak,
            probabilities=probabilities,
            target_index=index,
            target_name=name,
            target_probability=probability,
            method=method,
            layer=layer,
            seconds=seconds,
            model_input=model_input,
            top=tuple(top_classes(probabilities, class_names)),
            contrast_index=other,
            contrast_name=other_name,
            empty=peak == 0.0,
            message=message,
            # A copy, not a view: one explanation must not keep its whole batch's array alive.
            attribution=np.array(attribution, np.float32) if attribution is not None else None,
            notes=tuple(notes),
            target_members=members,
            contrast_members=other_members,
            layers=(layer,) if layer is not None else (),
        )

    @property
    def label(self) -> str:
        """The target as people read it: "espresso", or "espresso rather than cup"."""
        if self.contrast_name is not None:
            return f"{self.target_name} rather than {self.contrast_name}"
        return self.target_name

    def summary(self) -> dict:
        """A JSON-ready record of everything but the arrays."""
        return {
            "method": self.method,
            "layer": self.layer,
            "layers": list(self.layers),
            "target_index": self.target_index,
            "target_name": self.target_name,
            "target_probability": round(float(self.target_probability), 6),
            "contrast_index": self.contrast_index,
            "contrast_name": self.contrast_name,
            "target_members": list(self.target_members) if self.target_members is not None else None,
            "contrast_members": list(self.contrast_members) if self.contrast_members is not None else None,
            "top5": [{"index": i, "name": n, "probability": round(float(p), 6)} for i, n, p in self.top],
            "empty": self.empty,
            "message": self.message,
            "seconds": round(self.seconds, 4),
            "notes": list(self.notes),
        }


def heatmap_from_raw(raw: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, float]:
    """The one post-processing of every method's map: ReLU, upsampling, normalisation.

    Args:
        raw: float (h, w), a method's map before ReLU (NaN and infinities count as 0).
        size: (H, W) of the image as given.

    Returns:
        ``(coarse, heatmap, peak)``: coarse float32 (h, w), the rectified raw map; heatmap
        float32 (H, W) in [0, 1], the coarse map upsampled (bilinear, half-pixel centres) and
        divided by its maximum ``peak``; all zeros with ``peak`` 0.0 when nothing is positive.
    """
    coarse = np.nan_to_num(np.asarray(raw, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    np.maximum(coarse, 0.0, out=coarse)
    heatmap = upsample(coarse, size)
    peak = float(heatmap.max()) if heatmap.size else 0.0
    if not peak > 0.0:
        return coarse, np.zeros(heatmap.shape, np.float32), 0.0
    heatmap /= peak  # in place: the upsampled map is ours, and a 12-megapixel copy is not free
    return coarse, heatmap, peak


#: Joins the layer paths of a fused map in ``Explanation.layer``.
LAYER_JOINER = " + "


def fuse_layers(parts: Sequence[Explanation]) -> Explanation:
    """One explanation from the explanations of one image, target and method at several layers.

    Each part's heatmap is already upsampled to the image and divided by its own peak; the fused
    heatmap is their mean, divided by its maximum (``peak``, in units of those per-layer peaks,
    so at most 1: ``shared_scale`` of fused maps compares these means, not the scores). A layer
    without positive evidence counts as zeros, as pytorch-grad-cam's multi-layer mean does.
    ``coarse`` is the same fusion at the model input's resolution (each part's coarse map
    upsampled there and divided by its maximum), since the layers' own grids differ.
    """
    if not parts:
        raise ValueError("fuse_layers needs at least one explanation.")
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    mean = np.mean([p.heatmap for p in parts], axis=0, dtype=np.float32)
    peak = float(mean.max()) if mean.size else 0.0
    heatmap = mean / peak if peak > 0.0 else np.zeros_like(mean)
    coarse_parts = []
    for p in parts:
        c = upsample(p.coarse, first.model_input.shape[:2])
        top = float(c.max()) if c.size else 0.0
        coarse_parts.append(c / top if top > 0.0 else np.zeros_like(c))
    coarse = np.asarray(np.mean(coarse_parts, axis=0, dtype=np.float32))
    layers = tuple(layer for p in parts for layer in p.layers)
    notes = list(dict.fromkeys(note for p in parts for note in p.notes))
    notes.append(
        f"Fused: the mean of the maps of {len(parts)} layers ({', '.join(layers)}), "
        "each upsampled to the image and normalised to its own peak."
    )
    notes += [f"Layer {p.layer} has no positive evidence: it counts as zeros in the mean." for p in parts if p.empty]
    empty = not peak > 0.0
    message = None
    if empty:
        message = (
            f"No positive evidence for {first.label!r} at any of the layers {', '.join(layers)} with "
            f"{first.method}: every region lowers this score. Try other layers, another method or class."
        )
    return replace(
        first,
        heatmap=heatmap.astype(np.float32),
        coarse=coarse,
        peak=peak if not empty else 0.0,
        layer=LAYER_JOINER.join(layers),
        layers=layers,
        seconds=sum(p.seconds for p in parts),
        empty=empty,
        message=message,
        notes=tuple(notes),
    )


def shared_scale(explanations: list[Explanation]) -> list[np.ndarray]:
    """The explanations' heatmaps on one colour scale: each divided by the largest peak among them.

    Use it to compare classes (or a class and a contrast) of one image with one method and layer:
    a class with weaker evidence then looks weaker, instead of every map reaching 1.
    """
    top = max((e.peak for e in explanations), default=0.0)
    if top <= 0:
        return [np.zeros_like(e.heatmap) for e in explanations]
    return [(e.heatmap * (e.peak / top)).astype(np.float32) for e in explanations]


# Group, Contrast and Target are defined in gradcam.targets; importing them from here still works.
__all__ = [
    "LAYER_JOINER",
    "Contrast",
    "Explanation",
    "Group",
    "Target",
    "fuse_layers",
    "heatmap_from_raw",
    "shared_scale",
]
