"""Can this map be trusted? Four questions a stakeholder asks of a map, each answered with its
number, the random map's figure beside it, and a plain-words reading.

    import gradcam
    from gradcam.trust import trust_report
    report = trust_report(explainer, image, explanation)
    report.flag              # "slot is at p = 0.01%: ..." when the class is near zero probability
    for line in report.lines:
        print(line.question, line.answer, line.figure, line.random_figure, line.reading)

The questions (one :class:`TrustLine` each, in this order):

- **faithful?** insertion minus deletion (Petsiuk et al. 2018; :func:`gradcam.evaluate`), against
  the same figure for a map of random numbers.
- **about this class?** the class-sensitivity verdict (:func:`gradcam.class_sensitivity`: the
  similarity of the map to the top class's map), with the random classes' similarity beside it.
- **stable?** Max-Sensitivity (Yeh et al. 2019, Quantus's definition), against the random map's.
- **focused?** Sparseness, the Gini index (Chalasani et al. 2020, Quantus's definition), against
  the random map's.

Before anything else, a class or group near zero probability is flagged (:func:`near_zero`):
its deletion and insertion curves are flat, so they cannot judge the map.

The thresholds that turn numbers into words are the constants below, each with where it comes
from; the app and the HTML report only arrange what this module says (``docs/trust-metrics.md``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import MetricError
from .explanation import Explanation
from .progress import Progress, no_progress

#: Below this probability a class (or group: the sum of its members') is "near zero": 1%. The
#: deletion and insertion curves follow the class's probability, so for such a class both areas
#: are squeezed under about 0.01 and their difference from the random map's is within the noise
#: of the curves; the issue that asked for the flag saw 0.000 / 0.001 for a class at p = 0.0%
#: read as "beats random 5/7". A choice of this project, stated rather than derived.
NEAR_ZERO_PROBABILITY = 0.01

#: "faithful?": the map's advantage over the random map, (insertion - deletion) - (the random
#: map's insertion - deletion), as a share of the class's probability on the whole image. At
#: least this share: "yes"; above 0 but below it: "barely" (answer "partly"); 0 or less: "no".
#: The share, not the raw areas, because both curves follow the class's probability: a class at
#: p = 0.2 cannot gain an area of 0.5. 0.2 (a fifth of the class's own probability) is a choice
#: of this project, not a figure from a paper. Measured on the shipped samples (top two classes,
#: ``benchmarks/bench_metrics.py --trust-samples``, docs/trust-metrics.md), the advantage ranges
#: from -0.01 (the astronaut's "bobsled", whose map does no better than random) to 2.1 of p, and
#: the random map's own gap is far from zero (-0.03 to 0.18 in area): hence comparing with it.
FAITHFUL_SHARE = 0.2

#: "stable?": Max-Sensitivity at or below this is "yes", above :data:`UNSTABLE_SENSITIVITY` "no",
#: between "somewhat". The scale: 0 is a map that does not move under the noise; two unrelated
#: maps of the same values (the random map's figure) give about sqrt(1/2) = 0.71. 0.25 and 0.5
#: are about a third and two thirds of that.
STABLE_SENSITIVITY = 0.25
UNSTABLE_SENSITIVITY = 0.5
#: The trust block explains this many noisy copies (Quantus's default is 200: the maximum over
#: fewer copies is a lower bound of it; 20 keeps the block to seconds on a CPU).
TRUST_SENSITIVITY_SAMPLES = 20

#: "focused?": the Gini index of a map that is 1 on a share f of the image and 0 elsewhere is
#: 1 - f, so Gini g reads "as concentrated as an even map over 1 - g of the image". At or above
#: 0.6 (as concentrated as a map over 40% of the image or less): "yes"; below 0.45 (over more than
#: 55%, approaching uniform noise's 1/3): "no, spread out"; between: "somewhat".
FOCUSED_GINI = 0.6
SPREAD_GINI = 0.45

#: The answers a line can give.
YES, PARTLY, NO, CANNOT_TELL = "yes", "partly", "no", "cannot tell"


@dataclass(frozen=True)
class TrustLine:
    """One question about a map, answered.

    Attributes:
        key: "faithful", "about_class", "stable" or "focused".
        question: the question as shown ("faithful?").
        answer: :data:`YES`, :data:`PARTLY`, :data:`NO` or :data:`CANNOT_TELL`.
        value: the number behind the answer (None when it could not be measured).
        figure: the number in words ("insertion - deletion = 0.41").
        random_value, random_figure: the random map's (or random classes') figure, when it applies.
        reading: what the number means, in plain words.
        source: the metric and its paper.
    """

    key: str
    question: str
    answer: str
    value: float | None
    figure: str
    random_value: float | None
    random_figure: str
    reading: str
    source: str

    def summary(self) -> dict:
        """A JSON-ready record."""
        return {
            "key": self.key,
            "question": self.question,
            "answer": self.answer,
            "value": _round(self.value),
            "figure": self.figure,
            "random_value": _round(self.random_value),
            "random_figure": self.random_figure,
            "reading": self.reading,
            "source": self.source,
        }


@dataclass(frozen=True, eq=False)
class TrustReport:
    """The trust block of one map (see :func:`trust_report`).

    Attributes:
        target_label: the target as people read it; probability: its probability (a group's: the
            sum of its members').
        near_zero: True when the probability is under :data:`NEAR_ZERO_PROBABILITY`; flag: the
            words to show before anything else then ("" otherwise).
        lines: the four :class:`TrustLine` answers, in order faithful, about this class, stable,
            focused.
        evaluation: the :class:`gradcam.metrics.Evaluation` the figures come from.
        sensitivity: the :class:`gradcam.sensitivity.ClassSensitivity` (None if not measured).
        forward_images: images sent through the network; explained_images: noisy copies
            explained (max-sensitivity); seconds: wall time.
    """

    target_label: str
    probability: float
    near_zero: bool
    flag: str
    lines: tuple[TrustLine, ...]
    evaluation: Any = None
    sensitivity: Any = None
    forward_images: int = 0
    explained_images: int = 0
    seconds: float = 0.0
    thresholds: dict = field(default_factory=dict)

    def line(self, key: str) -> TrustLine:
        """The line of ``key`` ("faithful", "about_class", "stable", "focused")."""
        for item in self.lines:
            if item.key == key:
                return item
        raise KeyError(f"No trust line {key!r}; the lines are {', '.join(i.key for i in self.lines)}.")

    def summary(self) -> dict:
        """A JSON-ready record: the flag, the four lines and the thresholds used."""
        return {
            "target": self.target_label,
            "probability": round(float(self.probability), 6),
            "near_zero": self.near_zero,
            "flag": self.flag,
            "lines": [line.summary() for line in self.lines],
            "forward_images": self.forward_images,
            "explained_images": self.explained_images,
            "seconds": round(self.seconds, 3),
            "thresholds": dict(self.thresholds),
        }


def _round(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 4)


def thresholds() -> dict[str, float]:
    """Every threshold of the trust block, by name (what the report and the docs print)."""
    from .sensitivity import PARTLY_SHARED, SAME_AS_TOP

    return {
        "near_zero_probability": NEAR_ZERO_PROBABILITY,
        "faithful_share": FAITHFUL_SHARE,
        "same_as_top": SAME_AS_TOP,
        "partly_shared": PARTLY_SHARED,
        "stable_sensitivity": STABLE_SENSITIVITY,
        "unstable_sensitivity": UNSTABLE_SENSITIVITY,
        "focused_gini": FOCUSED_GINI,
        "spread_gini": SPREAD_GINI,
        "sensitivity_samples": TRUST_SENSITIVITY_SAMPLES,
    }


def near_zero(probability: float) -> bool:
    """True when a class (or group) at ``probability`` is near zero (under
    :data:`NEAR_ZERO_PROBABILITY`): its perturbation curves are too flat to judge a map."""
    return float(probability) < NEAR_ZERO_PROBABILITY


def near_zero_flag(label: str, probability: float) -> str:
    """The words shown before anything else for a near-zero class or group ("" otherwise)."""
    if not near_zero(probability):
        return ""
    return (
        f"{label} is at p = {_percent(probability)}, near zero: the model all but rules it out. Its "
        "deletion and insertion curves are flat, so they cannot judge this map, and the map mostly "
        "shows where the model looks at all."
    )


def explanation_flag(explanation: Explanation) -> str:
    """:func:`near_zero_flag` of an explanation's target (a contrast: its first side's probability)."""
    return near_zero_flag(explanation.label, float(explanation.target_probability))


def _percent(p: float) -> str:
    p = float(p)
    if p >= 0.1:
        return f"{p:.0%}"
    if p >= 0.001:
        return f"{p:.1%}"
    return f"{p:.2%}"


def faithful_line(evaluation, probability: float, label: str) -> TrustLine:
    """ "faithful?": insertion - deletion of the map against the random map's (see
    :data:`FAITHFUL_SHARE`)."""
    source = "deletion and insertion (Petsiuk et al., RISE, BMVC 2018), against a random map"
    scores = evaluation.scores
    base = evaluation.baseline.scores if evaluation.baseline is not None else {}
    if not {"deletion_auc", "insertion_auc"} <= set(scores):
        return TrustLine("faithful", "faithful?", CANNOT_TELL, None, "not measured", None, "", "", source)
    gap = scores["insertion_auc"] - scores["deletion_auc"]
    random_gap = (
        base["insertion_auc"] - base["deletion_auc"] if {"deletion_auc", "insertion_auc"} <= set(base) else None
    )
    figure = f"insertion − deletion = {gap:.3f}"
    random_figure = f"random map: {random_gap:.3f}" if random_gap is not None else ""
    if near_zero(probability):
        answer = CANNOT_TELL
        reading = (
            f"At p = {_percent(probability)} the curves of {label} are flat (areas {scores['insertion_auc']:.3f} "
            f"and {scores['deletion_auc']:.3f}): they cannot tell a faithful map from a random one."
        )
    elif random_gap is None:
        answer = CANNOT_TELL
        reading = "No random map was scored, so there is nothing to compare the curves with."
    else:
        share = (gap - random_gap) / max(float(probability), 1e-12)
        if share >= FAITHFUL_SHARE:
            answer = YES
            reading = (
                f"Removing the pixels the map ranks highest lowers {label} faster, and revealing them raises it "
                f"faster, than a random order does: the map points at what the model uses."
            )
        elif share > 0:
            answer = PARTLY
            reading = (
                f"Only slightly better than a random order of the pixels (by {share:.0%} of {label}'s "
                f"probability): the map is a weak guide to what the model uses."
            )
        else:
            answer = NO
            reading = (
                f"No better than a random order of the pixels: removing what the map ranks highest does not "
                f"lower {label} faster than removing pixels at random."
            )
    return TrustLine("faithful", "faithful?", answer, gap, figure, random_gap, random_figure, reading, source)


def about_class_line(sensitivity) -> TrustLine:
    """ "about this class?": the class-sensitivity verdict in words, the random classes' mean
    similarity beside it (the Random Logit baseline)."""
    from . import sensitivity as cs

    source = "similarity to the top class's map (Spearman, 56×56; Sixt et al., ICML 2020's Random Logit test)"
    if sensitivity is None:
        return TrustLine("about_class", "about this class?", CANNOT_TELL, None, "not measured", None, "", "", source)
    rho = sensitivity.similarity_to_top
    answer = {
        cs.TOP_CLASS: YES,
        cs.DISTINCT: YES,
        cs.PARTLY_SHARED_VERDICT: PARTLY,
        cs.SAME_AS_TOP_VERDICT: NO,
    }.get(sensitivity.verdict, CANNOT_TELL)
    if sensitivity.verdict == cs.TOP_CLASS:
        figure = "the top class"
    elif rho is None:
        figure = sensitivity.verdict
    else:
        figure = f"similarity to {sensitivity.top_name}'s map = {rho:.2f} ({sensitivity.verdict})"
    mean = sensitivity.random_mean
    random_figure = f"random classes: {mean:.2f}" if mean is not None else ""
    return TrustLine(
        "about_class", "about this class?", answer, rho, figure, mean, random_figure, sensitivity.reading, source
    )


def stable_line(evaluation, noise: float) -> TrustLine:
    """ "stable?": Max-Sensitivity against the random map's (see :data:`STABLE_SENSITIVITY`)."""
    source = "Max-Sensitivity (Yeh et al., NeurIPS 2019; Quantus 0.6's definition)"
    value = evaluation.scores.get("max_sensitivity")
    base = evaluation.baseline.scores.get("max_sensitivity") if evaluation.baseline is not None else None
    random_figure = f"random map: {base:.2f}" if base is not None and math.isfinite(base) else ""
    samples = evaluation.details.get("max_sensitivity_samples", 0)
    if value is None or not math.isfinite(value):
        return TrustLine(
            "stable",
            "stable?",
            CANNOT_TELL,
            None,
            "max-sensitivity not defined",
            base,
            random_figure,
            "The map has no positive evidence, so there is nothing whose change could be measured.",
            source,
        )
    figure = f"max-sensitivity = {value:.2f}"
    change = (
        f"under noise of up to ±{noise:.0%} of the pixel range ({samples} noisy copies), "
        f"the map changed by at most {value:.0%} of itself"
    )
    if value <= STABLE_SENSITIVITY:
        answer, tail = YES, "it stays put."
    elif value <= UNSTABLE_SENSITIVITY:
        answer, tail = PARTLY, "it moves noticeably; read its details with care."
    else:
        answer, tail = NO, "it moves almost as much as an unrelated map would; do not read much into its details."
    reading = f"{change[0].upper()}{change[1:]}: {tail}"
    return TrustLine("stable", "stable?", answer, value, figure, base, random_figure, reading, source)


