"""Does the map's ranking follow the model? Faithfulness Correlation and IROF, as Quantus 0.6
defines them, computed with the engine's batched forward passes.

Both take the model input ``image`` uint8 (h, w, 3), the ``saliency`` (h, w) at that resolution
and a :class:`~gradcam.metrics._common.Scorer`. Where Quantus fills or averages pixel values,
the values are the pixels scaled to [0, 1] (uint8 / 255: the space Quantus's image defaults are
written for); each perturbed image is then rounded to uint8, the engine's input (a fill of grey
0.4837 becomes level 123). The tests compare both with Quantus 0.6 on the same inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import MetricError
from ..progress import Progress, no_progress
from ._common import Scorer

#: Quantus 0.6 ``FaithfulnessCorrelation`` defaults: 100 random subsets of 224 input values each.
CORRELATION_RUNS = 100
CORRELATION_SUBSET = 224


def _normalise_by_max(saliency: np.ndarray) -> np.ndarray:
    """Quantus's ``normalise_by_max`` (its default for both metrics; ``abs=False``)."""
    a = np.asarray(saliency, np.float32)
    return a if np.all(a == 0.0) else a / np.max(np.abs(a))


def faithfulness_correlation(
    image: np.ndarray,
    saliency: np.ndarray,
    scorer: Scorer,
    runs: int = CORRELATION_RUNS,
    subset: int = CORRELATION_SUBSET,
    seed: int = 0,
    progress: Progress = no_progress,
    subsets: Sequence[np.ndarray] | np.ndarray | None = None,
) -> tuple[dict[str, float], dict]:
    """Faithfulness Correlation (Bhatt, Weller & Moura, "Evaluating and aggregating feature-based
    model explanations", IJCAI 2020; Quantus's ``FaithfulnessCorrelation``). Higher is better.

    ``runs`` times, a random subset of ``subset`` input values (pixel-channel values, drawn
    without replacement over the image's h x w x 3 values) is set to the image's darkest value
    ("black": the minimum over all its values); the drop of the class's logit, and the sum of the
    map over the subset (the map counted once per channel), are recorded. The score is Pearson's
    correlation between the two over the runs: near 1 when removing what the map ranks high
    lowers the logit most. NaN when either is constant.

    Quantus's defaults: 100 runs of 224 values, logits (``softmax=False``), ``abs=False``, the map
    divided by its maximum. The subsets are drawn exactly as Quantus draws them from NumPy's
    global generator after ``np.random.seed(seed)`` (channel-first order), so with the same seed
    the same values are removed (when nothing else draws from that generator in between: Keras's
    ``predict``, which Quantus calls between draws, can). ``subsets`` (runs, subset): the value
    indices to remove instead of drawing them (to replay another run's draws). The scorer must
    give logits (``Scorer(..., output="logit")``). Cost: runs + 1 forward passes, batched.
    """
    h, w, c = image.shape
    n = h * w * c
    if isinstance(runs, bool) or not isinstance(runs, (int, np.integer)) or runs < 2:
        raise MetricError(f"The number of runs must be a whole number of at least 2; got {runs!r}.")
    if isinstance(subset, bool) or not isinstance(subset, (int, np.integer)) or not 1 <= subset < n:
        raise MetricError(f"The subset size must be a whole number from 1 to {n - 1}; got {subset!r}.")
    # Quantus works channel first: its value k is (channel, row, column) = unravel(k, (c, h, w)),
    # and the map is broadcast over the channels.
    attribution = np.broadcast_to(_normalise_by_max(saliency)[None], (c, h, w)).reshape(-1)
    darkest = image.min()
    chosen_sets: list[np.ndarray]
    if subsets is None:
        rng = np.random.RandomState(seed)
        chosen_sets = [rng.choice(n, subset, replace=False) for _ in range(runs)]
    else:
        chosen_sets = [np.asarray(chosen, np.int64) for chosen in subsets]
        runs = len(chosen_sets)
        if runs < 2 or any(c.ndim != 1 or c.size == 0 or c.min() < 0 or c.max() >= n for c in chosen_sets):
            raise MetricError(f"subsets must be at least 2 lists of value indices in [0, {n}).")

    def images():
        yield image
        for chosen in chosen_sets:
            flat = np.ascontiguousarray(image.transpose(2, 0, 1)).reshape(-1)
            flat[chosen] = darkest
            yield flat.reshape(c, h, w).transpose(1, 2, 0)

    logits = scorer(images(), runs + 1, progress, "faithfulness correlation")
    drops = logits[0] - logits[1:]
    sums = np.array([attribution[chosen].sum(dtype=np.float64) for chosen in chosen_sets])
    rho = float("nan") if np.ptp(drops) == 0 or np.ptp(sums) == 0 else float(np.corrcoef(sums, drops)[0, 1])
    return {"faithfulness_correlation": rho}, {"faithfulness_correlation_runs": int(runs)}


