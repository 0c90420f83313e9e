"""Deep Feature Factorization: the concepts a layer sees in one image, and the classes they vote for.

Collins, Achanta & Süsstrunk, "Deep Feature Factorization for Concept Discovery", ECCV 2018
(arXiv:1806.10206), as pytorch-grad-cam's ``DeepFeatureFactorization`` applies it to classifiers:
the layer's activations of one image, rectified, as a non-negative (h*w, K) matrix V, are factorised
as V ~ W H with W (h*w, k) and H (k, K) non-negative. Column i of W, reshaped to (h, w), says where
concept i is; row i of H, the concept's *embedding*, says which channels make it up. Running the
model's head on an embedding says which classes the concept votes for.

    concepts = explainer.concepts(image, k=4)               # last spatial layer by default
    concepts.maps            # (k, H, W) in [0, 1], aligned with the image's pixels
    concepts.top_classes[0]  # ((index, name, probability), ...) of concept 0

Choices, where the paper and pytorch-grad-cam leave one:
- V is the ReLU of the activations (the paper's setting: post-ReLU features). pytorch-grad-cam
  instead shifts each channel by its minimum; for a ReLU/ReLU6 layer (EfficientNet-Lite's) both
  are the same matrix, for a swish layer the ReLU drops its small negative part.
- The NMF is this module's own (:func:`nmf`: HALS, hierarchical alternating least squares, Cichocki
  & Phan 2009), seeded and deterministic; scikit-learn is not a dependency.
- W H has a scale freedom per concept (W_i c, H_i / c). Each column of W is scaled to a maximum
  of 1, so that H_i is the activation vector where concept i is fully present, alone.
- The classes of concept i are the head's logits for an activation equal to H_i at *every*
  location: for a global-average-pooling + dense head that is exactly H_i @ kernel + bias (computed
  so, without TensorFlow), for any other head the head itself is run on the tiled embedding. Their
  probabilities use the model's own output activation (softmax; sigmoid for a multi-label model).
  A layer whose head cannot stand alone (a skip connection goes around it) gets no classes
  (``top_classes`` empty, ``logits`` None) and a note.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .errors import MethodError
from .resize import upsample

if TYPE_CHECKING:
    from .explainer import Explainer

_EPS = 1e-12


@dataclass(frozen=True, eq=False)
class Concepts:
    """The k concepts of one image at one layer.

    Attributes:
        maps: float32 (k, H, W) in [0, 1], aligned with the pixels of the image as given: each
            concept's coarse map upsampled (bilinear, half-pixel centres, like every map here) and
            divided by its maximum (all zeros for a concept that is nowhere).
        coarse: float32 (k, h, w), the columns of W at the layer's resolution, each scaled to a
            maximum of 1 (the scale moved into ``embeddings``).
        embeddings: float32 (k, K), the rows of H: ``sum_i coarse[i][..., None] * embeddings[i]`` is
            the factorisation's reconstruction of the rectified activations (h, w, K).
        top_classes: per concept, its most probable classes as (index, name, probability), most
            probable first; empty tuples when the layer's head cannot be run alone.
        logits: float32 (k, classes), the head's logits for each concept's embedding; or None.
        reconstruction_error: ||V - W H||_F / ||V||_F, V the rectified activations (0: exact).
        layer: the layer's path. k: the number of concepts. seconds: wall time.
        iterations: NMF iterations run. seed: the NMF's seed.
        model_input: uint8 (h, w, 3), the resized image the model saw.
        probabilities: float32 (classes,) the model's probabilities for the whole image.
        notes: remarks on how the concepts were made.
    """

    maps: np.ndarray
    coarse: np.ndarray
    embeddings: np.ndarray
    top_classes: tuple[tuple[tuple[int, str, float], ...], ...]
    logits: np.ndarray | None
    reconstruction_error: float
    layer: str
    seconds: float
    iterations: int
    seed: int
    model_input: np.ndarray
    probabilities: np.ndarray
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def k(self) -> int:
        """The number of concepts."""
        return len(self.coarse)

    def reconstruction(self) -> np.ndarray:
        """W H as (h, w, K): the factorisation's approximation of the rectified activations."""
        return np.einsum("ihw,ik->hwk", self.coarse, self.embeddings)

    def labels(self, top: int = 2) -> list[str]:
        """One legend line per concept: "concept 1: tabby 41%, Egyptian Mau 22%"."""
        lines = []
        for i, classes in enumerate(self.top_classes or ((),) * self.k):
            votes = ", ".join(f"{name} {probability:.0%}" for _, name, probability in classes[:top])
            lines.append(f"concept {i + 1}: {votes}" if votes else f"concept {i + 1}")
        return lines

    def summary(self, top: int = 5) -> dict:
        """A JSON-ready record of everything but the arrays."""
        return {
            "method": "dff",
            "layer": self.layer,
            "k": self.k,
            "seed": self.seed,
            "iterations": self.iterations,
            "reconstruction_error": round(float(self.reconstruction_error), 6),
            "seconds": round(self.seconds, 4),
            "concepts": [
                {
                    "index": i,
                    "area": round(float(self.coarse[i].mean()), 6),
                    "top": [{"index": c, "name": n, "probability": round(float(p), 6)} for c, n, p in classes[:top]],
                }
                for i, classes in enumerate(self.top_classes or ((),) * self.k)
            ],
            "notes": list(self.notes),
        }


