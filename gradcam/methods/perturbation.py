"""Gradient-free CAMs that score each channel by changing the input or the activations.

Both run many passes, batched: ``batch_size`` inputs (Score-CAM) or activation maps (Ablation-CAM)
per call. Channels that are constant over the map are skipped: their normalised mask is empty
(Score-CAM) or removing them changes nothing (Ablation-CAM), and their activation map adds
nothing to the sum either way, so skipping them changes no result.
"""
from __future__ import annotations

import numpy as np

from ..resize import upsample
from . import register
from .base import Job, Method, MethodOutput, Option

_EPS = 1e-7


def _informative_channels(activations: np.ndarray, limit: int | None) -> np.ndarray:
    """Indices of channels that vary over the map (h, w, K); with ``limit``, the ``limit`` of them
    with the largest variance (the Faster-Score-CAM selection, Wang et al. 2020)."""
    spread = activations.reshape(-1, activations.shape[-1])
    variance = spread.var(axis=0)
    varying = np.flatnonzero(spread.max(axis=0) > spread.min(axis=0))
    if limit is not None and len(varying) > limit:
        varying = varying[np.argsort(variance[varying])[::-1][:limit]]
        varying.sort()
    return varying


@register
class ScoreCAM(Method):
    key = "scorecam"
    label = "Score-CAM"
    paper = "Wang et al., Score-CAM, CVPR Workshops 2020 (arXiv:1910.01279)"
    summary = "Each channel, upsampled, masks the image; its weight is the class score of the masked image."
    passes = "1 forward per varying channel (batched)"
    slow = True
    options = (
        Option("batch_size", 32, "masked images per network pass", int),
        Option("channels", None, "score only this many channels of largest variance (Faster-Score-CAM); "
               "default all", int),
    )

    def compute(self, job: Job) -> MethodOutput:
        """Options: ``batch_size`` (default 32) masked images per pass; ``channels`` (default all)
        to score only that many channels of largest variance (Faster-Score-CAM)."""
        batch_size = job.option("batch_size")
        limit = job.option("channels")
        activations, weights, x = job.activations(), job.weights(), job.x
        size = x.shape[1:3]
        maps = np.zeros(activations.shape[:3], np.float32)
        # The masked images depend on the image only, and one pass scores every class: several
        # targets of one image share the passes.
        for rows in _rows_by_image(job):
            b = rows[0]
            channels = _informative_channels(activations[b], limit)
            probabilities = np.zeros((len(channels), weights.shape[1]), np.float32)
            for start in range(0, len(channels), batch_size):
                chunk = channels[start:start + batch_size]
                # Equation 3: H_k = s(Up(A_k)), min-max normalised to [0, 1]; bilinear upsampling
                # with half-pixel centres, as everywhere in this library.
                upsampled = upsample(np.moveaxis(activations[b][..., chunk], -1, 0), size)[..., None]
                low = upsampled.min(axis=(1, 2, 3), keepdims=True)
                high = upsampled.max(axis=(1, 2, 3), keepdims=True)
                masks = (upsampled - low) / (high - low + _EPS)
                probabilities[start:start + len(chunk)] = job.probabilities_of_inputs(x[b][None] * masks)
                job.progress((start + len(chunk)) / max(len(channels), 1),
                             f"Score-CAM: scored {start + len(chunk)} of {len(channels)} channels")
            for row in rows:
                # The score is the target's softmax probability on the masked input, as in the
                # authors' code (for a contrast, p_a - p_b); the paper's baseline f(X_b) is the
                # same for every channel and is omitted, as the authors' code does.
                maps[row] = activations[row][..., channels] @ (probabilities @ weights[row])
        return MethodOutput(maps)


def _rows_by_image(job: Job) -> list[list[int]]:
    """Batch rows grouped by identical image (several targets of one image share its passes)."""
    groups: dict[str, list[int]] = {}
    for row, key in enumerate(job.keys):
        groups.setdefault(key, []).append(row)
    return list(groups.values())


@register
class AblationCAM(Method):
    key = "ablationcam"
    label = "Ablation-CAM"
    paper = "Desai & Ramaswamy, Ablation-CAM, WACV 2020 (doi:10.1109/WACV45572.2020.9093360)"
    summary = "A channel's weight is how much the class score drops when that channel is removed."
    passes = "1 forward + 1 head pass per varying channel (batched)"
    slow = True
    options = (Option("batch_size", 128, "ablated activation maps per head pass", int),)

    def compute(self, job: Job) -> MethodOutput:
        """Options: ``batch_size`` (default 128) ablated activation maps per head pass."""
        batch_size = job.option("batch_size")
        activations, weights = job.activations(), job.weights()
        scores = (job.logits() * weights).sum(axis=1)
        maps = np.zeros(activations.shape[:3], np.float32)
        for rows in _rows_by_image(job):
            b = rows[0]
            channels = _informative_channels(activations[b], None)
            ablated_logits = np.zeros((len(channels), weights.shape[1]), np.float32)
            for start in range(0, len(channels), batch_size):
                chunk = channels[start:start + batch_size]
                ablated = np.repeat(activations[b][None], len(chunk), axis=0)
                ablated[np.arange(len(chunk)), ..., chunk] = 0.0
                ablated_logits[start:start + len(chunk)] = job.head_logits(ablated)
                job.progress((start + len(chunk)) / max(len(channels), 1),
                             f"Ablation-CAM: removed {start + len(chunk)} of {len(channels)} channels")
            for row in rows:
                # Equation 3: w_k = (y_c - y_c^k) / y_c.
                denominator = scores[row] if abs(scores[row]) > _EPS else _EPS
                slopes = (scores[row] - ablated_logits @ weights[row]) / denominator
                maps[row] = activations[row][..., channels] @ slopes
        return MethodOutput(maps)
