"""``evaluate``: every faithfulness metric for one explanation, with the random baseline, and
``rank_methods``: the methods of one image side by side."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import MetricError
from ..explanation import Explanation
from ..images import image_digest
from ..progress import Progress, no_progress
from . import perturbation, pointing, sanity
from ._common import Scorer, check_steps, map_at_model_size

if TYPE_CHECKING:
    from ..explainer import Explainer


@dataclass(frozen=True)
class MetricInfo:
    """One metric: its key for ``evaluate(metrics=...)``, label, paper, and the scores it writes,
    each with True when higher is better."""

    key: str
    label: str
    paper: str
    scores: Mapping[str, bool]
    default: bool = True
    needs: str = ""


#: The metrics ``evaluate`` knows, in display order.
METRICS: dict[str, MetricInfo] = {
    m.key: m
    for m in (
        MetricInfo(
            "deletion", "Deletion (area, lower is better)", "Petsiuk et al., RISE, BMVC 2018", {"deletion_auc": False}
        ),
        MetricInfo(
            "insertion",
            "Insertion (area, higher is better)",
            "Petsiuk et al., RISE, BMVC 2018",
            {"insertion_auc": True},
        ),
        MetricInfo(
            "average_drop",
            "Average drop % / increase in confidence",
            "Chattopadhyay et al., Grad-CAM++, WACV 2018",
            {"average_drop": False, "increase_in_confidence": True},
        ),
        MetricInfo(
            "road",
            "ROAD (MoRF lower, LeRF higher)",
            "Rong et al., ROAD, ICML 2022",
            {"road_morf": False, "road_lerf": True, "road_gap": True},
        ),
        MetricInfo(
            "pointing_game",
            "Pointing game (hit = 1)",
            "Zhang et al., Excitation Backprop, ECCV 2016",
            {"pointing_game": True},
            default=False,
            needs="a box or a point",
        ),
        MetricInfo(
            "randomization",
            "Randomisation check (|rank correlation|, lower is better)",
            "Adebayo et al., Sanity Checks for Saliency Maps, NeurIPS 2018",
            {"randomization_rho": False},
            default=False,
            needs="a copy of the model",
        ),
    )
}

#: Every score: True when higher is better.
SCORES: dict[str, bool] = {name: up for info in METRICS.values() for name, up in info.scores.items()}


@dataclass(frozen=True, eq=False)
class Evaluation:
    """The faithfulness figures of one map.

    Attributes:
        scores: score name -> float (see :data:`SCORES` for which direction is better).
        curves: curve name ("deletion", "insertion", "road_morf", "road_lerf") -> (fractions,
            probabilities), float32 arrays of equal length; fractions of the image removed or
            revealed, in [0, 1].
        method, layer, target_index, target_name: what was evaluated.
        probability: the explained class's probability on the full model input (a group's: the
            sum of its members'; its curves follow that sum too).
        baseline: the same metrics for a map of uniform random numbers (None if not asked).
        details: extras (pointing-game peak and chance, randomised layer names, options used).
        forward_images: images sent through the network, the random baseline's included (the
            cost in forward passes of one image); the baseline's own record counts its share.
        seconds: wall time.
    """

    scores: dict[str, float]
    curves: dict[str, tuple[np.ndarray, np.ndarray]]
    method: str
    layer: str | None
    target_index: int
    target_name: str
    probability: float
    baseline: Evaluation | None = None
    details: dict[str, Any] = field(default_factory=dict)
    forward_images: int = 0
    seconds: float = 0.0

    def beats_baseline(self) -> dict[str, bool]:
        """Score name -> whether this map is strictly better than the random baseline's
        (scores the baseline lacks, such as the randomisation check, are left out)."""
        if self.baseline is None:
            return {}
        out = {}
        for name, value in self.scores.items():
            other = self.baseline.scores.get(name)
            if other is None or not (math.isfinite(value) and math.isfinite(other)):
                continue
            out[name] = value > other if SCORES.get(name, True) else value < other
        return out

    def to_dict(self, curves: bool = True) -> dict:
        """A JSON-ready record (curves as lists)."""
        record = {
            "method": self.method,
            "layer": self.layer,
            "target_index": self.target_index,
            "target_name": self.target_name,
            "probability": round(self.probability, 6),
            "scores": {k: _round(v) for k, v in self.scores.items()},
            "forward_images": self.forward_images,
            "seconds": round(self.seconds, 4),
            "details": _jsonable(self.details),
        }
        if curves:
            record["curves"] = {
                k: {"fractions": [round(float(x), 6) for x in f], "probabilities": [round(float(p), 6) for p in p_]}
                for k, (f, p_) in self.curves.items()
            }
        if self.baseline is not None:
            record["baseline"] = self.baseline.to_dict(curves=curves)
            record["beats_baseline"] = self.beats_baseline()
        return record


def _round(value: float) -> float | None:
    return round(float(value), 6) if math.isfinite(value) else None


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return _round(float(value))
    if isinstance(value, np.integer):
        return int(value)
    return value


def resolve_metrics(metrics: str | Sequence[str] | None, box: object = None, point: object = None) -> list[str]:
    """The registry keys of the metrics asked for, in order, each once: ``None`` gives the default
    metrics (plus the pointing game when a ``box`` or ``point`` is given); a name may use its
    aliases ("pointing", "drop", "sanity", dashes for underscores). A MetricError names the
    available ones."""
    if metrics is None:
        keys = [k for k, m in METRICS.items() if m.default]
        if box is not None or point is not None:
            keys.append("pointing_game")
        return keys
    if isinstance(metrics, str):
        metrics = [metrics]
    keys = []
    for name in metrics:
        key = str(name).lower().replace("-", "_")
        key = {
            "pointing": "pointing_game",
            "average_drop": "average_drop",
            "drop": "average_drop",
            "sanity": "randomization",
            "randomisation": "randomization",
        }.get(key, key)
        if key not in METRICS:
            raise MetricError(f"Unknown metric {name!r}. Available: {', '.join(METRICS)}.")
        if key not in keys:
            keys.append(key)
    if not keys:
        raise MetricError(f"No metric asked for. Available: {', '.join(METRICS)}.")
    if "pointing_game" in keys and box is None and point is None:
        raise MetricError("The pointing game needs box=(x0, y0, x1, y1) or point=(x, y) in the image's pixels.")
    return keys


def evaluate(
    explainer: Explainer,
    image: np.ndarray | None,
    explanation: Explanation | np.ndarray,
    metrics: Sequence[str] | str | None = None,
    *,
    target=None,
    steps: int = 50,
    batch_size: int = 64,
    deletion_fill="mean",
    insertion_fill="blur",
    road_fractions: Sequence[float] = perturbation.ROAD_FRACTIONS,
    road_noise: float = 0.01,
    box=None,
    point=None,
    tolerance: float = pointing.DEFAULT_TOLERANCE,
    baseline: bool | Evaluation = True,
    layers_to_randomize="top",
    seed: int = 0,
    progress: Progress | None = None,
) -> Evaluation:
    """How faithful is this map to the model? Every metric for one explanation.

    Args:
        explainer: the :class:`~gradcam.Explainer` that made the explanation.
        image: the uint8 RGB image (H, W, 3) as given to ``explain``; checked against the
            explanation. None: use ``explanation.model_input`` (the box and point are then in the
            model input's pixels).
        explanation: an :class:`~gradcam.Explanation`, or a map (H, W) of your own, aligned with
            ``image`` (then ``target`` names the class; default the top prediction).
        metrics: keys of :data:`METRICS`. Default: deletion, insertion, average_drop and road,
            plus pointing_game when a box or point is given. "randomization" (a copy of the model
            with random top weights; :func:`~gradcam.metrics.randomization_check`) only on request.
        steps: deletion/insertion steps (default 50: 51 points from 0 to 1).
        batch_size: perturbed images per forward pass (default 64).
        deletion_fill, insertion_fill: what removed pixels become: "mean" (default for deletion),
            "blur" (default for insertion, as RISE), "zero" or a grey level.
        road_fractions, road_noise: ROAD's removal levels and imputation noise (fraction of 255).
        box, point, tolerance: the pointing game's target, in ``image``'s pixel coordinates
            (x0, y0, x1, y1) / (x, y), and its tolerance in pixels (default 15).
        baseline: also score a map of uniform random numbers (``result.baseline``). Pass the
            ``.baseline`` of an earlier result for the same image, class and options (another
            method's) to reuse it instead of computing it again.
        layers_to_randomize: for "randomization": "top", "all", a number or layer names.
        seed: seeds the random baseline, tie-breaking between equal map values and ROAD's noise.
        progress: callable(fraction, message).

    Returns:
        An :class:`Evaluation`: ``.scores``, ``.curves``, ``.baseline``.

    The probability tracked is that of the explained class (for a Contrast, its first class),
    with the model's own output activation, for images at the model's input resolution.
    """
    started = time.perf_counter()
    progress = progress or no_progress
    steps = check_steps(steps)
    keys = resolve_metrics(metrics, box, point)
    heatmap, model_input, explained = _inputs(explainer, image, explanation, target)
    size = model_input.shape[:2]
    saliency = map_at_model_size(heatmap, size)
    target_index = explained.target_index if explained is not None else _top_index(explainer, model_input, target)
    # A group's curves follow the group's probability: the sum of its members'.
    members = tuple(explained.target_members) if explained is not None and explained.target_members else (target_index,)
    scorer = Scorer(explainer, members, batch_size)
    probability = float(scorer(iter([model_input]), 1)[0])
    options = dict(
        steps=steps,
        batch_size=batch_size,
        deletion_fill=deletion_fill,
        insertion_fill=insertion_fill,
        road_fractions=tuple(road_fractions),
        road_noise=road_noise,
        seed=seed,
    )
    perturb_keys = [k for k in keys if k != "randomization"]
    runs = [("map", heatmap, saliency)]
    target_name = explained.target_name if explained is not None else explainer.class_names[target_index]
    reused = _reusable(baseline, target_index, target_name, model_input, options, perturb_keys)
    if baseline and reused is None:
        noise = sanity.random_heatmap(heatmap.shape, seed)
        runs.append(("random baseline", noise, map_at_model_size(noise, size)))
    results: list[tuple[dict, dict, dict]] = []
    counts: list[int] = []
    for number, (name, full_map, small_map) in enumerate(runs):
        share = 1.0 / len(runs)

        def part(fraction, message, number=number, name=name, share=share):
            progress(min((number + fraction) * share, 0.999), f"{name}: {message}")

        scores, curves, details = _score(
            full_map, small_map, model_input, scorer, probability, perturb_keys, box, point, tolerance, options, part
        )
        results.append((scores, curves, details))
        counts.append(scorer.images - sum(counts))
    scores, curves, details = results[0]
    details["options"] = options
    if "randomization" in keys:
        if explained is None:
            raise MetricError("The randomisation check needs an Explanation (it re-runs its method), not a bare map.")
        if image is None:
            image = explained.model_input
        check = sanity.randomization_check(
            explainer, image, layers_to_randomize=layers_to_randomize, seed=seed, explanation=explained
        )
        scores["randomization_rho"] = check.rank_correlation
        details["randomized_layers"] = list(check.randomized_layers)
    method = explained.method if explained is not None else "custom"
    layer = explained.layer if explained is not None else None
    seconds = time.perf_counter() - started
    base = reused
    if baseline and reused is None:
        b_scores, b_curves, b_details = results[1]
        b_details.update(options=options, metrics=perturb_keys, model_input_digest=image_digest(model_input))
        base = Evaluation(
            b_scores,
            b_curves,
            "random",
            None,
            target_index,
            target_name,
            probability,
            details=b_details,
            forward_images=counts[1],
        )
    progress(1.0, "done")
    return Evaluation(
        scores, curves, method, layer, target_index, target_name, probability, base, details, scorer.images, seconds
    )


def _reusable(baseline, target_index, name, model_input, options, keys) -> Evaluation | None:
    """``baseline`` if it is an earlier random baseline for this very image, class, metrics and
    options; None when it must be computed; MetricError if it belongs to something else."""
    if not isinstance(baseline, Evaluation):
        return None
    details = baseline.details
    if (
        baseline.target_index != target_index
        or baseline.target_name != name
        or details.get("options") != options
        or details.get("model_input_digest") != image_digest(model_input)
        or details.get("metrics") != keys
    ):
        raise MetricError(
            "The baseline passed was computed for another image, class, metric list or options; "
            "pass baseline=True to compute a new one."
        )
    return baseline


def _score(full_map, small_map, model_input, scorer, probability, keys, box, point, tolerance, options, progress):
    scores: dict[str, float] = {}
    curves: dict = {}
    details: dict = {}
    # Progress weights: rough shares of the work.
    weights = {"deletion": 1, "insertion": 1, "average_drop": 0.05, "road": 3, "pointing_game": 0.01}
    total = sum(weights[k] for k in keys) or 1.0
    done = 0.0
    wants = [k for k in ("deletion", "insertion") if k in keys]
    if wants:
        share = sum(weights[k] for k in wants)
        s, c = perturbation.deletion_insertion(
            model_input,
            small_map,
            scorer,
            options["steps"],
            options["deletion_fill"],
            options["insertion_fill"],
            options["seed"],
            wants,
            lambda f, m: progress((done + f * share) / total, m),
        )
        scores.update(s)
        curves.update(c)
        done += share
    if "average_drop" in keys:
        s, _, masked = perturbation.average_drop(model_input, small_map, scorer, probability)
        scores.update(s)
        details["masked_probability"] = masked
        done += weights["average_drop"]
        progress(done / total, "average drop")
    if "road" in keys:
        s, c = perturbation.road(
            model_input,
            small_map,
            scorer,
            probability,
            options["road_fractions"],
            options["road_noise"],
            options["seed"],
            lambda f, m: progress((done + f * weights["road"]) / total, m),
        )
        scores.update(s)
        curves.update(c)
        done += weights["road"]
    if "pointing_game" in keys:
        s, d = pointing.pointing_game(full_map, box, point, tolerance)
        scores.update(s)
        details.update(d)
    return scores, curves, details


def _inputs(
    explainer: Explainer, image: np.ndarray | None, explanation: Explanation | np.ndarray, target: Any
) -> tuple[np.ndarray, np.ndarray, Explanation | None]:
    """(heatmap at the image's resolution, model input, Explanation or None)."""
    if isinstance(explanation, Explanation):
        model_input = np.asarray(explanation.model_input)
        if tuple(model_input.shape[:2]) != tuple(explainer.input_size):
            raise MetricError(
                f"The explanation's model input is {model_input.shape[:2]} but this explainer's "
                f"model takes {explainer.input_size}; evaluate with the explainer that made it."
            )
        heatmap = np.asarray(explanation.heatmap, np.float32)
        if image is not None:
            from ..images import as_rgb_uint8

            image = as_rgb_uint8(image)
            if image.shape[:2] != heatmap.shape:
                raise MetricError(
                    f"The explanation's heatmap is {heatmap.shape} but the image is {image.shape[:2]}; "
                    "pass the image that was explained."
                )
            if not np.array_equal(explainer.model_input(image), model_input):
                raise MetricError(
                    "The explanation was made for another image: its model input differs "
                    "from this image's. Pass the image that was explained."
                )
        return heatmap, model_input, explanation
    if target is not None and not isinstance(target, (int, np.integer, str)):
        raise MetricError("With a bare map, target must be a class index or name (a Contrast needs an Explanation).")
    heatmap = np.asarray(explanation, np.float32)
    if image is None:
        raise MetricError("With a bare map, pass the image it explains.")
    from ..images import as_rgb_uint8

    image = as_rgb_uint8(image)
    if heatmap.shape != image.shape[:2]:
        raise MetricError(
            f"The map is {heatmap.shape} but the image is {image.shape[:2]}; "
            "a map aligned with the image's pixels is expected."
        )
    return heatmap, explainer.model_input(image), None


def _top_index(explainer: Explainer, model_input: np.ndarray, target: int | str | None) -> int:
    if target is not None:
        return explainer.class_index(target)
    return int(np.argmax(explainer.probabilities_of(model_input[None])[0]))


def rank_methods(
    results: Sequence[Evaluation] | Mapping[str, Evaluation],
    scores: Sequence[str] | None = None,
    include_baseline: bool = True,
) -> list[dict]:
    """The methods of one image side by side, best first: a table-friendly list of dicts.

    Each method is ranked on each score (1 = best, ties share the better rank; the direction
    from :data:`SCORES`), and the rows are sorted by the mean of those ranks. ``scores``:
    the score names to rank on (default: every score all results have, except
    ``increase_in_confidence``, which is 0 or 1 per image and ranks poorly, and
    ``randomization_rho``, ranked by its absolute value).

    Row keys: ``rank``, ``method`` (the dict key or the Evaluation's method), ``mean_rank``, one
    key per score, and ``beats_random`` ("k/n" scores better than the random baseline). With
    ``include_baseline``, the first result's random baseline is ranked as a row "random".
    """
    items = list(results.items()) if isinstance(results, Mapping) else [(r.method, r) for r in results]
    if not items:
        return []
    if include_baseline and items[0][1].baseline is not None:
        items.append(("random", items[0][1].baseline))
    if scores is None:
        present = set.union(*(set(r.scores) for _, r in items))
        scores = [s for s in SCORES if s in present and s != "increase_in_confidence"]
    rows: list[dict[str, Any]] = [
        {"method": name, **{s: r.scores.get(s, float("nan")) for s in scores}} for name, r in items
    ]
    ranks = np.zeros((len(rows), len(scores)))
    for j, name in enumerate(scores):
        values = np.array([row[name] for row in rows], np.float64)
        if name == "randomization_rho":
            values = np.abs(values)
        key = -values if SCORES.get(name, True) else values
        finite = np.isfinite(key)
        ranks[:, j] = [1 + int(np.sum(key[finite] < k)) if ok else np.nan for k, ok in zip(key, finite)]
    for i, (row, (_, result)) in enumerate(zip(rows, items)):
        known = ranks[i][np.isfinite(ranks[i])]
        row["mean_rank"] = float(known.mean()) if known.size else float("nan")
        beats = result.beats_baseline()
        row["beats_random"] = f"{sum(beats.values())}/{len(beats)}" if beats else ""
    order = sorted(range(len(rows)), key=lambda i: (math.isnan(rows[i]["mean_rank"]), rows[i]["mean_rank"], i))
    table = []
    for position, i in enumerate(order, 1):
        row = rows[i]
        table.append({"rank": position, "method": row.pop("method"), "mean_rank": row.pop("mean_rank"), **row})
    return table