def nmf(
    v: np.ndarray, k: int, *, seed: int = 0, max_iter: int = 400, tol: float = 1e-5
) -> tuple[np.ndarray, np.ndarray, int]:
    """Non-negative matrix factorisation V ~ W H by HALS, minimising ||V - W H||_F.

    Args:
        v: non-negative (n, m).
        k: the number of components, 1 <= k <= min(n, m).
        seed: the random initialisation's seed: equal inputs and seeds give equal outputs.
        max_iter: the most sweeps (one sweep updates every column of W and row of H once).
        tol: stop when a sweep lowers the relative error by less than this.

    Returns:
        ``(w, h, iterations)``: w float64 (n, k), h float64 (k, m), both non-negative.
    """
    v = np.asarray(v, np.float64)
    n, m = v.shape
    rng = np.random.default_rng(seed)
    # sklearn's "random" initialisation's scale: W H then has V's mean.
    scale = np.sqrt(max(v.mean(), 0.0) / k)
    w = scale * rng.random((n, k))
    h = scale * rng.random((k, m))
    squared = float(np.square(v).sum())
    if squared == 0.0:
        return np.zeros((n, k)), np.zeros((k, m)), 0
    previous = np.inf
    iterations = 0
    for iterations in range(1, max_iter + 1):
        # H's rows, then W's columns: each the exact least-squares update given the others.
        wtv, wtw = w.T @ v, w.T @ w
        for j in range(k):
            h[j] = np.maximum(h[j] + (wtv[j] - wtw[j] @ h) / max(wtw[j, j], _EPS), 0.0)
        vht, hht = v @ h.T, h @ h.T
        for j in range(k):
            w[:, j] = np.maximum(w[:, j] + (vht[:, j] - w @ hht[:, j]) / max(hht[j, j], _EPS), 0.0)
        if iterations % 5 == 0 or iterations == max_iter:
            # ||V - W H||^2 = ||V||^2 - 2 <W^T V, H> + <W^T W, H H^T>, without forming W H.
            wtv, wtw, hht = w.T @ v, w.T @ w, h @ h.T
            error = np.sqrt(max(squared - 2.0 * float((wtv * h).sum()) + float((wtw * hht).sum()), 0.0) / squared)
            if previous - error < tol:
                break
            previous = error
    return w, h, iterations


