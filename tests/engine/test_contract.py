"""One contract, every registered method: shape, range, finiteness, determinism, alignment."""

from __future__ import annotations

import numpy as np
import pytest

import gradcam
from tests.helpers.images import random_image

FAST_OPTIONS = {"scorecam": {"channels": 8}, "smoothgrad": {"samples": 4}}


@pytest.fixture(scope="module")
def explainer(small_cnn):
    return gradcam.Explainer(small_cnn)


@pytest.mark.parametrize("method", list(gradcam.METHODS))
def test_contract(explainer, method):
    rng = np.random.default_rng(7)
    image = random_image(rng, 45, 70)  # non-square, not the model's 32x32
    options = FAST_OPTIONS.get(method, {})
    first = explainer.explain(image, target=2, method=method, **options)
    again = explainer.explain(image, target=2, method=method, **options)

    assert first.heatmap.shape == (45, 70)
    assert first.heatmap.dtype == np.float32
    assert np.isfinite(first.heatmap).all()
    assert first.heatmap.min() >= 0.0 and first.heatmap.max() <= 1.0
    assert first.empty or first.heatmap.max() == pytest.approx(1.0)
    np.testing.assert_allclose(first.heatmap, again.heatmap, rtol=1e-5, atol=1e-6)
    assert first.method == method and first.target_index == 2
    assert first.probabilities.shape == (5,) and first.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    assert (first.layer is not None) == gradcam.METHODS[method].uses_layer
    assert first.model_input.shape == (32, 32, 3)


@pytest.mark.parametrize("method", [m for m, v in gradcam.METHODS.items() if v.uses_layer])
def test_flipped_image_gives_the_flipped_map(method):
    """Alignment: a model that is mirror-symmetric must give mirrored maps for a mirrored image,
    so any shift or transposition in resizing or upsampling would show."""
    import keras

    inputs = keras.Input((16, 16, 3))
    # A symmetric 3x3 kernel and 'same' padding at stride 1 commute with a horizontal flip.
    conv = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")
    x = conv(inputs)
    outputs = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    kernel, bias = conv.get_weights()
    conv.set_weights([(kernel + kernel[:, ::-1]) / 2, bias])
    explainer = gradcam.Explainer(model, preprocess=lambda x: x.astype(np.float32) / 255.0)
    rng = np.random.default_rng(3)
    image = random_image(rng, 40, 64)
    # Score-CAM and Ablation-CAM weights depend on the same symmetric quantities; Eigen-CAM too.
    options = FAST_OPTIONS.get(method, {})
    direct = explainer.explain(image, target=1, method=method, **options).heatmap
    mirrored = explainer.explain(np.ascontiguousarray(image[:, ::-1]), target=1, method=method, **options).heatmap
    np.testing.assert_allclose(direct, mirrored[:, ::-1], atol=2e-2)


def test_heatmap_is_aligned_with_a_non_square_image():
    """The map of an object must peak where the object is, in the original image's pixels."""
    import keras

    # The conv layer copies the red channel: the Grad-CAM map is the (resized) red channel itself.
    inputs = keras.Input((24, 24, 3))
    features = keras.layers.Conv2D(1, 1, use_bias=False, name="features")(inputs)
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(features))
    model = keras.Model(inputs, outputs)
    model.get_layer("features").set_weights([np.array([1.0, 0, 0]).reshape(1, 1, 3, 1)])
    model.layers[-1].set_weights([np.array([[1.0, -1.0]]), np.zeros(2)])
    explainer = gradcam.Explainer(model, preprocess=lambda x: x.astype(np.float32))
    image = np.zeros((90, 240, 3), np.uint8)
    image[60:80, 190:220, 0] = 255  # a red patch low on the right
    heatmap = explainer.explain(image, target=0).heatmap
    peak_y, peak_x = np.unravel_index(np.argmax(heatmap), heatmap.shape)
    assert 55 <= peak_y <= 85 and 185 <= peak_x <= 225
    inside = heatmap[60:80, 190:220].mean()
    assert inside > 5 * heatmap[:, :150].mean()


def test_all_negative_map_is_empty_not_nan():
    import keras

    inputs = keras.Input((8, 8, 3))
    features = keras.layers.Conv2D(2, 1, activation="relu", name="features")(inputs)
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(features))
    model = keras.Model(inputs, outputs)
    model.get_layer("features").set_weights([np.ones((1, 1, 3, 2)), np.ones(2)])
    model.layers[-1].set_weights([np.array([[1.0, -1.0], [1.0, -1.0]]), np.zeros(2)])
    explainer = gradcam.Explainer(model)
    image = np.full((10, 12, 3), 100, np.uint8)
    for method in ("gradcam", "gradcam++", "hirescam", "xgradcam", "layercam", "cam", "ablationcam"):
        result = explainer.explain(image, target=1, method=method)
        assert result.empty, method
        assert result.message and "No positive evidence" in result.message
        assert np.array_equal(result.heatmap, np.zeros((10, 12), np.float32))
    assert not explainer.explain(image, target=0).empty


def test_shared_scale_keeps_relative_strength(explainer):
    rng = np.random.default_rng(11)
    image = random_image(rng, 32, 32)
    results = explainer.explain_targets(image, [0, 1, 2, 3])
    scaled = gradcam.shared_scale(results)
    peaks = [r.peak for r in results]
    strongest = int(np.argmax(peaks))
    assert scaled[strongest].max() == pytest.approx(1.0)
    for r, s in zip(results, scaled):
        assert s.max() == pytest.approx(r.peak / max(peaks), rel=1e-5)


@pytest.mark.parametrize("colormap", gradcam.COLORMAPS)
def test_overlay_and_colorize(colormap):
    heatmap = np.linspace(0, 1, 20 * 30, dtype=np.float32).reshape(20, 30)
    image = np.full((20, 30, 3), 128, np.uint8)
    coloured = gradcam.colorize(heatmap, colormap)
    assert coloured.shape == (20, 30, 3) and coloured.dtype == np.uint8
    assert not np.array_equal(coloured[0, 0], coloured[-1, -1])
    assert np.array_equal(gradcam.overlay(image, heatmap, colormap, alpha=0.0), image)
    assert np.array_equal(gradcam.overlay(image, heatmap, colormap, alpha=1.0), coloured)


def test_unknown_colormap_lists_the_valid_ones():
    with pytest.raises(ValueError, match="turbo"):
        gradcam.colorize(np.zeros((2, 2)), "nope")
