"""Gradient-free CAMs that score each channel by changing the input or the activations.

Both run many passes, batched: ``batch_size`` inputs (Score-CAM) or activation maps (Ablation-CAM)
per call. Channels that are zero everywhere are skipped, and that changes no result: a map is
sum_k w_k A_k, and A_k = 0 adds nothing whatever its weight w_k. (Channels that are constant but
not zero are *not* skipped: removing one does change the score (Ablation-CAM), and masking with
one scores a blank image (Score-CAM: its min-max mask is zero); either way it adds w_k * A_k, a
constant, to the whole map before the ReLU, which moves the map's zero level. On
EfficientNet-Lite0's last layer every constant channel of the sample photos is zero, so this
costs no passes there.)

Scores and offsets. Ablation-CAM works on logits (a contrast's score is logit_a - logit_b), and
its weights depend on the score's drops only, never on its sign or on a constant added to it (see
``AblationCAM.compute``). Score-CAM works on softmax probabilities, as the paper does, so it is
invariant to a constant added to *every* logit (softmax is), but not to one added to the target's
logit alone: that makes a different classifier, whose probabilities p' = p e^c / (1 + p (e^c - 1))
are a monotone but non-linear function of the old ones, so the channels keep their order but
not their ratios and the map changes (little for a class that stays improbable under every mask,
where p' is close to e^c p).
"""

from __future__ import annotations

import numpy as np

from ..resize import upsample
from . import register
from .base import Job, Method, MethodOutput, Option, rows_by_image

_EPS = 1e-7


def _informative_channels(activations: np.ndarray, limit: int | None) -> np.ndarray:
    """Indices of the channels of one map (h, w, K) that are not zero everywhere (the others add
    nothing to any map); with ``limit``, the ``limit`` of them with the largest variance (the
    Faster-Score-CAM selection, Wang et al. 2020), so constant channels come last."""
    spread = activations.reshape(-1, activations.shape[-1])
    nonzero = np.flatnonzero(np.any(spread != 0, axis=0))
    if limit is not None and len(nonzero) > limit:
        variance = spread.var(axis=0)
        nonzero = nonzero[np.argsort(variance[nonzero])[::-1][:limit]]
        nonzero.sort()
    return nonzero


@register
class ScoreCAM(Method):
    key = "scorecam"
    label = "Score-CAM"
    paper = "Wang et al., Score-CAM, CVPR Workshops 2020 (arXiv:1910.01279)"
    summary = "Each channel, upsampled, masks the image; its weight is the class score of the masked image."
    passes = "1 forward per non-zero channel (batched)"
    slow = True
    options = (
        Option("batch_size", 32, "masked images per network pass", int),
        Option(
            "channels", None, "score only this many channels of largest variance (Faster-Score-CAM); default all", int
        ),
    )

    def compute(self, job: Job) -> MethodOutput:
        """Options: ``batch_size`` (default 32) masked images per pass; ``channels`` (default all)
        to score only that many channels of largest variance (Faster-Score-CAM)."""
        batch_size = job.option("batch_size")
        limit = job.option("channels")
        activations, weights, x = job.activations(), job.probability_weights(), job.x
        size = x.shape[1:3]
        maps = np.zeros(activations.shape[:3], np.float32)
        # The masked images depend on the image only, and one pass scores every class: several
        # targets of one image share the passes.
        for rows in rows_by_image(job):
            b = rows[0]
            channels = _informative_channels(activations[b], limit)
            probabilities = np.zeros((len(channels), weights.shape[1]), np.float32)
            for start in range(0, len(channels), batch_size):
                chunk = channels[start : start + batch_size]
                # Equation 3: H_k = s(Up(A_k)), min-max normalised to [0, 1]; bilinear upsampling
                # with half-pixel centres, as everywhere in this library.
                upsampled = upsample(np.moveaxis(activations[b][..., chunk], -1, 0), size)[..., None]
                low = upsampled.min(axis=(1, 2, 3), keepdims=True)
                high = upsampled.max(axis=(1, 2, 3), keepdims=True)
                masks = (upsampled - low) / (high - low + _EPS)
                probabilities[start : start + len(chunk)] = job.probabilities_of_inputs(x[b][None] * masks)
                job.progress(
                    (start + len(chunk)) / max(len(channels), 1),
                    f"Score-CAM: scored {start + len(chunk)} of {len(channels)} channels",
                )
            for row in rows:
                # The score is the target's softmax probability on the masked input, as in the
                # authors' code (for a contrast, p_a - p_b; for a group, the sum of its members'
                # probabilities, minus the other group's); the paper's baseline f(X_b) is the
                # same for every channel and is omitted, as the authors' code does.
                maps[row] = activations[row][..., channels] @ (probabilities @ weights[row])
        return MethodOutput(maps)


@register
class AblationCAM(Method):
    key = "ablationcam"
    label = "Ablation-CAM"
    paper = "Desai & Ramaswamy, Ablation-CAM, WACV 2020 (doi:10.1109/WACV45572.2020.9093360)"
    summary = "A channel's weight is how much the class score drops when that channel is removed."
    passes = "1 forward + 1 head pass per non-zero channel (batched)"
    slow = True
    options = (Option("batch_size", 128, "ablated activation maps per head pass", int),)

    def compute(self, job: Job) -> MethodOutput:
        """Options: ``batch_size`` (default 128) ablated activation maps per head pass.

        Departs from equation 3, w_k = (y_c - y_c^k) / y_c, by dividing by |y_c|: the paper assumes
        y_c > 0, and a negative score (a low-probability class, a contrast) would flip every
        weight and map the evidence against the class. For y_c > 0 nothing changes.
        """
        batch_size = job.option("batch_size")
        activations, logits = job.activations(), job.logits()
        maps = np.zeros(activations.shape[:3], np.float32)
        for rows in rows_by_image(job):
            b = rows[0]
            channels = _informative_channels(activations[b], None)
            ablated_logits = np.zeros((len(channels), logits.shape[1]), np.float32)
            for start in range(0, len(channels), batch_size):
                chunk = channels[start : start + batch_size]
                ablated = np.repeat(activations[b][None], len(chunk), axis=0)
                ablated[np.arange(len(chunk)), ..., chunk] = 0.0
                ablated_logits[start : start + len(chunk)] = job.head_logits(ablated, image=b)
                job.progress(
                    (start + len(chunk)) / max(len(channels), 1),
                    f"Ablation-CAM: removed {start + len(chunk)} of {len(channels)} channels",
                )
            for row in rows:
                # Equation 3 is w_k = (y_c - y_c^k) / y_c, the fraction of the score lost without
                # channel k, and the paper assumes y_c > 0. For a negative score (the logit of most
                # low-probability classes; a contrast logit_a - logit_b) dividing by y_c flips every
                # weight, and after the ReLU the map shows the evidence *against* the class. We
                # divide by |y_c| instead: equation 3 itself when y_c > 0, and otherwise a channel
                # whose removal lowers the score still weighs positively. The division is by one
                # positive number per map, so the normalised map depends on the drops y_c - y_c^k
                # alone, and a constant added to the score (a bias) changes nothing in it. The
                # coarse map stays in equation 3's units (fractions of |y_c|), so on a shared scale
                # a class with a small |y_c| looks stronger than its drops alone would make it.
                # The score is the target's: a logit, a difference of logits, or a group's log-sum-exp.
                score = float(job.scores(logits[row][None], row)[0])
                denominator = max(abs(score), _EPS)
                slopes = (score - job.scores(ablated_logits, row)) / denominator
                maps[row] = activations[row][..., channels] @ slopes
        return MethodOutput(maps)
