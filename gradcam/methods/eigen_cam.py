"""Eigen-CAM and Eigen-Grad-CAM: the first principal component of a layer's activations (Eigen-CAM,
no gradient, no class) or of activations times gradients (Eigen-Grad-CAM, class-specific)."""

from __future__ import annotations

import numpy as np

from . import register
from .base import Job, Method, MethodOutput


def first_component(features: np.ndarray, orient: np.ndarray) -> np.ndarray:
    """The projection of each location on the first principal axis of ``features``.

    Args:
        features: (h, w, K), one K-vector per location.
        orient: (h, w), a map the result must agree with: a singular vector's sign is arbitrary,
            so the projection is negated when its correlation with ``orient`` is negative.

    Returns:
        float64 (h, w): the (h*w, K) matrix C, centred per channel, times its first right
        singular vector V_1 (equation 3 of Eigen-CAM).
    """
    matrix = np.nan_to_num(features.reshape(-1, features.shape[-1]).astype(np.float64))
    centred = matrix - matrix.mean(axis=0)
    # C V_1 without the SVD of C (n x K): from the top eigenvector of the smaller Gram matrix.
    # With C = U S V^T, C C^T = U S^2 U^T gives C V_1 = s_1 U_1; C^T C = V S^2 V^T gives V_1.
    # Same map up to sign (fixed below), and about 200 times faster than LAPACK's SVD of a
    # 49 x 1280 matrix (EfficientNet-Lite0's last layer) on this machine.
    if centred.shape[0] <= centred.shape[1]:
        values, vectors = np.linalg.eigh(centred @ centred.T)
        projection = np.sqrt(max(values[-1], 0.0)) * vectors[:, -1]
    else:
        _, vectors = np.linalg.eigh(centred.T @ centred)
        projection = centred @ vectors[:, -1]
    reference = orient.reshape(-1).astype(np.float64)
    if np.dot(projection, reference - reference.mean()) < 0:
        projection = -projection
    return projection.reshape(features.shape[:2])


@register
class EigenCAM(Method):
    key = "eigencam"
    label = "Eigen-CAM"
    paper = "Muhammad & Yeasin, Eigen-CAM, IJCNN 2020 (arXiv:2008.00299)"
    summary = "The dominant pattern of the layer's activations; the same for every class."
    class_specific = False
    passes = "1 forward"

    def compute(self, job: Job) -> MethodOutput:
        activations = job.activations()
        maps = np.zeros(activations.shape[:3], np.float32)
        for b, a in enumerate(activations):
            # Oriented to agree with the total activation (the paper leaves the sign open, and a
            # flipped map would be inverted).
            maps[b] = first_component(a, a.sum(axis=-1))
        return MethodOutput(maps)


@register
class EigenGradCAM(Method):
    key = "eigengradcam"
    label = "Eigen-Grad-CAM"
    paper = "Eigen-CAM (arXiv:2008.00299) on activations x gradients, as in pytorch-grad-cam's EigenGradCAM"
    summary = "The dominant pattern of activations times the class's gradients: Eigen-CAM made class-specific."

    def compute(self, job: Job) -> MethodOutput:
        gradients = job.gradients()  # first: where the head cannot stand alone, one pass gives both
        product = job.activations() * gradients
        maps = np.zeros(product.shape[:3], np.float32)
        for b, p in enumerate(product):
            # Oriented to agree with the summed product sum_k A_k * dY/dA_k (HiResCAM's map), so
            # that the map points at evidence for the class, not against it.
            maps[b] = first_component(p, p.sum(axis=-1))
        return MethodOutput(maps)
