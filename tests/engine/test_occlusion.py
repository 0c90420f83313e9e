"""Occlusion (Zeiler & Fergus 2014): the maths on a model whose logits are linear in the pixels,
the window positions, the options, and that a score's offset changes nothing. Its localisation on
a trained vision transformer is tested in tests/engine/test_token_models.py."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import gradcam
from gradcam import MethodError
from gradcam.methods.occlusion import window_positions


def linear_model(size=(12, 10), classes=3, seed=0) -> keras.Model:
    """logits = W . flatten(x) + b: the drop of covering a window is exact by hand."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((*size, 3))
    outputs = keras.layers.Dense(classes, name="logits")(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, outputs)


def by_hand(model, x: np.ndarray, target: int, window: int, stride: int) -> np.ndarray:
    """The mean score drop over the windows covering each pixel, with the image's mean colour
    as the cover, computed from the dense kernel directly."""
    kernel = model.get_layer("logits").kernel.numpy()[:, target].reshape(x.shape)
    height, width = x.shape[:2]
    baseline = x.mean(axis=(0, 1))
    total = np.zeros((height, width))
    count = np.zeros((height, width))
    for y in window_positions(height, window, stride):
        for x0 in window_positions(width, window, stride):
            part = (slice(y, y + window), slice(x0, x0 + window))
            drop = float((kernel[part] * (x[part] - baseline)).sum())
            total[part] += drop
            count[part] += 1
    return total / count


def test_window_positions_cover_every_pixel_and_stay_inside():
    assert window_positions(10, 4, 2) == [0, 2, 4, 6]
    assert window_positions(11, 4, 3) == [0, 3, 6, 7]  # the last pixels are covered too
    assert window_positions(5, 8, 2) == [0]  # a window larger than the image covers it once
    for size, window, stride in [(40, 5, 2), (224, 28, 14), (13, 5, 3), (7, 3, 3)]:
        covered = np.zeros(size, int)
        for start in window_positions(size, window, stride):
            assert 0 <= start <= size - window
            covered[start : start + window] += 1
        assert covered.min() >= 1


@pytest.mark.parametrize(("window", "stride"), [(3, 1), (4, 3), (5, 5)])
def test_the_map_is_the_mean_drop_over_the_covering_windows(window, stride):
    model = linear_model()
    explainer = gradcam.Explainer(model, preprocess=lambda b: b.astype(np.float32) / 255.0)
    image = np.random.default_rng(1).integers(0, 256, size=(12, 10, 3), dtype=np.uint8)
    x = explainer.prepare_batch([image])[0]
    for target in (0, 2):
        result = explainer.explain(image, target=target, method="occlusion", window=window, stride=stride)
        expected = by_hand(model, x, target, window, stride)
        assert result.layer is None and result.coarse.shape == (12, 10)
        positive = np.maximum(expected, 0)
        np.testing.assert_allclose(result.coarse, positive, rtol=1e-4, atol=1e-5 * positive.max())
        assert f"{min(window, 12)}x{min(window, 10)} square" in result.notes[0]


def test_a_constant_added_to_the_score_changes_nothing_and_targets_share_the_passes():
    model = linear_model()
    shifted = linear_model()
    dense = shifted.get_layer("logits")
    dense.bias.assign(dense.bias.numpy() + np.array([7.0, -3.0, 0.0], np.float32))
    image = np.random.default_rng(2).integers(0, 256, size=(12, 10, 3), dtype=np.uint8)
    plain, offset = gradcam.Explainer(model), gradcam.Explainer(shifted)
    for target in (0, 1, gradcam.Contrast(0, 1)):
        np.testing.assert_allclose(
            offset.explain(image, target=target, method="occlusion").heatmap,
            plain.explain(image, target=target, method="occlusion").heatmap,
            atol=1e-5,
        )
    both = plain.explain_targets(image, [0, 1], method="occlusion")
    for target, result in zip((0, 1), both):
        np.testing.assert_allclose(
            result.heatmap, plain.explain(image, target=target, method="occlusion").heatmap, atol=1e-6
        )


def test_defaults_and_bad_options():
    explainer = gradcam.Explainer(linear_model(size=(40, 24)))
    image = np.zeros((40, 24, 3), np.uint8)
    image[5:15, 3:9] = 200
    result = explainer.explain(image, target=1, method="occlusion")
    # an eighth of the shorter side (24 px): 3 px windows, 1 px apart
    assert "3x3 square of the image's mean colour at 836 positions, 1 pixels apart" in result.notes[0]
    for bad in ({"window": 0}, {"stride": -2}, {"batch_size": 0}):
        with pytest.raises(MethodError, match="at least 1"):
            explainer.explain(image, target=1, method="occlusion", **bad)
    with pytest.raises(MethodError, match=r"stride \(5\) is larger than its window \(3\).*never be covered"):
        explainer.explain(image, target=1, method="occlusion", window=3, stride=5)
    with pytest.raises(MethodError, match=r"Option window='big' is not usable: int expected"):
        explainer.explain(image, target=1, method="occlusion", window="big")
