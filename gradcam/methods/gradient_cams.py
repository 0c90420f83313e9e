"""CAM methods that weight a layer's activations by the target's gradient.

All of them share one pass: activations A and gradients G = d(score)/dA, both (B, h, w, K), where
the score is the target's *logit* (or a difference of logits for a contrast); each method is only
its way of combining the two.
"""

from __future__ import annotations

import numpy as np

from . import register
from .base import Job, Method, MethodOutput

_EPS = 1e-7


class GradientCAM(Method):
    """Base of the gradient-weighted methods: override ``combine``."""

    def compute(self, job: Job) -> MethodOutput:
        gradients = job.gradients()  # first: where the head cannot stand alone, one pass gives both
        return MethodOutput(self.combine(job.activations(), gradients))

    @staticmethod
    def combine(activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
        """Map (B, h, w) from activations and gradients, both (B, h, w, K)."""
        raise NotImplementedError


@register
class GradCAM(GradientCAM):
    key = "gradcam"
    label = "Grad-CAM"
    paper = "Selvaraju et al., Grad-CAM, ICCV 2017 (arXiv:1610.02391)"
    summary = "Channels weighted by their average gradient: where evidence for the class sits."

    @staticmethod
    def combine(activations, gradients):
        # Equation 1: alpha_k = mean over (i, j) of dy/dA_k; equation 2: ReLU(sum_k alpha_k A_k).
        alpha = gradients.mean(axis=(1, 2))
        return np.einsum("bhwk,bk->bhw", activations, alpha)


@register
class GradCAMPlusPlus(GradientCAM):
    key = "gradcam++"
    label = "Grad-CAM++"
    paper = "Chattopadhyay et al., Grad-CAM++, WACV 2018 (arXiv:1710.11063)"
    summary = "Pixel-wise weighted gradients; better when several instances of the class appear."

    @staticmethod
    def combine(activations, gradients):
        # Equation 19 with the exponential score Y = exp(S): its higher derivatives become powers
        # of the first (dY/dA = exp(S) dS/dA, ...), and the common factor exp(S) cancels in alpha
        # and only scales the map, so it is dropped. Sum_ab A_ab is the sum over the whole map.
        g2 = gradients**2
        g3 = g2 * gradients
        total = activations.sum(axis=(1, 2), keepdims=True)
        denominator = 2.0 * g2 + total * g3
        alpha = np.where(gradients != 0, g2 / np.where(denominator != 0, denominator, _EPS), 0.0)
        weights = (alpha * np.maximum(gradients, 0.0)).sum(axis=(1, 2))
        return np.einsum("bhwk,bk->bhw", activations, weights)


@register
class HiResCAM(GradientCAM):
    key = "hirescam"
    label = "HiResCAM"
    paper = "Draelos & Carin, HiResCAM, 2020 (arXiv:2011.08891)"
    summary = "Gradient times activation, element-wise: provably faithful for CNN heads."

    @staticmethod
    def combine(activations, gradients):
        # Section 3: sum over channels of G * A, element-wise, without averaging the gradient.
        return (gradients * activations).sum(axis=-1)


@register
class XGradCAM(GradientCAM):
    key = "xgradcam"
    label = "XGrad-CAM"
    paper = "Fu et al., Axiom-based Grad-CAM, BMVC 2020 (arXiv:2008.02312)"
    summary = "Gradients weighted by normalised activations, chosen to satisfy sensitivity and conservation."

    @staticmethod
    def combine(activations, gradients):
        # Equation 9: alpha_k = sum_ij (A_k_ij / sum_ij A_k_ij) * dS/dA_k_ij.
        total = activations.sum(axis=(1, 2))
        alpha = (gradients * activations).sum(axis=(1, 2)) / (total + _EPS)
        return np.einsum("bhwk,bk->bhw", activations, alpha)


@register
class LayerCAM(GradientCAM):
    key = "layercam"
    label = "LayerCAM"
    paper = "Jiang et al., LayerCAM, IEEE TIP 2021 (doi:10.1109/TIP.2021.3089943)"
    summary = "Positive gradients weight each location separately: sharp maps, also at early layers."

    @staticmethod
    def combine(activations, gradients):
        # Equations 5-6: ReLU(G) * A per location, summed over channels.
        return (np.maximum(gradients, 0.0) * activations).sum(axis=-1)
