"""Pixel-level methods: gradients of the target's logit with respect to the input image.

Their maps have the model's input resolution. Each also leaves the signed gradient image
(B, H, W, C) in ``job.attributions``, which the explainer keeps as ``Explanation.attribution``.
"""
from __future__ import annotations

from .._quiet import import_tensorflow_quietly

import_tensorflow_quietly()  # before TensorFlow's own import, to hide its start-up notices

import numpy as np
import tensorflow as tf

from . import register
from .base import Job, Method
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

    def compute(self, job: Job) -> np.ndarray:
        gradients = job.input_gradients(job.x, None)
        job.attributions = gradients
        return _magnitude(gradients)


@register
class SmoothGrad(Method):
    key = "smoothgrad"
    label = "SmoothGrad"
    paper = "Smilkov et al., SmoothGrad, 2017 (arXiv:1706.03825)"
    summary = "Saliency averaged over noisy copies of the image: less speckle."
    uses_layer = False
    passes = "1 forward + full backward per sample (batched)"
    options = ("samples", "noise", "batch_size", "seed")

    def compute(self, job: Job) -> np.ndarray:
        """Options: ``samples`` (default 25), ``noise`` (default 0.15: the noise's standard
        deviation as a fraction of the input's range, the paper's recommended 10-20%),
        ``batch_size`` (default 16), ``seed`` (default 0, so maps are reproducible)."""
        samples = int(job.options.get("samples", 25))
        noise = float(job.options.get("noise", 0.15))
        batch_size = int(job.options.get("batch_size", 16))
        rng = np.random.default_rng(job.options.get("seed", 0))
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
        job.attributions = averaged
        return _magnitude(averaged)


@register
class GuidedBackprop(Method):
    key = "guidedbackprop"
    label = "Guided backpropagation"
    paper = "Springenberg et al., Striving for Simplicity, ICLR Workshops 2015 (arXiv:1412.6806)"
    summary = ("Gradients passed back only through positive activations and positive gradients: fine edges, "
               "not class-specific in practice.")
    uses_layer = False
    passes = "1 forward + full backward"

    def compute(self, job: Job) -> np.ndarray:
        gradients = job.input_gradients(job.x, None, guided=True)
        job.attributions = gradients
        return _magnitude(gradients)


@register
class GuidedGradCAM(Method):
    key = "guidedgradcam"
    label = "Guided Grad-CAM"
    paper = "Selvaraju et al., Grad-CAM, ICCV 2017, section 3.1 (arXiv:1610.02391)"
    summary = "Guided backpropagation masked by Grad-CAM: fine-grained and class-discriminative."
    passes = "2 forward + backward"

    def compute(self, job: Job) -> np.ndarray:
        gradients = job.gradients()
        cam = np.maximum(GradCAM.combine(job.activations(), gradients), 0.0)
        size = job.x.shape[1:3]
        # Section 3.1: Grad-CAM is upsampled to the input resolution (bilinear) and multiplied
        # point-wise with guided backpropagation.
        upsampled = tf.image.resize(cam[..., None], size, method="bilinear").numpy()
        guided = job.input_gradients(job.x, job.weights(), guided=True)
        job.attributions = guided * upsampled
        return _magnitude(job.attributions)
