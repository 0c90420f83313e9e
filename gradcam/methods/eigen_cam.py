"""Eigen-CAM: the first principal component of a layer's activations; no gradient, no class."""
from __future__ import annotations

import numpy as np

from . import register
from .base import Job, Method, MethodOutput


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
            matrix = a.reshape(-1, a.shape[-1]).astype(np.float64)
            centred = matrix - matrix.mean(axis=0)
            # Equation 3: project onto the first right singular vector V_1.
            _, _, vt = np.linalg.svd(centred, full_matrices=False)
            projection = centred @ vt[0]
            # A singular vector's sign is arbitrary; orient it so that the map agrees with the
            # total activation (the paper leaves this open, and a flipped map would be inverted).
            if np.dot(projection, matrix.sum(axis=1) - matrix.sum(axis=1).mean()) < 0:
                projection = -projection
            maps[b] = projection.reshape(a.shape[:2])
        return MethodOutput(maps)
