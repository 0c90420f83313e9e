"""Is the map focused? Sparseness (Gini index) and complexity (entropy), as Quantus 0.6 defines them.

Both read the map alone (no model): ``Explanation.heatmap`` as returned, at the image's
resolution. Both first take ``|map|`` divided by its maximum (Quantus's defaults ``abs=True``,
``normalise=True`` with ``normalise_by_max``), so they do not depend on the map's scale.
"""

from __future__ import annotations

import numpy as np

from ..errors import MetricError


def _normalised(heatmap: np.ndarray) -> np.ndarray:
    """``|map| / max|map|`` as float32, flattened (Quantus's ``normalise_by_max`` then ``abs``);
    an all-zero map is left as it is, as Quantus does."""
    a = np.asarray(heatmap, np.float32)
    if a.ndim != 2 or a.size == 0:
        raise MetricError(f"A heatmap of shape (H, W) is expected; got {a.shape}.")
    if not np.isfinite(a).all():
        raise MetricError("The heatmap contains NaN or infinite values; a finite map is expected.")
    if not np.all(a == 0.0):
        a = a / np.max(np.abs(a))
    return np.abs(a).reshape(-1)


def sparseness(heatmap: np.ndarray) -> float:
    """The Gini index of the map (Chalasani et al., "Concise explanations of neural networks using
    adversarial training", ICML 2020; Quantus's ``Sparseness``). Higher is better (more focused).

    With the n values of ``|map| / max|map| + 1e-7`` sorted ascending, a_1 <= ... <= a_n:

        gini = sum_i (2 i - n - 1) a_i / (n sum_i a_i)

    It is 0 for a uniform map (also the all-zero map, which the 1e-7 makes uniform) and
    1 - 1/n for a map with a single non-zero pixel. A map of uniform random numbers scores
    about 1/3. Computed in float32 exactly as Quantus 0.6 does, so the figures agree to the bit.
    """
    a = _normalised(heatmap)
    n = a.size
    # Quantus adds 1e-7 (in float32) so that an all-zero map gives 0, not 0/0.
    a = np.sort(a + np.float32(1e-7))
    ranks = np.arange(1, n + 1)
    return float(((2 * ranks - n - 1) * a).sum() / (n * a.sum()))


def complexity(heatmap: np.ndarray) -> float:
    """The entropy of the map taken as a distribution (Bhatt et al., "Evaluating and aggregating
    feature-based model explanations", IJCAI 2020; Quantus's ``Complexity``). Lower is better.

    With p = ``|map| / max|map|`` divided by its sum: ``-sum_i p_i log(p_i + 1e-12)`` (nats). It is
    0 for a single non-zero pixel and log(n) for a uniform map of n pixels. NaN for an all-zero
    map (no distribution to measure; Quantus divides 0 by 0 there too).
    """
    a = _normalised(heatmap)
    total = np.abs(a).sum()
    if total == 0:
        return float("nan")
    p = a / total
    return float(-(p * np.log(p + 1e-12)).sum())
