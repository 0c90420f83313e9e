"""One or two plain sentences about an explanation, for people who read a report and not a table:
what the model predicts, what the map shows, and whether the map can be trusted.

The words come from the numbers only: where the map's evidence lies (:func:`map_place`), how
concentrated it is (:func:`evidence_share`), the faithfulness figures against a random map when
they were computed (:func:`faithfulness_sentence`), and a caveat for a class the model all but
rules out (:func:`near_zero_caveat`). Nothing here imports TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .words import NEAR_ZERO, percent

#: The share of the map's total evidence that :func:`evidence_share` measures the area of.
EVIDENCE_MASS = 0.5


def evidence_share(heatmap: np.ndarray, mass: float = EVIDENCE_MASS) -> float:
    """The smallest share of the picture (0 to 1) that holds ``mass`` of the map's total evidence:
    0.1 means half the evidence sits in a tenth of the picture; a flat map gives ``mass``. 0 for an
    empty map.

    >>> evidence_share(np.array([[1.0, 0.0], [0.0, 0.0]]))
    0.25
    """
    values = np.sort(np.asarray(heatmap, dtype=np.float64).ravel())[::-1]
    total = float(values.sum())
    if total <= 0:
        return 0.0
    needed = int(np.searchsorted(np.cumsum(values), mass * total - 1e-12)) + 1
    return needed / values.size


def map_place(heatmap: np.ndarray) -> str:
    """Where the map's evidence lies, in words: "the centre", "the upper left", "the right"... from
    the centre of mass of the map's upper half of values (a 3×3 grid of the picture)."""
    heat = np.asarray(heatmap, dtype=np.float64)
    if heat.size == 0 or heat.max() <= 0:
        return "nowhere (the map is empty)"
    strong = np.where(heat >= 0.5 * heat.max(), heat, 0.0)
    ys, xs = np.indices(heat.shape)
    total = strong.sum()
    y, x = float((ys * strong).sum() / total) / heat.shape[0], float((xs * strong).sum() / total) / heat.shape[1]
    row = "upper " if y < 1 / 3 else "lower " if y > 2 / 3 else ""
    column = "left" if x < 1 / 3 else "right" if x > 2 / 3 else ""
    if not row and not column:
        return "the centre"
    if not column:
        return f"the {row.strip()} middle"
    return f"the {row}{column}"


def near_zero_caveat(name: str, probability: float, threshold: float = NEAR_ZERO) -> str:
    """A caveat for a class the model all but rules out, or "" above ``threshold``."""
    if not probability < threshold:
        return ""
    return (
        f"Caveat: the model gives {name} only {percent(probability)}. Each map is scaled to its own peak, so this "
        f"one looks as strong as the top class's; it shows where the little evidence for {name} lies, not that "
        "the model sees it."
    )


def faithfulness_sentence(evaluation: Any) -> str:
    """Whether the map is faithful, from :class:`gradcam.Evaluation` figures against a random map:
    how many of the scores beat it, naming deletion and insertion. "" without a random baseline."""
    beats = evaluation.beats_baseline() if evaluation is not None else {}
    if not beats:
        return ""
    won = sum(beats.values())
    scores = evaluation.scores
    parts = []
    for name, better in (("deletion", "lower"), ("insertion", "higher")):
        if name in scores and evaluation.baseline is not None and name in evaluation.baseline.scores:
            parts.append(
                f"{name} {scores[name]:.2f} against {evaluation.baseline.scores[name]:.2f} ({better} is better)"
            )
    verdict = (
        "It can be trusted as far as these checks go"
        if won == len(beats)
        else "Treat it with care"
        if won >= len(beats) / 2
        else "It should not be trusted"
    )
    detail = f": {'; '.join(parts)}" if parts else ""
    return (
        f"{verdict}: it beats a random map on {won} of {len(beats)} faithfulness scores when the pixels it points "
        f"at are removed or revealed{detail}."
    )


def trust_sentence(trust: Any) -> str:
    """A trust report's questions and answers in one sentence ("Faithful? yes · About this class?
    no ..."), for a report built after :mod:`gradcam.trust` gave one; "" without one."""
    lines = getattr(trust, "lines", None)
    if not lines:
        return ""
    answers = " · ".join(f"{line.question} {line.answer}" for line in lines)
    return f"Can it be trusted? {answers} (details below)."