def focused_line(evaluation) -> TrustLine:
    """ "focused?": Sparseness (Gini index) against the random map's (see :data:`FOCUSED_GINI`)."""
    source = "Sparseness, the Gini index (Chalasani et al., ICML 2020; Quantus 0.6's definition)"
    value = evaluation.scores.get("sparseness")
    base = evaluation.baseline.scores.get("sparseness") if evaluation.baseline is not None else None
    random_figure = f"random map: {base:.2f}" if base is not None else ""
    if value is None:
        return TrustLine("focused", "focused?", CANNOT_TELL, None, "not measured", base, random_figure, "", source)
    figure = f"Gini = {value:.2f}"
    share = max(0.0, 1.0 - value)
    if value >= FOCUSED_GINI:
        answer = YES
        reading = f"As concentrated as a map spread evenly over {share:.0%} of the image: it singles out a region."
    elif value >= SPREAD_GINI:
        answer = PARTLY
        reading = f"As concentrated as a map spread evenly over {share:.0%} of the image: a broad region."
    else:
        answer = NO
        reading = (
            f"As concentrated as a map spread evenly over {share:.0%} of the image: spread out, close to "
            "uniform noise's 0.33."
        )
    return TrustLine("focused", "focused?", answer, value, figure, base, random_figure, reading, source)


