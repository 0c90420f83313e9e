"""Multi-layer fusion: ``explain(..., layer=[a, b])`` averages the layers' normalised maps."""

from __future__ import annotations

import numpy as np
import pytest

import gradcam
from tests.helpers.images import random_image


@pytest.fixture(scope="module")
def explainer(small_cnn):
    return gradcam.Explainer(small_cnn)


@pytest.fixture(scope="module")
def image():
    return random_image(np.random.default_rng(21), 45, 70)


@pytest.mark.parametrize("method", ["gradcam", "layercam", "eigengradcam"])
def test_fusion_of_one_layer_is_that_layer(explainer, image, method):
    alone = explainer.explain(image, target=1, method=method, layer="conv1")
    fused = explainer.explain(image, target=1, method=method, layer=["conv1"])
    np.testing.assert_array_equal(fused.heatmap, alone.heatmap)
    np.testing.assert_array_equal(fused.coarse, alone.coarse)
    assert fused.layer == "conv1" and fused.layers == ("conv1",) and alone.layers == ("conv1",)


@pytest.mark.parametrize("method", ["gradcam", "layercam"])
def test_fusion_of_two_layers_is_the_mean_of_their_normalised_maps(explainer, image, method):
    first = explainer.explain(image, target=2, method=method, layer="conv1")
    second = explainer.explain(image, target=2, method=method, layer="conv2")
    assert not first.empty and not second.empty
    # Each heatmap is the layer's map upsampled to the image and divided by its own peak.
    assert first.heatmap.max() == pytest.approx(1.0) and second.heatmap.max() == pytest.approx(1.0)
    mean = (first.heatmap + second.heatmap) / 2
    fused = explainer.explain(image, target=2, method=method, layer=["conv1", "conv2"])
    np.testing.assert_allclose(fused.heatmap, mean / mean.max(), rtol=1e-6, atol=1e-7)
    assert fused.peak == pytest.approx(float(mean.max()))
    assert fused.layer == "conv1 + conv2" and fused.layers == ("conv1", "conv2")
    assert fused.heatmap.shape == (45, 70) and fused.coarse.shape == (32, 32)  # the model input's grid
    assert any("Fused" in note for note in fused.notes)
    assert fused.summary()["layers"] == ["conv1", "conv2"]
    # The joined name reads back as the same fusion (sanity checks and links re-explain with it).
    again = explainer.explain(image, target=2, method=method, layer=fused.layer)
    np.testing.assert_array_equal(again.heatmap, fused.heatmap)


def test_a_layer_without_evidence_counts_as_zeros(explainer, image):
    # Grad-CAM of class 1 at conv1 is all negative for this image (empty); conv2's is not.
    empty = explainer.explain(image, target=1, layer="conv1")
    second = explainer.explain(image, target=1, layer="conv2")
    assert empty.empty and not second.empty
    fused = explainer.explain(image, target=1, layer=["conv1", "conv2"])
    np.testing.assert_allclose(fused.heatmap, second.heatmap, rtol=1e-6, atol=1e-7)  # (0 + m) / 2, renormalised
    assert fused.peak == pytest.approx(0.5) and not fused.empty
    assert any("conv1 has no positive evidence" in note for note in fused.notes)


def test_fusion_in_batches_and_targets(explainer, image):
    fused = explainer.explain(image, target=3, layer=["conv1", "conv2"])
    batch = explainer.explain_batch([image, image[::-1].copy()], targets=3, layer=["conv1", "conv2"])
    np.testing.assert_allclose(batch[0].heatmap, fused.heatmap, atol=1e-6)
    per_target = explainer.explain_targets(image, [3, 0], layer=["conv1", "conv2"])
    np.testing.assert_allclose(per_target[0].heatmap, fused.heatmap, atol=1e-6)
    assert [r.target_index for r in per_target] == [3, 0]


def test_fusion_reports_progress_over_all_layers(explainer, image):
    seen = []
    explainer.explain(
        image,
        method="scorecam",
        layer=["conv1", "conv2"],
        channels=4,
        progress=lambda fraction, message="": seen.append((fraction, message)),
    )
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and 0.0 <= min(fractions) and max(fractions) <= 1.0
    assert any(m.startswith("conv1") for _, m in seen) and any(m.startswith("conv2") for _, m in seen)


def test_bad_layer_lists_are_refused(explainer, image):
    with pytest.raises(gradcam.LayerError, match="conv1"):
        explainer.explain(image, layer=["conv1", "nope"])
    with pytest.raises(gradcam.LayerError, match="twice"):
        explainer.explain(image, layer=["conv1", "conv1"])
    with pytest.raises(TypeError, match="list of layer paths"):
        explainer.explain(image, layer=[])


def test_pixel_methods_ignore_the_layers(explainer, image):
    result = explainer.explain(image, method="saliency", layer=["conv1", "conv2"])
    assert result.layer is None and result.layers == ()
