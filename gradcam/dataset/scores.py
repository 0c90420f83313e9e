"""Scores from a model's outputs alone, kept for every input of a run: how hard the input is for
the model, and how probably its label is wrong.

The definitions follow FiftyOne's brain (``compute_hardness`` and ``compute_mistakenness`` for
classifications), so that a figure here reads as it does there:

- ``entropy``: Shannon entropy of the full class distribution, in nats (natural logarithm), from
  0 (all mass on one class) to log(N) (uniform over N classes).
- ``margin``: top-1 minus top-2 probability (0: a tie between the two best classes).
- ``label_probability``: the probability the model gives the labelled class.
- ``mistakenness``: ``(m * exp(-entropy) + 1) / 2`` with ``m = +1`` where the prediction
  contradicts the label and ``m = -1`` where it agrees. A confident contradiction scores near 1,
  a confident agreement near 0, an unsure prediction near 0.5.

``label_probability`` and ``mistakenness`` are None for an input without a label. Nothing here
needs TensorFlow.
"""

from __future__ import annotations

import numpy as np

#: The score columns of results.parquet that :func:`output_scores` fills, in order.
SCORE_COLUMNS = ("entropy", "margin", "label_probability", "mistakenness")


def entropy(probabilities: np.ndarray) -> float:
    """Shannon entropy in nats of a class distribution (N,).

    The values are clipped at 0 and divided by their sum first: a softmax's outputs already sum to
    1 (up to float32 rounding); a multi-label model's independent sigmoids do not, and are read as
    the distribution they are proportional to. Zero probabilities contribute 0 (p log p -> 0).
    """
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 0.0, None)
    total = p.sum()
    if not total > 0:
        return 0.0
    p = p[p > 0] / total
    return float(-(p * np.log(p)).sum())


def mistakenness(entropy_nats: float, agrees: bool) -> float:
    """FiftyOne's mistakenness of a classification: ``(m * exp(-entropy) + 1) / 2`` with
    ``m = -1`` when the prediction agrees with the label, ``+1`` when it contradicts it."""
    m = -1.0 if agrees else 1.0
    return float((m * np.exp(-entropy_nats) + 1.0) / 2.0)


def output_scores(probabilities: np.ndarray, predicted_index: int, label_index: int | None) -> dict:
    """The score columns of one input (see the module docstring).

    Args:
        probabilities: float (N,), the model's probabilities for the input (all classes).
        predicted_index: the top class.
        label_index: the labelled class, or None without a label.

    Returns:
        ``{"entropy", "margin", "label_probability", "mistakenness"}`` as floats (the last two None
        without a label; ``margin`` is the top probability itself for a one-class model).
    """
    p = np.asarray(probabilities, dtype=np.float64)
    h = entropy(p)
    if p.size >= 2:
        top2 = np.partition(p, p.size - 2)[-2:]
        margin = float(top2[1] - top2[0])
    else:
        margin = float(p.max()) if p.size else 0.0
    label = int(label_index) if label_index is not None else None
    labelled = label is not None and 0 <= label < p.size
    return {
        "entropy": h,
        "margin": margin,
        "label_probability": float(p[label]) if label is not None and labelled else None,
        "mistakenness": mistakenness(h, label == int(predicted_index)) if labelled else None,
    }
