"""Metrics that perturb the image in the map's order and watch the class probability.

All take the model input ``image`` uint8 (h, w, 3), the ``saliency`` (h, w) float at the same
resolution, and a :class:`~gradcam.metrics._common.Scorer` for the explained class; each returns
``(scores, curves)``: dicts of floats and of (fractions, probabilities) arrays.
"""

from __future__ import annotations

import numpy as np

from ..errors import MetricError
from ..progress import Progress, no_progress
from ._common import Scorer, check_steps, fill_image, pixel_order, trapezoid
from .imputation import noisy_linear_imputation

#: ROAD's removal levels (Rong et al. 2022, Fig. 4: 10% to 90%).
ROAD_FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def _path_images(start: np.ndarray, finish: np.ndarray, order: np.ndarray, counts: np.ndarray):
    """Images going from ``start`` to ``finish``: the k-th has its ``counts[k]`` first pixels of
    ``order`` taken from ``finish``. Built incrementally, one image at a time."""
    current = start.copy()
    flat, target = current.reshape(-1, current.shape[-1]), finish.reshape(-1, finish.shape[-1])
    done = 0
    for count in counts:
        index = order[done:count]
        flat[index] = target[index]
        done = count
        yield current.copy()


def deletion_insertion(
    image: np.ndarray,
    saliency: np.ndarray,
    scorer: Scorer,
    steps: int = 50,
    deletion_fill="mean",
    insertion_fill="blur",
    seed: int = 0,
    which=("deletion", "insertion"),
    progress: Progress = no_progress,
):
    """Deletion and insertion curves and their areas (Petsiuk et al., RISE, BMVC 2018, Sec. 4.1).

    Deletion removes the pixels in the map's order, most salient first, ``1/steps`` of the image
    per step, and records the class probability: a faithful map makes it fall fast (low area).
    Insertion starts from the removed image and reveals pixels in the same order: a faithful map
    makes it rise fast (high area). Areas are by the trapezoid rule over removed/revealed
    fractions 0, 1/steps, ..., 1, so they lie in [0, 1].

    Departure from the paper: RISE deletes to black (zeros). The default here deletes to the
    image's per-channel mean, which removes the same information without the strong "black
    patch" edges that are themselves evidence for some classes; ``deletion_fill="zero"`` gives
    RISE's choice. Insertion starts from a blurred copy, as in RISE.

    Scores: ``deletion_auc`` (lower is better), ``insertion_auc`` (higher is better).
    Cost: (steps + 1) forward passes per curve, batched.
    """
    steps = check_steps(steps)
    n = saliency.size
    fractions = np.arange(steps + 1) / steps
    counts = np.round(fractions * n).astype(np.int64)
    order = pixel_order(saliency, seed)
    scores, curves = {}, {}
    parts = [w for w in ("deletion", "insertion") if w in which]
    for number, kind in enumerate(parts):
        if kind == "deletion":
            start, finish = image, fill_image(image, deletion_fill)
        else:
            start, finish = fill_image(image, insertion_fill), image

        def step(fraction: float, message: str = "", number: int = number) -> None:
            progress((number + fraction) / len(parts), message)

        probs = scorer(_path_images(start, finish, order, counts), len(counts), step, kind)
        curves[kind] = (fractions.astype(np.float32), probs.astype(np.float32))
        scores[f"{kind}_auc"] = trapezoid(fractions, probs)
    return scores, curves


def average_drop(image: np.ndarray, saliency: np.ndarray, scorer: Scorer, probability: float):
    """Drop and increase in confidence (Chattopadhyay et al., Grad-CAM++, WACV 2018, Sec. 6.1).

    The map is used as a soft mask: E = image * map (the map scaled to [0, 1] by its maximum),
    and with p = the class probability of the full image and o = that of E:

        drop = max(0, p - o) / p * 100                          (the paper's "Average Drop %")
        increase = 1 if o > p else 0                     (the paper's "% Increase in Confidence")

    Over a data set these are averaged (the CLI's summary does); for one image they are the
    per-image terms. Scores: ``average_drop`` (percent, lower is better), ``increase_in_confidence``
    (0 or 1, higher is better). Note that a map of all ones scores perfectly: read these with the
    deletion curve, which penalises such a map. Cost: 1 forward pass.
    """
    peak = float(saliency.max())
    mask = saliency / peak if peak > 0 else np.zeros_like(saliency)
    masked = np.round(image.astype(np.float32) * mask[..., None]).astype(np.uint8)
    masked_probability = float(scorer(iter([masked]), 1)[0])
    drop = max(0.0, probability - masked_probability) / probability * 100.0 if probability > 0 else 0.0
    scores = {"average_drop": drop, "increase_in_confidence": float(masked_probability > probability)}
    return scores, {}, masked_probability


def road(
    image: np.ndarray,
    saliency: np.ndarray,
    scorer: Scorer,
    probability: float,
    fractions=ROAD_FRACTIONS,
    noise: float = 0.01,
    seed: int = 0,
    progress: Progress = no_progress,
):
    """ROAD: RemOve And Debias (Rong et al., ICML 2022).

    For each removal fraction, the most relevant (MoRF) or least relevant (LeRF) pixels of the
    map are removed by noisy linear imputation (:mod:`gradcam.metrics.imputation`), with no
    retraining, and the class probability is recorded. A faithful map makes the MoRF curve fall
    fast and keeps the LeRF curve high.

    Scores: ``road_morf`` and ``road_lerf``, the mean probability over the fractions (lower and
    higher are better), and ``road_gap`` = road_lerf - road_morf (higher is better; the paper
    compares the curves, this single number is ours). Curves start at fraction 0 with the full
    image's probability. Cost: 2 x len(fractions) forward passes and as many sparse solves.
    """
    fractions = np.asarray(tuple(fractions), np.float64)
    if fractions.ndim != 1 or fractions.size == 0 or not ((fractions > 0) & (fractions < 1)).all():
        raise MetricError(f"ROAD fractions must be numbers strictly between 0 and 1; got {tuple(fractions)}.")
    order = pixel_order(saliency, seed)
    n = saliency.size
    h, w = saliency.shape
    total = 2 * len(fractions)

    def images(most_relevant_first: bool, offset: int):
        for i, fraction in enumerate(fractions):
            count = min(max(int(round(fraction * n)), 1), n - 1)
            chosen = order[:count] if most_relevant_first else order[n - count :]
            removed = np.zeros(n, bool)
            removed[chosen] = True
            progress((offset + i) / total, f"ROAD {'MoRF' if most_relevant_first else 'LeRF'} {fraction:.0%}")
            yield noisy_linear_imputation(image, removed.reshape(h, w), noise=noise, seed=seed + offset + i)

    scores, curves = {}, {}
    axis = np.concatenate([[0.0], fractions]).astype(np.float32)
    for offset, (name, most) in enumerate((("morf", True), ("lerf", False))):
        probs = scorer(images(most, offset * len(fractions)), len(fractions))
        curves[f"road_{name}"] = (axis, np.concatenate([[probability], probs]).astype(np.float32))
        scores[f"road_{name}"] = float(probs.mean())
    scores["road_gap"] = scores["road_lerf"] - scores["road_morf"]
    progress(1.0, "ROAD done")
    return scores, curves
