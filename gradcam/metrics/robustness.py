"""Is the map stable? Max-Sensitivity (Yeh et al., NeurIPS 2019), as Quantus 0.6 defines it,
with the engine's batched explanations."""

from __future__ import annotations

import numpy as np

from ..errors import MetricError
from ..explanation import Explanation
from ..progress import Progress, no_progress
from ._common import remake_options, same_target
from .sanity import random_heatmap

#: Quantus 0.6 ``MaxSensitivity`` defaults: 200 noisy copies, uniform noise in [-0.2, 0.2].
SENSITIVITY_SAMPLES = 200
SENSITIVITY_NOISE = 0.2


def _check(samples, noise) -> None:
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or not 1 <= samples <= 10_000:
        raise MetricError(f"The number of noisy samples must be a whole number from 1 to 10000; got {samples!r}.")
    if isinstance(noise, bool) or not isinstance(noise, (int, float, np.floating)) or not 0 < float(noise) <= 1:
        raise MetricError(f"The noise must be a number in (0, 1] (a fraction of the pixel range); got {noise!r}.")


def noisy_images(image: np.ndarray, samples: int, noise: float, seed: int):
    """The ``samples`` noisy copies of ``image`` uint8 (h, w, 3) that :func:`max_sensitivity`
    explains, one at a time: each value scaled to [0, 1], plus uniform noise in [-noise, noise]
    drawn as Quantus's ``batch_uniform_noise`` draws it from ``np.random.seed(seed)`` (one
    (1, 3 h w) draw per sample, channel first), kept in float32 as Quantus does, then back to
    uint8 (x 255, rounded, clipped to 0-255)."""
    h, w, c = image.shape
    flat = (image.astype(np.float32) / 255.0).transpose(2, 0, 1).reshape(1, -1)
    rng = np.random.RandomState(seed)
    for _ in range(samples):
        perturbed = (flat + rng.uniform(low=-noise, high=noise, size=flat.shape)).astype(np.float32)
        pixels = np.clip(np.round(perturbed * np.float32(255.0)), 0, 255).astype(np.uint8)
        yield pixels.reshape(c, h, w).transpose(1, 2, 0).copy()


def _sensitivity(reference: np.ndarray, other: np.ndarray) -> float:
    """||reference - other|| / ||reference|| (Frobenius), Quantus's default numerator and
    denominator; NaN when the reference map is all zero."""
    a = reference.reshape(-1).astype(np.float64)
    norm = np.linalg.norm(a)
    if norm == 0:
        return float("nan")
    return float(np.linalg.norm(a - other.reshape(-1).astype(np.float64)) / norm)


def max_sensitivity(
    explainer,
    explanation: Explanation,
    samples: int = SENSITIVITY_SAMPLES,
    noise: float = SENSITIVITY_NOISE,
    seed: int = 0,
    options=None,
    batch_size: int = 32,
    progress: Progress = no_progress,
) -> tuple[dict[str, float], dict]:
    """Max-Sensitivity (Yeh et al., "On the (in)fidelity and sensitivity of explanations",
    NeurIPS 2019; Quantus's ``MaxSensitivity``): the largest relative change of the map under
    small input noise. Lower is better (0: the map does not move).

    The map of the model input (the image at the model's size, same method, layer, target and
    ``options``) is compared with the maps of ``samples`` noisy copies (:func:`noisy_images`):
    the score is the largest ``||map - noisy map|| / ||map||`` (Frobenius norms), as returned
    (no normalisation, no absolute value: Quantus's defaults for this metric).

    Quantus's defaults: 200 samples, noise uniform in [-0.2, 0.2] of the input values; here the
    input values are the pixels scaled to [0, 1], so 0.2 is up to +-51 grey levels per channel.
    Departures: the noisy images are rounded to uint8 (the engine's input), and the reference
    is the map of the model input rather than the map as returned (which was upsampled to the
    photo's own size and back): both maps go through the same resampling, so noise alone moves
    them. NaN when the map is all zero. Cost: samples + 1 explanations (each about a forward and
    a backward pass for gradient methods), ``batch_size`` at a time.
    """
    _check(samples, noise)
    image = np.asarray(explanation.model_input)
    target = same_target(explanation)
    remake = remake_options(explanation, options)
    reference = explainer.explain(image, target=target, **remake).heatmap
    worst = float("nan")
    values = []
    batch: list[np.ndarray] = []
    done = 0

    def flush():
        nonlocal done
        for other in explainer.explain_batch(batch, targets=target, batch_size=batch_size, **remake):
            values.append(_sensitivity(reference, other.heatmap))
        done += len(batch)
        progress(done / samples, f"max-sensitivity {done}/{samples}")
        batch.clear()

    for noisy in noisy_images(image, samples, float(noise), seed):
        batch.append(noisy)
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    finite = [v for v in values if np.isfinite(v)]
    worst = max(finite) if finite else float("nan")
    return {"max_sensitivity": worst}, {"max_sensitivity_samples": int(samples), "explained_images": int(samples) + 1}


def random_map_sensitivity(shape: tuple[int, int], samples: int = SENSITIVITY_SAMPLES, seed: int = 0) -> float:
    """Max-Sensitivity of the random baseline: a "method" whose map of every image, noisy or not,
    is fresh uniform noise (:func:`~gradcam.metrics.random_heatmap`). No forward pass. About 0.71
    (sqrt(1/6) / sqrt(1/3) for independent uniform maps), a little more as the maximum of many."""
    reference = random_heatmap(shape, seed)
    rng = np.random.default_rng(seed + 1)
    return max(_sensitivity(reference, rng.random(shape, dtype=np.float32)) for _ in range(int(samples)))