def check_k(k, channels: int, locations: int, layer: str) -> int:
    """``k`` as an int, or a MethodError saying what is allowed."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise MethodError(f"k, the number of concepts, must be a whole number; got {k!r}.")
    most = min(channels, locations)
    if not 1 <= int(k) <= most:
        raise MethodError(
            f"k={k} concepts cannot be found at layer {layer!r}: k must be from 1 to {most} (the "
            f"layer has {channels} channels at {locations} locations, and a factorisation has at "
            "most as many concepts as either). 2 to 6 concepts are usual."
        )
    return int(k)


def find_concepts(
    explainer: Explainer,
    image: np.ndarray,
    k: int = 4,
    layer: str | None = None,
    *,
    seed: int = 0,
    max_iter: int = 400,
    top: int = 5,
) -> Concepts:
    """Deep Feature Factorization of one image at one layer (see the module's docstring).

    Args:
        explainer: the explainer of the model.
        image: uint8 RGB (H, W, 3), any size.
        k: the number of concepts.
        layer: a path from ``explainer.layers``; default the last spatial layer.
        seed: the NMF's seed. max_iter: the most NMF sweeps. top: classes listed per concept.
    """
    from .images import as_rgb_uint8
    from .targets import top_classes

    started = time.perf_counter()
    functions = explainer.layer_functions(layer)
    path = functions.layer.path
    image = as_rgb_uint8(image)
    job = explainer.job([image], layer=path)
    # The activation map (h, w, K): a token layer's patch tokens come reshaped to their grid.
    activations = np.nan_to_num(job.activations()[0].astype(np.float64))
    h, w, channels = activations.shape
    k = check_k(k, channels, h * w, path)
    v = np.maximum(activations.reshape(h * w, channels), 0.0)
    w_matrix, h_matrix, iterations = nmf(v, k, seed=seed, max_iter=max_iter)
    peaks = w_matrix.max(axis=0)
    scale = np.where(peaks > 0, peaks, 1.0)
    w_matrix, h_matrix = w_matrix / scale, h_matrix * scale[:, None]
    squared = float(np.square(v).sum())
    error = float(np.sqrt(np.square(v - w_matrix @ h_matrix).sum() / squared)) if squared > 0 else 0.0
    coarse = w_matrix.T.reshape(k, h, w).astype(np.float32)
    embeddings = h_matrix.astype(np.float32)
    maps = upsample(coarse, image.shape[:2])
    for i in range(k):
        peak = float(maps[i].max())
        maps[i] = maps[i] / peak if peak > 0 else 0.0
    np.clip(maps, 0.0, 1.0, out=maps)

    notes: list[str] = []
    linear = functions.linear_head()
    if linear is not None:
        kernel, bias = linear
        logits = (embeddings @ kernel + bias).astype(np.float32)
        notes.append(
            "Concept classes: the dense head on each embedding (H_i @ kernel + bias), exact for "
            "this global-average-pooling + dense head."
        )
    elif functions.head_available:
        tiled = np.broadcast_to(embeddings[:, None, None, :], (k, h, w, channels))
        # (a token layer's head gets the image's own extra tokens, such as a class token, back)
        logits = job.head_logits(np.ascontiguousarray(tiled, np.float32), image=0)
        notes.append("Concept classes: the model's head run on each embedding repeated at every location.")
    else:
        logits = None
        later = (
            f"; choose a later layer, e.g. {explainer.default_layer!r}"
            if path != explainer.default_layer
            else "; the concept maps themselves are unaffected"
        )
        notes.append(
            f"No classes per concept: a skip connection goes around layer {path!r}, so its head "
            f"cannot run alone{later}."
        )
    ranked: tuple = ()
    if logits is not None:
        probabilities = explainer.probabilities_from_logits(logits)
        ranked = tuple(tuple(top_classes(p, explainer.class_names, top)) for p in probabilities)
    if not (v > 0).any():
        notes.append(f"Layer {path!r} has no positive activation for this image: every concept is empty.")
    image_probabilities = explainer.probabilities_from_logits(job.logits())[0]
    return Concepts(
        maps=maps,
        coarse=coarse,
        embeddings=embeddings,
        top_classes=ranked,
        logits=logits,
        reconstruction_error=error,
        layer=path,
        seconds=time.perf_counter() - started,
        iterations=iterations,
        seed=int(seed),
        model_input=job.model_inputs()[0],
        probabilities=image_probabilities,
        notes=tuple(notes),
    )


__all__ = ["Concepts", "check_k", "find_concepts", "nmf"]
