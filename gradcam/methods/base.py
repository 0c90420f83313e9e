"""What every explanation method is: a small class with one hook, ``compute``.

A method receives a :class:`Job` (one batch of images with their targets) and returns raw maps,
one per image, before ReLU and normalisation, which the explainer applies the same way for all.
CAM-family methods return maps at the chosen layer's resolution; pixel methods at the model's
input resolution.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Protocol

import numpy as np


class Job(Protocol):
    """The quantities a method may ask for, computed lazily and at most once per batch.

    Shapes: B images, model input (B, H, W, C), layer activations (B, h, w, K), classes N.
    """

    x: np.ndarray                    #: model inputs, preprocessed, float32 (B, H, W, C)
    keys: list[str]                  #: per row, a digest of the image: equal keys, equal images
    options: dict                    #: the method's keyword options, as passed to explain()
    progress: Callable[[float, str], None]

    def activations(self) -> np.ndarray: ...          # (B, h, w, K) at the chosen layer
    def logits(self) -> np.ndarray: ...                # (B, N)
    def weights(self) -> np.ndarray: ...               # (B, N) the target weight vector per image
    def gradients(self) -> np.ndarray: ...             # d(weights . logits)/d(activations), (B, h, w, K)
    def head_logits(self, activations: np.ndarray) -> np.ndarray: ...   # (M, N) from (M, h, w, K)
    def probabilities(self, x: np.ndarray) -> np.ndarray: ...           # (M, N) for inputs (M, H, W, C)
    def input_gradients(self, x: np.ndarray, weights: np.ndarray, guided: bool = False) -> np.ndarray: ...
    def gap_dense_head(self) -> tuple[np.ndarray, np.ndarray]: ...      # kernel (K, N), bias (N,)


class Method:
    """Base class of every method. Subclasses set the class attributes and override ``compute``.

    Attributes:
        key: the registry name, e.g. ``"gradcam++"``.
        label: the name shown to people.
        paper: the paper implemented, with its arXiv or DOI reference.
        summary: one line on what the map means.
        uses_layer: True for CAM-family methods (a map at a convolutional layer).
        class_specific: False for methods whose map does not depend on the target (Eigen-CAM).
        passes: a rough count of network passes, shown so people know what is slow.
        options: the keyword options ``compute`` reads from ``job.options``.
    """

    key: ClassVar[str]
    label: ClassVar[str]
    paper: ClassVar[str]
    summary: ClassVar[str]
    uses_layer: ClassVar[bool] = True
    class_specific: ClassVar[bool] = True
    passes: ClassVar[str] = "1 forward + partial backward"
    options: ClassVar[tuple[str, ...]] = ()

    def compute(self, job: Job) -> np.ndarray:
        """Raw maps (B, h, w) before ReLU; the explainer rectifies, upsamples and normalises."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.key!r}>"
