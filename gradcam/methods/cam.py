"""The original class activation map, for networks ending in global average pooling + dense."""

from __future__ import annotations

import numpy as np

from . import register
from .base import Job, Method, MethodOutput


@register
class CAM(Method):
    key = "cam"
    label = "CAM"
    paper = "Zhou et al., Learning Deep Features for Discriminative Localization, CVPR 2016 (arXiv:1512.04150)"
    summary = "The dense layer's class weights applied to each location (needs a GAP + dense head)."
    passes = "1 forward"

    def compute(self, job: Job) -> MethodOutput:
        # Equation 2 of the paper: M_c(x, y) = sum_k w_k^c f_k(x, y). The weights come from the
        # dense layer after global average pooling, so mean(M_c) + b_c is exactly the logit.
        kernel, _ = job.gap_dense_head()
        class_weights = job.weights() @ kernel.T  # (B, K): contrast rows subtract classes
        return MethodOutput(np.einsum("bhwk,bk->bhw", job.activations(), class_weights))
