"""Pixel-level methods: gradients of the target's logit with respect to the input image.

Their maps have the model's input resolution. Each also returns the signed gradient image
(B, H, W, C) as ``MethodOutput.attributions``, which the explainer keeps as ``Explanation.attribution``.
"""

from __future__ import annotations

import numpy as np

from ..resize import upsample
from . import register
from .base import Job, Method, MethodOutput, Option
from .gradient_cams import GradCAM


def _magnitude(gradients: np.ndarray) -> np.ndarray:
    # Simonyan et al., section 3.1: the map is the maximum absolute gradient over colour channels.
    return np.abs(gradients).max(axis=-1)


@register
class Saliency(Method):
    key = "saliency"
    label = "Gradient saliency"
    paper = "Simonyan et al., Deep Inside Convolutional Networks, ICLR Workshops 2014 (arXiv:1312.6034)"
    summary = "How strongly each pixel's change would move the class score; needs no conv layer."
    uses_layer = False
    passes = "1 forward + full backward"

    def compute(self, job: Job) -> MethodOutput:
        gradients = job.input_gradients(job.x, None)
        return MethodOutput(_magnitude(gradients), attributions=gradients)


@register
class SmoothGrad(Method):
    key = "smoothgrad"
    label = "SmoothGrad"
    paper = "Smilkov et al., SmoothGrad, 2017 (arXiv:1706.03825)"
    summary = "Saliency averaged over noisy copies of the image: less speckle."
    uses_layer = False
    passes = "1 forward + full backward per sample (batched)"
    slow = True
    options = (
        Option("samples", 25, "noisy copies averaged", int),
        Option(
            "noise",
            0.15,
            "noise standard deviation as a fraction of the input's range (the paper recommends 0.10-0.20)",
            float,
        ),
        Option("batch_size", 16, "noisy copies per network pass", int),
        Option("seed", 0, "random seed of the noise (None: a new draw each time)"),
    )

    def compute(self, job: Job) -> MethodOutput:
        """Options: ``samples`` (default 25), ``noise`` (default 0.15: the noise's standard
        deviation as a fraction of the input's range, the paper's recommended 10-20%),
        ``batch_size`` (default 16), ``seed`` (default 0, so maps are reproducible)."""
        samples = job.option("samples")
        noise = job.option("noise")
        batch_size = job.option("batch_size")
        rng = np.random.default_rng(job.option("seed"))
        weights = job.weights()
        averaged = np.zeros_like(job.x)
        for b, x in enumerate(job.x):
            sigma = noise * float(x.max() - x.min())
            total = np.zeros_like(x)
            for start in range(0, samples, batch_size):
                n = min(batch_size, samples - start)
                noisy = x[None] + rng.normal(0.0, sigma, size=(n, *x.shape)).astype(np.float32)
                total += job.input_gradients(noisy, np.repeat(weights[b][None], n, axis=0)).sum(axis=0)
                job.progress((b + (start + n) / samples) / len(job.x), f"SmoothGrad: {start + n} of {samples} samples")
            # Equation 2: the mean of the gradients, then the saliency map of that mean.
            averaged[b] = total / samples
        return MethodOutput(_magnitude(averaged), attributions=averaged)


@register
class GuidedBackprop(Method):
    key = "guidedbackprop"
    label = "Guided backpropagation"
    paper = "Springenberg et al., Striving for Simplicity, ICLR Workshops 2015 (arXiv:1412.6806)"
    summary = (
        "Gradients passed back only through positive activations and positive gradients: fine edges, "
        "not class-specific in practice."
    )
    uses_layer = False
    passes = "1 forward + full backward"

    def compute(self, job: Job) -> MethodOutput:
        gradients = job.input_gradients(job.x, None, guided=True)
        return MethodOutput(_magnitude(gradients), attributions=gradients)


@register
class GuidedGradCAM(Method):
    key = "guidedgradcam"
    label = "Guided Grad-CAM"
    paper = "Selvaraju et al., Grad-CAM, ICCV 2017, section 3.1 (arXiv:1610.02391)"
    summary = "Guided backpropagation masked by Grad-CAM: fine-grained and class-discriminative."
    passes = "2 forward + backward"

    def compute(self, job: Job) -> MethodOutput:
        gradients = job.gradients()
        cam = np.maximum(GradCAM.combine(job.activations(), gradients), 0.0)
        size = job.x.shape[1:3]
        # Section 3.1: Grad-CAM is upsampled to the input resolution (bilinear) and multiplied
        # point-wise with guided backpropagation.
        upsampled = upsample(cam, size)[..., None]
        attributions = job.input_gradients(job.x, job.weights(), guided=True) * upsampled
        return MethodOutput(_magnitude(attributions), attributions=attributions)