def trust_report(
    explainer,
    image: np.ndarray | None,
    explanation: Explanation,
    *,
    sensitivity=None,
    steps: int = 50,
    sensitivity_samples: int = TRUST_SENSITIVITY_SAMPLES,
    n_random: int = 8,
    seed: int = 0,
    explain_options: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> TrustReport:
    """The trust block of one map: the near-zero flag, then faithful?, about this class?,
    stable? and focused?, each with its number, the random map's figure and a reading.

    Args:
        explainer: the :class:`~gradcam.Explainer` that made ``explanation``.
        image: the image explained (None: ``explanation.model_input``).
        explanation: the map to judge (a class, a group or a contrast).
        sensitivity: its :class:`~gradcam.ClassSensitivity` if already measured (the app has it);
            None measures it here (:func:`gradcam.class_sensitivity` with ``n_random`` classes).
        steps: deletion/insertion steps (default 50, as :func:`gradcam.evaluate`).
        sensitivity_samples: noisy copies for max-sensitivity (default
            :data:`TRUST_SENSITIVITY_SAMPLES`).
        seed: seeds the random map, the noise and the random classes.
        explain_options: the method options the map was made with.
        progress: callable(fraction, message).

    Cost (``benchmarks/bench_metrics.py``): 2 x (steps + 1) forward passes for each of the map and
    the random map (deletion and insertion), ``sensitivity_samples`` + 1 explanations, and the
    class-sensitivity maps from the cached activations.
    """
    from .metrics import evaluate
    from .metrics._common import same_target
    from .metrics.robustness import SENSITIVITY_NOISE

    if not isinstance(explanation, Explanation):
        raise MetricError("The trust block needs an Explanation (from explainer.explain), not a bare map.")
    started = time.perf_counter()
    progress = progress or no_progress
    evaluation = evaluate(
        explainer,
        image,
        explanation,
        metrics=["deletion", "insertion", "sparseness", "max_sensitivity"],
        steps=steps,
        sensitivity_samples=sensitivity_samples,
        seed=seed,
        explain_options=explain_options,
        progress=lambda f, m: progress(0.9 * f, m),
    )
    if sensitivity is None:
        from .sensitivity import class_sensitivity

        progress(0.9, "comparing with the top class's map")
        sensitivity = class_sensitivity(
            explainer,
            image if image is not None else explanation.model_input,
            same_target(explanation),
            method=explanation.method,
            layer=list(explanation.layers) or None,
            n_random=n_random,
            seed=seed,
            **dict(explain_options or {}),
        )
    probability = float(explanation.target_probability)
    label = explanation.label
    lines = (
        faithful_line(evaluation, probability, label),
        about_class_line(sensitivity),
        stable_line(evaluation, SENSITIVITY_NOISE),
        focused_line(evaluation),
    )
    progress(1.0, "done")
    return TrustReport(
        target_label=label,
        probability=probability,
        near_zero=near_zero(probability),
        flag=near_zero_flag(label, probability),
        lines=lines,
        evaluation=evaluation,
        sensitivity=sensitivity,
        forward_images=evaluation.forward_images,
        explained_images=int(evaluation.details.get("explained_images", 0)),
        seconds=time.perf_counter() - started,
        thresholds=thresholds(),
    )