def sensitivity_sentence(sensitivity: Mapping[str, Any] | None) -> str:
    """Whether the map is about its class, from a class-sensitivity record ("" without one, or for
    the top class itself): its verdict and reading, as :mod:`gradcam.sensitivity` words them."""
    if not sensitivity or sensitivity.get("verdict") in (None, "top class", "not applicable"):
        return ""
    rho = sensitivity.get("similarity_to_top")
    figure = f" (similarity to {sensitivity.get('top_name')}'s map {rho:.2f})" if rho is not None else ""
    verdict = str(sensitivity.get("verdict")).capitalize()
    return f"Is it about {sensitivity.get('target')}? {verdict}{figure}: {sensitivity.get('reading', '')}"


def summary_sentences(
    explanation: Any,
    *,
    model_label: str,
    method_label: str,
    heatmap: np.ndarray | None = None,
    evaluation: Any = None,
    trust: Any = None,
    sensitivity: Mapping[str, Any] | None = None,
) -> list[str]:
    """The report's opening: what the model predicts, what the map shows, whether it can be trusted,
    and (for a class near zero) the caveat.

    Args:
        explanation: a :class:`gradcam.Explanation`.
        model_label, method_label: the model's and the method's names as people read them.
        heatmap: the map as drawn (default: the explanation's own).
        evaluation: its :class:`gradcam.Evaluation`, when the faithfulness figures were computed.
        trust: its trust report (:mod:`gradcam.trust`), when one was computed.
        sensitivity: its class sensitivity's record (:meth:`gradcam.sensitivity.ClassSensitivity.summary`),
            when measured: whether the map is about this class or the top class's map again.
    """
    probabilities = np.asarray(explanation.probabilities, dtype=np.float64)
    names = [str(n) for _, n, _ in (getattr(explanation, "top", None) or ())]
    top = int(np.argmax(probabilities))
    top_name = names[0] if names else f"class {top}"
    heat = np.asarray(explanation.heatmap if heatmap is None else heatmap)
    name = explanation.target_name
    contrast = getattr(explanation, "contrast_name", None)
    first = f"{model_label} predicts {top_name} ({percent(probabilities[top])})"
    if contrast:
        subject = f"why {name} rather than {contrast}"
    elif explanation.target_index == top and getattr(explanation, "target_members", None) is None:
        subject = f"its evidence for {name}"
    else:
        subject = f"its evidence for {name} ({percent(explanation.target_probability)})"
    if getattr(explanation, "empty", False):
        second = f"The {method_label} map of {subject} is empty: the method finds no positive evidence."
    else:
        share = evidence_share(heat)
        second = (
            f"The {method_label} map of {subject} lies mostly in {map_place(heat)} of the picture: half of it "
            f"sits in {share:.0%} of the picture."
        )
    sentences = [first + ". " + second]
    checks = (trust_sentence(trust) or faithfulness_sentence(evaluation), sensitivity_sentence(sensitivity))
    trusted = " ".join(part for part in checks if part)
    sentences.append(
        trusted
        or 'Whether the map can be trusted was not checked (the app\'s "How faithful is this map?" computes it).'
    )
    caveat = "" if contrast else near_zero_caveat(name, float(explanation.target_probability))
    if caveat:
        sentences.append(caveat)
    return sentences


def evaluation_rows(evaluation: Any) -> list[tuple[str, str, str, str]]:
    """(score, this map, random map, better) rows of the faithfulness figures, for a report."""
    from .metrics.evaluate import SCORES

    rows = []
    baseline: Mapping[str, float] = evaluation.baseline.scores if evaluation.baseline is not None else {}
    for score, value in evaluation.scores.items():
        other = baseline.get(score)
        rows.append(
            (
                score,
                f"{value:.3f}",
                f"{other:.3f}" if other is not None else "",
                "higher" if SCORES.get(score, True) else "lower",
            )
        )
    return rows


__all__ = [
    "EVIDENCE_MASS",
    "evaluation_rows",
    "evidence_share",
    "faithfulness_sentence",
    "map_place",
    "near_zero_caveat",
    "sensitivity_sentence",
    "summary_sentences",
    "trust_sentence",
]
