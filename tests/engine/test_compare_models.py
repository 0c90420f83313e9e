"""gradcam.compare_models: several models explain one image and one class side by side, each at
its own input size and preprocessing, with their maps aligned to the image and one agreement
figure per pair."""

from __future__ import annotations

import numpy as np
import pytest

import gradcam
from gradcam.compare import READING, ModelComparison, classes_match, rank_correlation
from gradcam.errors import LayerError, TargetError, UnknownClassError

NAMES = ["apple", "banana", "cherry", "date", "elder"]


def _cnn(size: int, seed: int, classes: int = 5, name: str = "cnn"):
    """A small fixed-weight CNN (GAP + dense head) at ``size`` x ``size``."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(name="pool1")(x)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


@pytest.fixture(scope="module")
def pair():
    a = gradcam.Explainer(_cnn(32, 0, name="small"), class_names=NAMES)
    b = gradcam.Explainer(_cnn(48, 1, name="larger"), class_names=NAMES, preprocess=lambda x: x / 255.0)
    return a, b


def test_each_model_explains_at_its_own_size_and_every_map_is_aligned_with_the_image(pair, rng):
    a, b = pair
    image = rng.integers(0, 256, size=(50, 70, 3), dtype=np.uint8)
    result = gradcam.compare_models([a, b], image, target="cherry")
    assert isinstance(result, ModelComparison) and result.names == ["small", "larger"]
    assert [p.input_size for p in result.panels] == [(32, 32), (48, 48)]
    for panel, explainer in zip(result.panels, (a, b)):
        assert panel.heatmap.shape == (50, 70)
        assert panel.explanation.model_input.shape == (*explainer.input_size, 3)
        # exactly what the model alone gives: same map, same probability, own top-1
        alone = explainer.explain(image, "cherry")
        np.testing.assert_allclose(panel.heatmap, alone.heatmap, atol=1e-6)
        assert panel.probability == pytest.approx(float(explainer.predict(image)[2]), abs=1e-6)
        assert panel.explanation.target_name == "cherry"
        assert panel.top1 == explainer.top_k(image, 1)[0]
    (pair_agreement,) = result.agreement
    assert (pair_agreement.first, pair_agreement.second) == ("small", "larger")
    assert pair_agreement.spearman is None or -1.0 <= pair_agreement.spearman <= 1.0
    assert result.reading == READING and "Spearman" in READING
    summary = result.summary()
    assert summary["target"] == "cherry" and [m["name"] for m in summary["models"]] == ["small", "larger"]
    assert summary["models"][1]["input_size"] == [48, 48] and summary["agreement"][0]["verdict"]


def test_no_target_means_each_models_own_top_prediction_and_the_result_says_so(pair, rng):
    image = rng.integers(0, 256, size=(40, 40, 3), dtype=np.uint8)
    result = gradcam.compare_models({"A": pair[0], "B": pair[1]}, image)
    assert result.names == ["A", "B"]
    for panel in result.panels:
        assert panel.explanation.target_index == panel.top1[0] and panel.agrees_with_target
        assert panel.probability == pytest.approx(panel.top1[2])
    assert any("own top prediction" in note for note in result.notes)


def test_groups_and_indices_resolve_on_every_model(pair, rng):
    image = rng.integers(0, 256, size=(40, 40, 3), dtype=np.uint8)
    result = gradcam.compare_models(list(pair), image, target=gradcam.Group(["apple", "banana"], name="fruit"))
    for panel in result.panels:
        assert panel.explanation.target_name == "fruit"
        assert panel.probability == pytest.approx(float(panel.explanation.probabilities[:2].sum()), abs=1e-6)
    by_index = gradcam.compare_models(list(pair), image, target=3)
    assert [p.explanation.target_name for p in by_index.panels] == ["date", "date"]


def test_shared_scale_divides_every_map_by_the_largest_peak(pair, rng):
    image = rng.integers(0, 256, size=(40, 40, 3), dtype=np.uint8)
    own = gradcam.compare_models(list(pair), image, target=0)
    shared = gradcam.compare_models(list(pair), image, target=0, shared_scale=True)
    top = max(p.explanation.peak for p in shared.panels)
    for panel, heat in zip(shared.panels, shared.heatmaps):
        np.testing.assert_allclose(heat, panel.heatmap * (panel.explanation.peak / top), atol=1e-6)
    assert max(float(h.max()) for h in shared.heatmaps) == pytest.approx(1.0, abs=1e-6)
    assert all(h is p.heatmap for h, p in zip(own.heatmaps, own.panels))


def test_classes_that_do_not_match_are_refused_with_the_model_named(pair, rng):
    image = rng.integers(0, 256, size=(40, 40, 3), dtype=np.uint8)
    other = gradcam.Explainer(_cnn(32, 2, classes=3, name="three"))
    with pytest.raises(TargetError, match=r"do not match.*three has 3"):
        gradcam.compare_models([pair[0], other], image)
    renamed = gradcam.Explainer(_cnn(32, 3, name="renamed"), class_names=["a", "b", "c", "d", "e"])
    how, why = classes_match([pair[0], renamed])
    assert how == "index" and "matched by index" in why
    with pytest.raises(UnknownClassError, match=r"renamed cannot explain 'cherry'.*leave this model out"):
        gradcam.compare_models([pair[0], renamed], image, target="cherry")
    result = gradcam.compare_models([pair[0], renamed], image, target=2)  # same count: by index
    assert result.matched_by == "index" and any("matched by index" in n for n in result.notes)
    with pytest.raises(TargetError, match="at least two models"):
        gradcam.compare_models([pair[0]], image)
    with pytest.raises(LayerError, match="larger"):
        gradcam.compare_models(list(pair), image, layer=[None, "no-such-layer"])
    with pytest.raises(TargetError, match="one per model"):
        gradcam.compare_models(list(pair), image, layer=["conv1"])


def test_rank_correlation_reads_as_documented(rng):
    a = rng.random((64, 80)).astype(np.float32)
    assert rank_correlation(a, a) == pytest.approx(1.0)
    assert rank_correlation(a, 1.0 - a) == pytest.approx(-1.0)
    grid = rng.random((56, 56)).astype(np.float32)  # at the grid's size: no averaging
    assert rank_correlation(grid, grid**3) == pytest.approx(1.0)  # ranks, not values
    assert rank_correlation(a, np.zeros_like(a)) is None
    with pytest.raises(ValueError, match="same image"):
        rank_correlation(a, a[:10])


@pytest.fixture(scope="module")
def lite_pair():
    import model_zoo

    ready = [i.name for i in model_zoo.list_models() if i.status in (model_zoo.READY, model_zoo.NEEDS_CONVERSION)]
    if "efficientnet-lite1" not in ready:
        pytest.skip("EfficientNet-Lite1's weights package is not installed")
    return (
        gradcam.Explainer(model_zoo.load_model("efficientnet-lite0")),
        gradcam.Explainer(model_zoo.load_model("efficientnet-lite1")),
    )


@pytest.mark.slow
def test_lite0_and_lite1_agree_on_the_espresso_and_cost_one_explanation_each(lite_pair):
    from pathlib import Path

    from gradcam.images import load_image

    image = load_image(Path(__file__).resolve().parents[2] / "sample_images" / "coffee.jpg")
    lite0, lite1 = lite_pair
    result = gradcam.compare_models([lite0, lite1], image, target="espresso")
    assert result.names == ["efficientnet-lite0", "efficientnet-lite1"]
    assert [p.input_size for p in result.panels] == [(224, 224), (240, 240)]
    assert all(p.heatmap.shape == image.shape[:2] for p in result.panels)
    assert all(p.top1[1] == "espresso" and p.probability > 0.3 for p in result.panels)
    (agreement,) = result.agreement
    assert agreement.spearman is not None and agreement.spearman > 0.4, agreement
    assert result.matched_by == "names"
    # an older ImageNet name resolves on both; a class neither has is refused naming the first
    with pytest.raises(UnknownClassError, match="efficientnet-lite0 cannot explain"):
        gradcam.compare_models([lite0, lite1], image, target="no such class")


def _run_cli(*args: str):
    import subprocess
    import sys
    from pathlib import Path

    return subprocess.run(
        [sys.executable, "-m", "gradcam", *args],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_cli_writes_one_side_by_side_png_per_image_and_comparison_json(lite_pair, tmp_path):
    import json

    from PIL import Image

    out = tmp_path / "cmp"
    broken = tmp_path / "broken.jpg"
    broken.write_text("not a picture")
    result = _run_cli(
        "compare-models",
        "sample_images/coffee.jpg",
        str(broken),
        "sample_images/cat_and_coffee.jpg",
        "--model",
        "efficientnet-lite0",
        "--model",
        "efficientnet-lite1",
        "--target",
        "espresso",
        "--out",
        str(out),
    )
    assert result.returncode == 1, result.stderr  # the broken image fails alone
    assert "broken.jpg" in result.stderr
    records = json.loads((out / "comparison.json").read_text())
    assert [r.get("picture") for r in records] == ["coffee_models.png", None, "cat_and_coffee_models.png"]
    first = records[0]
    assert [m["name"] for m in first["models"]] == ["efficientnet-lite0", "efficientnet-lite1"]
    assert [m["input_size"] for m in first["models"]] == [[224, 224], [240, 240]]
    assert all(m["target_name"] == "espresso" and m["top1"]["name"] == "espresso" for m in first["models"])
    (pair,) = first["agreement"]
    assert pair["spearman"] > 0.4 and "Spearman" in first["reading"]
    picture = Image.open(out / "coffee_models.png")
    assert picture.width > 2 * picture.height * 0.8  # two panels side by side


def test_cli_refuses_bad_inputs_before_any_work(tmp_path):
    one = _run_cli(
        "compare-models", "sample_images/coffee.jpg", "--model", "efficientnet-lite0", "--out", str(tmp_path)
    )
    assert one.returncode == 2 and "Give 2 to 4 models" in one.stderr
    twice = _run_cli(
        "compare-models",
        "sample_images/coffee.jpg",
        "--model",
        "efficientnet-lite0",
        "--model",
        "efficientnet-lite0",
        "--out",
        str(tmp_path),
    )
    assert twice.returncode == 2 and "listed twice" in twice.stderr
    assert not (tmp_path / "comparison.json").exists()
