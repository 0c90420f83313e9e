"""The trust metrics with Quantus 0.6's definitions: hand-computed cases, then the same maps and
images scored by Quantus 0.6 itself (a test dependency) on the real EfficientNet-Lite0.

Quantus sees the model input scaled to [0, 1] through a Keras wrapper of Lite0 (its own
preprocessing, (x - 127) / 128, as a Rescaling layer), and our maps; the explain functions it
calls are the engine's. Randomised metrics are compared with the same seeds (Quantus draws from
NumPy's global generator, which the tests seed). The figures are printed (run with -s).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

import gradcam
from gradcam.errors import MetricError
from gradcam.metrics import METRICS, SCORES, complexity, evaluate, sparseness
from gradcam.metrics._common import Scorer
from gradcam.metrics.faithfulness import faithfulness_correlation, irof
from gradcam.metrics.robustness import max_sensitivity, noisy_images
from gradcam.metrics.sanity import random_logit, random_other_class

quantus = pytest.importorskip(
    "quantus", reason="Quantus 0.6 (the `test` extra: pip install -e '.[test]') is not installed"
)

NEW = ("sparseness", "complexity", "faithfulness_correlation", "irof", "max_sensitivity", "random_logit")


# -- hand-computed cases ------------------------------------------------------------------------
def test_sparseness_by_hand():
    n = 64
    one_hot = np.zeros((8, 8), np.float32)
    one_hot[3, 5] = 0.7
    eps = np.float32(1e-7)
    # Sorted: n - 1 values eps, one value 1 + eps; Gini = sum (2i - n - 1) a_i / (n sum a_i).
    expected = (sum((2 * i - n - 1) * float(eps) for i in range(1, n)) + (n - 1) * float(1 + eps)) / (
        n * ((n - 1) * float(eps) + float(1 + eps))
    )
    assert sparseness(one_hot) == pytest.approx(expected, rel=1e-6)
    assert sparseness(one_hot) == pytest.approx(1 - 1 / n, abs=1e-5)
    assert sparseness(np.full((8, 8), 0.3, np.float32)) == pytest.approx(0.0, abs=1e-6)
    assert sparseness(np.zeros((8, 8), np.float32)) == pytest.approx(0.0, abs=1e-6)  # the all-zero map
    # Scale-free and sign-free (|map| / max): a negative copy scores the same.
    ramp = np.arange(16, dtype=np.float32).reshape(4, 4)
    assert sparseness(ramp) == pytest.approx(sparseness(-3 * ramp), rel=1e-6)
    # A map of uniform random numbers: Gini about 1/3.
    noise = np.random.default_rng(0).random((200, 200), dtype=np.float32)
    assert sparseness(noise) == pytest.approx(1 / 3, abs=0.01)


def test_complexity_by_hand():
    one_hot = np.zeros((8, 8), np.float32)
    one_hot[0, 0] = 2.0
    assert complexity(one_hot) == pytest.approx(0.0, abs=1e-6)
    assert complexity(np.ones((8, 8), np.float32)) == pytest.approx(math.log(64), rel=1e-6)
    two = np.zeros((8, 8), np.float32)
    two[0, 0], two[1, 1] = 1.0, 1.0
    assert complexity(two) == pytest.approx(math.log(2), rel=1e-6)
    assert math.isnan(complexity(np.zeros((8, 8), np.float32)))  # no distribution to measure
    with pytest.raises(MetricError, match="NaN"):
        complexity(np.full((4, 4), np.nan, np.float32))
    with pytest.raises(MetricError, match=r"\(H, W\)"):
        sparseness(np.zeros((4, 4, 3), np.float32))


def test_metrics_are_registered_with_paper_and_direction():
    directions = {
        "sparseness": True,
        "complexity": False,
        "faithfulness_correlation": True,
        "irof": True,
        "max_sensitivity": False,
        "random_logit": False,
    }
    for key, up in directions.items():
        assert key in METRICS and METRICS[key].paper and SCORES[key] is up
    assert "Chalasani" in METRICS["sparseness"].paper and "Sixt" in METRICS["random_logit"].paper
    assert "Yeh" in METRICS["max_sensitivity"].paper and "Rieger" in METRICS["irof"].paper


def test_random_other_class_follows_quantus_draw():
    # Quantus: np.random.seed(42); randint(0, 999) indexes the 999 classes other than y.
    np.random.seed(42)
    index = np.random.randint(0, 999, 1)[0]
    others = [c for c in range(1000) if c != 967]
    assert random_other_class([967], 1000, 42) == others[index]
    drawn = random_other_class([0, 1, 2], 10, 3)
    assert drawn not in (0, 1, 2) and drawn == random_other_class([0, 1, 2], 10, 3)


# -- against Quantus 0.6 on Lite0 ----------------------------------------------------------------
@pytest.fixture(scope="module")
def coffee(lite0):
    """(explainer, the Quantus-facing Keras model, explanation, x_batch in [0, 1], map at the model size)."""
    import keras

    model, explainer = lite0
    image = np.asarray(Image.open("sample_images/coffee.jpg").convert("RGB"))
    explanation = explainer.explain(image)
    model_input = explanation.model_input
    inputs = keras.Input((224, 224, 3))
    x = keras.layers.Rescaling(255.0 / 128.0, offset=-127.0 / 128.0)(inputs)
    outputs = keras.layers.Activation("linear")(model.keras_model(x))  # Quantus reads the last layer's activation
    wrapped = keras.Model(inputs, outputs)
    x_batch = (model_input.astype(np.float32) / 255.0)[None]
    ours = explainer.compiled.logits(explainer.prepare_batch([model_input]))
    assert np.abs(wrapped.predict(x_batch, verbose=0) - ours).max() < 1e-3, "the wrapper must be Lite0 itself"
    reference = explainer.explain(model_input).heatmap  # the map of the model input, as the metrics use
    return explainer, wrapped, explanation, x_batch, reference


def _quantus_explain(explainer):
    """Quantus's explain_func: the engine's Grad-CAM map of the [0, 1] inputs, rounded to uint8."""

    def explain(model, inputs, targets, **kwargs):
        maps = []
        for x, y in zip(np.asarray(inputs), np.asarray(targets).reshape(-1)):
            if x.shape[0] == 3 and x.shape[-1] != 3:
                x = np.moveaxis(x, 0, -1)
            pixels = np.clip(np.round(x * np.float32(255.0)), 0, 255).astype(np.uint8)
            maps.append(explainer.explain(pixels, target=int(y)).heatmap)
        return np.stack(maps)

    return explain


def _batch(a):
    return np.asarray(a, np.float32)[None].copy()


def test_sparseness_and_complexity_equal_quantus(coffee):
    explainer, wrapped, explanation, _, _ = coffee
    heatmap = explanation.heatmap  # as returned: at the photo's own resolution
    x = np.asarray(Image.open("sample_images/coffee.jpg").convert("RGB"), np.float32)[None] / 255.0
    y = np.array([explanation.target_index])
    noise = gradcam.metrics.random_heatmap(heatmap.shape, 0)
    for name, a in (("Grad-CAM", heatmap), ("random", noise)):
        q_sparse = quantus.Sparseness(disable_warnings=True)(
            model=None, x_batch=x, y_batch=y, a_batch=_batch(a), channel_first=False
        )[0]
        q_complex = quantus.Complexity(disable_warnings=True)(
            model=None, x_batch=x, y_batch=y, a_batch=_batch(a), channel_first=False
        )[0]
        print(f"\n{name}: sparseness ours {sparseness(a)!r} Quantus {float(q_sparse)!r}")
        print(f"{name}: complexity ours {complexity(a)!r} Quantus {float(q_complex)!r}")
        assert sparseness(a) == float(q_sparse)
        assert complexity(a) == float(q_complex)


def test_faithfulness_correlation_draws_as_quantus_does():
    # Quantus draws each run's subset with np.random.choice from NumPy's global generator.
    np.random.seed(7)
    theirs = [np.random.choice(224 * 224 * 3, 224, replace=False) for _ in range(5)]
    rng = np.random.RandomState(7)
    ours = [rng.choice(224 * 224 * 3, 224, replace=False) for _ in range(5)]
    assert all(np.array_equal(a, b) for a, b in zip(theirs, ours))


def test_faithfulness_correlation_equals_quantus_on_the_same_subsets(coffee, monkeypatch):
    explainer, wrapped, explanation, x_batch, reference = coffee
    y = np.array([explanation.target_index])
    runs, subset, seed = 12, 224, 7
    # Keras's predict, called by Quantus between its draws, may itself draw from NumPy's global
    # generator, so the subsets Quantus used are recorded and replayed rather than re-drawn.
    drawn = []
    choice = np.random.choice

    def recording_choice(*args, **kwargs):
        drawn.append(choice(*args, **kwargs))
        return drawn[-1]

    monkeypatch.setattr(np.random, "choice", recording_choice)
    np.random.seed(seed)
    theirs = quantus.FaithfulnessCorrelation(nr_runs=runs, subset_size=subset, disable_warnings=True)(
        model=wrapped, x_batch=x_batch, y_batch=y, a_batch=_batch(reference), channel_first=False
    )
    monkeypatch.undo()
    assert len(drawn) == runs
    scorer = Scorer(explainer, explanation.target_index, output="logit")
    ours = faithfulness_correlation(explanation.model_input, reference, scorer, subset=subset, subsets=drawn)[0]
    seeded = faithfulness_correlation(
        explanation.model_input,
        reference,
        Scorer(explainer, explanation.target_index, output="logit"),
        runs,
        subset,
        seed,
    )[0]
    print(
        f"\nfaithfulness correlation ({runs} runs of {subset} values): ours {ours['faithfulness_correlation']!r} "
        f"Quantus {float(np.ravel(theirs)[0])!r}; ours drawn with seed {seed}: {seeded['faithfulness_correlation']!r}"
    )
    assert scorer.images == runs + 1
    assert ours["faithfulness_correlation"] == pytest.approx(float(np.ravel(theirs)[0]), abs=2e-3)


def _broadcast_mask_fill(round_grey: bool):
    """Quantus 0.6's IROF passes a one-channel mask to ``baseline_replacement_by_mask``, which
    asserts the image's shape, so it fails on RGB images; this fill applies the mask to every
    channel (what IROF means), optionally rounding the grey to a pixel level as the engine does."""
    from quantus.functions.perturb_func import baseline_replacement_by_mask

    def fill(arr, mask, **kwargs):
        mask = np.broadcast_to(mask, arr.shape)
        if not round_grey:
            return baseline_replacement_by_mask(arr=arr, mask=mask, **kwargs)
        grey = np.round(arr.mean() * 255.0) / 255.0
        return np.where(mask, np.float32(grey), arr)

    return fill


def test_irof_equals_quantus(coffee, monkeypatch):
    # Quantus 0.6's IROF calls np.trapz, which NumPy 2.4 removed; np.trapezoid is the same rule.
    monkeypatch.setattr(np, "trapz", np.trapezoid, raising=False)
    explainer, wrapped, explanation, x_batch, reference = coffee
    y = np.array([explanation.target_index])
    scorer = Scorer(explainer, explanation.target_index)
    scores, details, _ = irof(explanation.model_input, reference, scorer)
    figures = {}
    for round_grey in (True, False):
        figures[round_grey] = float(
            np.ravel(
                quantus.IROF(
                    perturb_func=_broadcast_mask_fill(round_grey), return_aggregate=False, disable_warnings=True
                )(model=wrapped, x_batch=x_batch, y_batch=y, a_batch=_batch(reference), channel_first=False)
            )[0]
        )
    print(
        f"\nIROF ({details['irof_segments']} superpixels): ours {scores['irof']!r} "
        f"Quantus (grey rounded to a pixel level) {figures[True]!r}, Quantus (grey as is) {figures[False]!r}"
    )
    assert scores["irof"] == pytest.approx(figures[True], rel=1e-3)
    assert scores["irof"] == pytest.approx(figures[False], rel=0.02)


def test_max_sensitivity_equals_quantus_with_the_same_seed(coffee):
    explainer, wrapped, explanation, x_batch, reference = coffee
    y = np.array([explanation.target_index])
    samples, seed = 3, 5
    ours = max_sensitivity(explainer, explanation, samples=samples, seed=seed)[0]["max_sensitivity"]
    np.random.seed(seed)
    theirs = quantus.MaxSensitivity(nr_samples=samples, disable_warnings=True)(
        model=wrapped,
        x_batch=x_batch,
        y_batch=y,
        a_batch=_batch(reference),
        channel_first=False,
        explain_func=_quantus_explain(explainer),
    )
    print(f"\nmax-sensitivity ({samples} samples, seed {seed}): ours {ours!r} Quantus {float(np.ravel(theirs)[0])!r}")
    assert 0 < ours < 2
    assert ours == pytest.approx(float(np.ravel(theirs)[0]), rel=1e-4)


def test_noisy_images_are_seeded_and_bounded(coffee):
    _, _, explanation, _, _ = coffee
    first = list(noisy_images(explanation.model_input, 2, 0.2, 3))
    again = list(noisy_images(explanation.model_input, 2, 0.2, 3))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], first[1])
    change = np.abs(first[0].astype(int) - explanation.model_input.astype(int))
    assert change.max() <= 52 and change.mean() > 10  # +-0.2 of the range: up to 51 levels, plus rounding


def test_random_logit_equals_quantus(coffee):
    explainer, wrapped, explanation, x_batch, reference = coffee
    y = np.array([explanation.target_index])
    scores, details = random_logit(explainer, explanation)
    theirs = quantus.RandomLogit(disable_warnings=True)(
        model=wrapped,
        x_batch=x_batch,
        y_batch=y,
        a_batch=_batch(reference),
        channel_first=False,
        explain_func=_quantus_explain(explainer),
    )
    print(
        f"\nrandom logit (other class {details['random_logit_name']}): ours {scores['random_logit']!r} "
        f"Quantus {float(np.ravel(theirs)[0])!r}"
    )
    assert scores["random_logit"] == pytest.approx(float(np.ravel(theirs)[0]), abs=1e-6)


# -- through gradcam.evaluate --------------------------------------------------------------------
def test_evaluate_scores_each_new_metric_and_the_random_map(coffee):
    explainer, _, explanation, _, _ = coffee
    image = np.asarray(Image.open("sample_images/coffee.jpg").convert("RGB"))
    seen = []
    result = evaluate(
        explainer,
        image,
        explanation,
        metrics=list(NEW),
        correlation_runs=10,
        sensitivity_samples=4,
        progress=lambda f, m: seen.append(f),
    )
    assert set(NEW) <= set(result.scores) and set(NEW) <= set(result.baseline.scores)
    beats = result.beats_baseline()
    assert set(NEW) <= set(beats)
    # A Grad-CAM map of an espresso is more focused than noise, and steadier than a fresh noise map.
    assert beats["sparseness"] and beats["complexity"] and beats["max_sensitivity"]
    assert result.baseline.scores["sparseness"] == pytest.approx(1 / 3, abs=0.01)
    assert result.baseline.scores["max_sensitivity"] > 0.6
    assert abs(result.baseline.scores["random_logit"]) < 0.05
    assert result.details["random_logit_name"] == explainer.class_names[result.details["random_logit_class"]]
    assert result.details["explained_images"] == 5 and result.details["irof_segments"] > 10
    assert "irof" in result.curves
    assert seen == sorted(seen) and seen[-1] == 1.0
    record = result.to_dict(curves=False)
    assert set(NEW) <= set(record["scores"]) and set(NEW) <= set(record["beats_baseline"])


def test_evaluate_refuses_a_bare_map_for_the_metrics_that_remake_it(coffee):
    explainer, _, explanation, _, _ = coffee
    image = np.asarray(Image.open("sample_images/coffee.jpg").convert("RGB"))
    with pytest.raises(MetricError, match="need an Explanation"):
        evaluate(explainer, image, explanation.heatmap, metrics=["max_sensitivity"])
    # The map-only metrics work on a bare map.
    result = evaluate(explainer, image, explanation.heatmap, metrics=["sparseness", "complexity"], baseline=False)
    assert result.scores["sparseness"] == sparseness(explanation.heatmap)
    with pytest.raises(MetricError, match="Unknown metric 'gin'. Available: .*sparseness"):
        evaluate(explainer, image, explanation, metrics=["gin"])


def test_random_logit_of_a_contrast_is_not_defined_and_says_so(coffee):
    explainer, _, explanation, _, _ = coffee
    contrast = explainer.explain(explanation.model_input, target=gradcam.Contrast(967, 968))
    scores, details = random_logit(explainer, contrast)
    assert math.isnan(scores["random_logit"]) and "contrastive" in details["random_logit_note"]


def test_group_targets_use_the_group_score(coffee):
    explainer, _, explanation, _, _ = coffee
    group = explainer.explain(explanation.model_input, target=gradcam.Group([967, 968], name="coffee"))
    result = evaluate(
        explainer, None, group, metrics=["faithfulness_correlation", "random_logit"], correlation_runs=5, baseline=False
    )
    assert result.details["random_logit_class"] not in (967, 968)
    assert np.isfinite(result.scores["random_logit"])
