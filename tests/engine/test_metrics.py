"""Faithfulness metrics on hand-built cases whose answer is known. No network, no model zoo.

The "left-half" model provably reads only the left half of its 32 x 32 input: a fixed mask zeroes
the right half before a fixed Laplacian filter, and the "textured" class's logit grows with the
left half's high-frequency energy. On a checkerboard image, a map on the left half must therefore
beat a map on the right half, and a map of random numbers, on every metric.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types

import keras
import numpy as np
import pytest

import gradcam
from gradcam.errors import MetricError
from gradcam.metrics import (
    METRICS,
    SCORES,
    Evaluation,
    evaluate,
    imputation,
    noisy_linear_imputation,
    peak_location,
    pointing_game,
    random_heatmap,
    randomization_check,
    rank_correlation,
    rank_methods,
)

S = 32
YY, XX = np.mgrid[0:S, 0:S]


def left_half_model() -> keras.Model:
    inputs = keras.Input((S, S, 3))
    keep_left = keras.ops.reshape(keras.ops.cast(keras.ops.arange(S) < S // 2, "float32"), (1, 1, S, 1))
    x = keras.layers.Lambda(lambda t: t * keep_left, name="keep_left")(inputs)
    conv = keras.layers.Conv2D(1, 3, padding="valid", name="laplacian")
    x = keras.layers.ReLU()(conv(x))
    x = keras.layers.GlobalAveragePooling2D()(x)
    dense = keras.layers.Dense(2, name="logits")
    model = keras.Model(inputs, dense(x))
    laplacian = np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], np.float32) / (4 * 255)
    conv.set_weights([np.repeat(laplacian[:, :, None, None] / 3, 3, axis=2), np.zeros(1, np.float32)])
    # logit("textured") - logit("flat") = 40 * mean(ReLU(laplacian)) - 5: about +5 for the
    # checkerboard (mean 0.25 over the valid map, half of it masked), -5 once the texture is gone.
    dense.set_weights([np.array([[40.0, 0.0]], np.float32), np.array([-5.0, 0.0], np.float32)])
    return model


def checkerboard() -> np.ndarray:
    return np.repeat((((YY + XX) % 2) * 255).astype(np.uint8)[..., None], 3, axis=2)


def half_map(left: bool) -> np.ndarray:
    """1 on one half with a gentle bump at its centre (so the maximum is unique), 0 elsewhere."""
    cx = S / 4 if left else 3 * S / 4
    bump = np.exp(-((XX - cx) ** 2 + (YY - S / 2) ** 2) / (2 * 6.0**2))
    side = XX < S // 2 if left else XX >= S // 2
    return ((0.8 + 0.2 * bump) * side).astype(np.float32)


BOX = (4, 12, 12, 20)  # around the left half's centre (x 8, y 16), original-image pixels


@pytest.fixture(scope="module")
def setup():
    explainer = gradcam.Explainer(left_half_model(), class_names=["textured", "flat"])
    image = checkerboard()
    explanation = explainer.explain(image, target=0, method="gradcam")
    return explainer, image, explanation


@pytest.fixture(scope="module")
def scored(setup):
    explainer, image, explanation = setup
    out = {}
    for name, left in (("left", True), ("right", False)):
        made = dataclasses.replace(explanation, heatmap=half_map(left), method=name)
        out[name] = evaluate(explainer, image, made, box=BOX, tolerance=0, steps=32, batch_size=16)
    return out


def test_model_reads_only_the_left_half(setup):
    explainer, image, _ = setup
    p = explainer.predict(image)[0]
    changed_right = image.copy()
    changed_right[:, S // 2 :] = 128
    changed_left = image.copy()
    changed_left[:, : S // 2] = 128
    assert p > 0.99
    assert explainer.predict(changed_right)[0] == pytest.approx(p, abs=1e-6)
    assert explainer.predict(changed_left)[0] < 0.01


@pytest.mark.parametrize(
    "score", ["deletion_auc", "insertion_auc", "average_drop", "road_morf", "road_lerf", "road_gap", "pointing_game"]
)
def test_left_map_beats_right_map_and_random(scored, score):
    left, right = scored["left"], scored["right"]
    better = (lambda a, b: a > b) if SCORES[score] else (lambda a, b: a < b)
    assert better(left.scores[score], right.scores[score]), (score, left.scores, right.scores)
    assert better(left.scores[score], left.baseline.scores[score]), (score, left.scores, left.baseline.scores)
    assert left.beats_baseline()[score]
    assert not right.beats_baseline()[score]


def test_expected_magnitudes(scored):
    left, right = scored["left"], scored["right"]
    # The left map keeps every pixel the model reads: masking by it changes nothing.
    assert left.scores["average_drop"] < 5 and right.scores["average_drop"] > 95
    # Increase in confidence is 0/1 per image; here no mask raises the probability.
    assert left.scores["increase_in_confidence"] == right.scores["increase_in_confidence"] == 0.0
    assert left.scores["deletion_auc"] < 0.3 < 0.7 < right.scores["deletion_auc"]
    assert left.baseline.scores["road_gap"] == pytest.approx(0.0, abs=0.15)
    # The pointing game's chance level is the share of the image within reach of the box.
    assert left.details["pointing_chance"] == pytest.approx(9 * 9 / S**2)
    assert left.details["peak"] == (8, 16)


def test_curves_shapes_and_ends(scored, setup):
    explainer, image, _ = setup
    result = scored["left"]
    p = explainer.predict(image)[0]
    assert result.probability == pytest.approx(p, abs=1e-6)
    for name in ("deletion", "insertion"):
        fractions, probs = result.curves[name]
        assert fractions.shape == probs.shape == (33,)
        assert fractions[0] == 0 and fractions[-1] == 1 and np.all(np.diff(fractions) > 0)
    assert result.curves["deletion"][1][0] == pytest.approx(p, abs=1e-5)
    assert result.curves["insertion"][1][-1] == pytest.approx(p, abs=1e-5)
    fractions, probs = result.curves["road_morf"]
    assert fractions[0] == 0 and probs[0] == pytest.approx(p) and len(fractions) == 10
    # the full image, then for the map and for the random baseline: deletion + insertion (2 x 33),
    # average drop (1) and ROAD (2 x 9)
    assert result.forward_images == 1 + 2 * (66 + 1 + 18)
    assert result.baseline.forward_images == 66 + 1 + 18
    record = json.loads(json.dumps(result.to_dict()))
    assert record["scores"]["pointing_game"] == 1.0 and "baseline" in record


def test_batch_size_does_not_change_scores(setup, scored):
    explainer, image, explanation = setup
    made = dataclasses.replace(explanation, heatmap=half_map(True))
    again = evaluate(explainer, image, made, metrics=["deletion", "insertion"], steps=32, batch_size=5, baseline=False)
    for name in ("deletion_auc", "insertion_auc"):
        assert again.scores[name] == pytest.approx(scored["left"].scores[name], abs=1e-5)
    assert again.baseline is None and set(again.scores) == {"deletion_auc", "insertion_auc"}


def test_bare_map_and_progress(setup):
    explainer, image, _ = setup
    seen = []
    result = evaluate(
        explainer,
        image,
        half_map(True),
        metrics="deletion",
        target="textured",
        steps=8,
        progress=lambda f, m: seen.append(f),
    )
    assert result.method == "custom" and result.target_index == 0
    assert seen[-1] == 1.0 and all(0 <= f <= 1 for f in seen) and seen == sorted(seen)


def test_rank_methods_orders_by_faithfulness(scored):
    table = rank_methods(scored)
    assert [row["method"] for row in table] == ["left", "random", "right"]
    assert [row["rank"] for row in table] == [1, 2, 3]
    assert table[0]["mean_rank"] == 1.0
    assert "increase_in_confidence" not in table[0] and "deletion_auc" in table[0]
    # 8 scores; the left map is strictly better on all but increase_in_confidence (a tie at 0).
    assert table[0]["beats_random"] == "7/8" and table[2]["beats_random"] == "0/8"
    assert rank_methods([]) == []


def test_randomization_check():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((S, S, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c1")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))
    image = (np.random.default_rng(0).random((S, S, 3)) * 255).astype(np.uint8)
    image[(YY - 10) ** 2 + (XX - 20) ** 2 < 40] = 255
    before = [w.copy() for w in model.get_weights()]
    explainer = gradcam.Explainer(model)

    same = randomization_check(explainer, image, "gradcam", layers_to_randomize=0)
    assert same.randomized_layers == () and same.rank_correlation == pytest.approx(1.0, abs=1e-6)
    assert same.passed() is False
    for spec, layers in (("top", ("logits",)), ("all", ("c1", "c2", "logits"))):
        check = randomization_check(explainer, image, "gradcam", layers_to_randomize=spec)
        assert check.randomized_layers == layers
        assert check.abs_rank_correlation < 0.5 and check.passed()
        assert check.randomized.target_index == check.original.target_index
    # The caller's model is untouched.
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    # Through evaluate: the score is the same rho (the randomised copy is reused).
    explanation = explainer.explain(image, method="gradcam")
    result = evaluate(explainer, image, explanation, metrics=["randomization"], baseline=False)
    assert result.scores["randomization_rho"] == pytest.approx(check_top_rho(explainer, image), abs=1e-6)
    with pytest.raises(MetricError, match="layers_to_randomize"):
        randomization_check(explainer, image, layers_to_randomize=9)
    with pytest.raises(MetricError, match="No layer"):
        randomization_check(explainer, image, layers_to_randomize=["nope"])


def check_top_rho(explainer, image):
    return randomization_check(explainer, image, "gradcam", layers_to_randomize="top").rank_correlation


def test_rank_correlation():
    rng = np.random.default_rng(0)
    a = rng.random((20, 20))
    assert rank_correlation(a, np.exp(3 * a)) == pytest.approx(1.0)
    assert rank_correlation(a, -a) == pytest.approx(-1.0)
    assert abs(rank_correlation(a, rng.random((20, 20)))) < 0.2
    assert math.isnan(rank_correlation(a, np.zeros_like(a)))
    ties = np.array([0, 0, 1, 2, 2, 2, 3.0])
    other = np.array([1, 0, 3, 2, 5, 4, 6.0])
    scipy_stats = pytest.importorskip("scipy.stats")
    assert rank_correlation(ties, other) == pytest.approx(scipy_stats.spearmanr(ties, other).statistic)


@pytest.mark.parametrize("scipy", [True, False])
def test_noisy_linear_imputation(monkeypatch, scipy):
    monkeypatch.setattr(imputation, "HAVE_SCIPY", scipy)
    ramp = np.repeat(np.repeat((np.arange(24) * 10).astype(np.uint8)[None, :, None], 24, 0), 3, 2)
    removed = np.zeros((24, 24), bool)
    removed[6:18, 4:16] = True
    # A linear ramp is its own neighbours' weighted mean: the hole is filled exactly.
    filled = noisy_linear_imputation(ramp, removed, noise=0)
    assert np.abs(filled.astype(int) - ramp).max() <= (0 if scipy else 1)
    noisy = noisy_linear_imputation(ramp, removed, noise=0.05, seed=3)
    assert np.array_equal(noisy[~removed], ramp[~removed])
    assert 5 < np.std(noisy[removed].astype(float) - ramp[removed]) < 20
    with pytest.raises(MetricError, match="Every pixel"):
        noisy_linear_imputation(ramp, np.ones((24, 24), bool))


def test_pointing_game_geometry():
    heatmap = np.zeros((40, 60), np.float32)
    heatmap[10, 30] = 1.0
    assert peak_location(heatmap) == (30, 10)
    assert pointing_game(heatmap, box=(25, 5, 35, 15))[0]["pointing_game"] == 1.0
    assert pointing_game(heatmap, box=(40, 20, 50, 30), tolerance=0)[0]["pointing_game"] == 0.0
    assert pointing_game(heatmap, box=(40, 20, 50, 30), tolerance=15)[0]["pointing_game"] == 1.0
    assert pointing_game(heatmap, point=(30, 24), tolerance=15)[0]["pointing_game"] == 1.0
    assert pointing_game(heatmap, point=(30, 26), tolerance=15)[0]["pointing_game"] == 0.0
    plateau = np.zeros((40, 60), np.float32)
    plateau[:, 40:] = 1.0  # a flat maximum: the pixel nearest its centroid, not the first in row order
    assert peak_location(plateau) in {(49, 19), (49, 20), (50, 19), (50, 20)}
    assert peak_location(np.zeros((4, 4))) is None
    assert pointing_game(np.zeros((40, 60)), point=(1, 1))[0]["pointing_game"] == 0.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(box=(10, 10, 5, 20)), "x0 <= x1"),
        (dict(box=(100, 100, 120, 120)), "outside"),
        (dict(box=(1, 2, 3)), "four numbers"),
        (dict(point=(70, 5)), "outside"),
        (dict(point="here"), "two numbers"),
        (dict(), "needs a box"),
        (dict(point=(1, 1), tolerance=-1), "tolerance"),
    ],
)
def test_pointing_game_refusals(kwargs, message):
    with pytest.raises(MetricError, match=message):
        pointing_game(np.ones((40, 60)), **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(metrics=["deletion", "nope"]), "Unknown metric 'nope'"),
        (dict(metrics=[]), "No metric"),
        (dict(metrics=["pointing_game"]), "needs box"),
        (dict(steps=0), "steps"),
        (dict(steps=2.5), "steps"),
        (dict(batch_size=0), "batch_size"),
        (dict(deletion_fill="purple"), "Unknown fill"),
        (dict(road_fractions=(0.5, 1.0)), "strictly between 0 and 1"),
    ],
)
def test_evaluate_refusals(setup, kwargs, message):
    explainer, image, explanation = setup
    with pytest.raises(MetricError, match=message):
        evaluate(explainer, image, explanation, **{"baseline": False, "steps": 4, **kwargs})


def test_evaluate_refuses_a_foreign_image(setup):
    explainer, image, explanation = setup
    with pytest.raises(MetricError, match="another image"):
        evaluate(explainer, 255 - image, explanation, metrics="deletion")
    with pytest.raises(MetricError, match="aligned"):
        evaluate(explainer, image, np.zeros((5, 5)), metrics="deletion")
    with pytest.raises(MetricError, match="NaN"):
        evaluate(explainer, image, np.full((S, S), np.nan), metrics="deletion")


def test_registry_and_exports():
    assert gradcam.evaluate is evaluate and gradcam.Evaluation is Evaluation
    assert list(METRICS) == ["deletion", "insertion", "average_drop", "road", "pointing_game", "randomization"]
    assert issubclass(gradcam.MetricError, gradcam.GradCamError)
    noise = random_heatmap((5, 7), seed=2)
    assert noise.shape == (5, 7) and noise.dtype == np.float32 and np.array_equal(noise, random_heatmap((5, 7), 2))


def test_baseline_is_reused_only_where_it_applies(setup, scored):
    explainer, image, explanation = setup
    first = scored["left"]
    made = dataclasses.replace(explanation, heatmap=half_map(False), method="right")
    again = evaluate(explainer, image, made, box=BOX, tolerance=0, steps=32, batch_size=16, baseline=first.baseline)
    assert again.baseline is first.baseline
    assert again.scores == pytest.approx(scored["right"].scores)
    assert again.forward_images == 1 + 66 + 1 + 18  # the baseline's passes are saved
    with pytest.raises(MetricError, match="another image, class"):
        evaluate(explainer, image, made, box=BOX, tolerance=0, steps=16, batch_size=16, baseline=first.baseline)


def test_cli_evaluate_writes_csv_and_json(setup, tmp_path, monkeypatch, capsys):
    from PIL import Image

    from gradcam.cli import evaluate as command
    from gradcam.cli import main

    explainer, image, _ = setup
    Image.fromarray(image).save(tmp_path / "board.png")
    model = types.SimpleNamespace(keras_model=explainer.keras_model, name="left-half", class_names=["textured", "flat"])
    monkeypatch.setattr(command, "load_model", lambda args: model)
    out = tmp_path / "out"
    status = main(
        [
            "evaluate",
            str(tmp_path / "board.png"),
            "--method",
            "gradcam",
            "--method",
            "saliency",
            "--target",
            "textured",
            "--steps",
            "8",
            "--box",
            "4,12,12,20",
            "--sanity",
            "--out",
            str(out),
        ]
    )
    assert status == 0
    printed = capsys.readouterr().out
    assert "textured" in printed and "rand-rho" in printed and "random" in printed
    import csv

    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert [r["method"] for r in rows] == ["gradcam", "saliency", "random"]
    assert all(r["deletion_auc"] and r["pointing_game"] for r in rows)
    assert rows[0]["randomization_rho"] and not rows[2]["randomization_rho"]
    record = json.loads((out / "metrics.json").read_text())
    assert record["metrics"] == ["deletion", "insertion", "average_drop", "road", "pointing_game", "randomization"]
    assert len(record["results"]) == 2 and len(record["results"][0]["curves"]["deletion"]["fractions"]) == 9
    # The random baseline was computed once, for the first method, and reused.
    assert record["results"][1]["forward_images"] < record["results"][0]["forward_images"]
    assert main(["evaluate", str(tmp_path / "board.png"), "--metric", "nope", "--out", str(out)]) == 2
    assert "Unknown metric 'nope'" in capsys.readouterr().err