def irof(
    image: np.ndarray, saliency: np.ndarray, scorer: Scorer, progress: Progress = no_progress
) -> tuple[dict[str, float], dict, tuple[np.ndarray, np.ndarray]]:
    """IROF, Iterative Removal Of Features (Rieger & Hansen, "IROF: a low resource evaluation
    metric for explanation methods", ICLR 2020 workshop; Quantus's ``IROF``). Higher is better.

    The image is cut into superpixels by SLIC (scikit-image's ``slic`` with its defaults, about
    100 segments, on the image in [0, 1]); the superpixels are removed one by one in order of
    their mean attribution, highest first, each replaced by the mean grey of the image as it is
    at that step; the class's probability after each removal, divided by the full image's,
    gives a curve. The score is the area over that curve, n - trapz(curve) with unit steps
    (Quantus's ``n - calculate_auc``): up to about n for a map whose first superpixels carry
    the class.

    Quantus's defaults: SLIC, fill "mean", probabilities (``softmax=True``), the map divided by
    its maximum, ``abs=False``. Departure: the fill grey is rounded to a pixel level (uint8), the
    engine's input. Quantus 0.6 itself fails on RGB images (its mask has one channel, its
    ``baseline_replacement_by_mask`` asserts the image's shape), so the tests compare with it
    through a fill function that applies the mask to every channel.

    Returns (scores, details, curve): ``irof`` and ``irof_segments`` (n); the curve is
    (fraction of superpixels removed, probability ratio). Cost: n + 1 forward passes, batched.
    """
    from skimage.segmentation import slic  # scikit-image: the SLIC Quantus uses

    h, w, _ = image.shape
    scaled = (image.astype(np.float32) / 255.0).astype(np.float64)
    segments = slic(scaled, start_label=0)
    count = len(np.unique(segments))
    if count < 2:
        raise MetricError("IROF needs at least two superpixels; this image gave one (a flat image?).")
    attribution = _normalise_by_max(saliency)
    means = np.zeros(count)
    for s in range(count):
        inside = segments == s
        means[s] = np.mean(attribution[inside]) if inside.any() else np.nan
    order = np.argsort(-means)

    def images():
        yield image
        current = image.copy()
        for s in order:
            # Quantus replaces the segment by the mean of the whole current image (all channels).
            grey = np.uint8(np.round(current.mean()))
            current = current.copy()
            current[segments == s] = grey
            yield current

    probabilities = scorer(images(), count + 1, progress, "IROF")
    full = probabilities[0]
    ratios = probabilities[1:] / full if full > 0 else np.full(count, np.nan)
    area = float(count - np.trapezoid(ratios, dx=1)) if full > 0 else float("nan")
    curve = (np.arange(1, count + 1, dtype=np.float32) / count, ratios.astype(np.float32))
    return {"irof": area}, {"irof_segments": count}, curve
