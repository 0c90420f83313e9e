"""Which layer? rank_layers scores each stage's last layer by insertion minus deletion."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import gradcam
from gradcam.errors import LayerError, MetricError
from gradcam.metrics.layers import LayerScore, stage_layers, stage_of


def test_stage_names_follow_keras_applications():
    assert stage_of("block4a_expand_conv") == "block4"
    assert stage_of("conv3_block2_out") == "conv3"
    assert stage_of("block_13_expand") == "block_13"
    assert stage_of("stem_conv") == "stem" and stage_of("head_activation") == "head"
    assert stage_of("backbone/block2b_add") == "block2"


def test_lite0_stages_are_its_blocks(lite0):
    _, explainer = lite0
    stages = stage_layers(explainer)
    assert [s for s, _ in stages] == ["stem", *(f"block{i}" for i in range(1, 8)), "head"]
    paths = [p for _, p in stages]
    assert paths[-1] == explainer.default_layer == "head_activation"
    # each is the last layer of its stage, in the model's order
    order = explainer.layers
    assert paths == sorted(paths, key=order.index)
    for stage, path in stages:
        after = order[order.index(path) + 1 :]
        assert not any(stage_of(p) == stage for p in after)


def test_unnamed_layers_fall_back_to_resolution_stages(small_cnn):
    explainer = gradcam.Explainer(small_cnn)
    # conv1 and pool1 differ in resolution (32x32, 16x16); conv1 sits at the input's own size
    assert [p for _, p in stage_layers(explainer)][-1] == explainer.default_layer


def _toy():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((24, 24, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(name="pool1")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x))


def test_rank_layers_is_best_first_with_its_figures():
    explainer = gradcam.Explainer(_toy())
    image = np.random.default_rng(0).integers(0, 256, size=(24, 24, 3), dtype=np.uint8)
    seen = []
    rows = gradcam.rank_layers(explainer, image, steps=8, progress=lambda f, m: seen.append(f))
    # conv1 works at the input's own 24x24 resolution: left out, as preprocessing layers are
    assert sorted(r.layer for r in rows) == ["conv2", "pool1"]
    assert all(isinstance(r, LayerScore) for r in rows)
    assert [r.score for r in rows] == sorted((r.score for r in rows), reverse=True)
    for r in rows:
        figures = gradcam.evaluate(
            explainer, image, r.explanation, ["deletion", "insertion"], steps=8, baseline=False
        ).scores
        assert r.score == pytest.approx(figures["insertion_auc"] - figures["deletion_auc"])
        assert r.explanation.layer == r.layer and r.forward_images == 2 * 9 + 1
    assert seen[-1] == 1.0 and all(0 <= f <= 1 for f in seen)
    chosen = gradcam.rank_layers(explainer, image, 1, layers=["conv2", "conv1"], steps=4)
    assert sorted(r.layer for r in chosen) == ["conv1", "conv2"]
    assert rows[0].summary()["layer"] == rows[0].layer


def test_rank_layers_refuses_what_it_cannot_rank():
    explainer = gradcam.Explainer(_toy())
    image = np.zeros((24, 24, 3), np.uint8)
    with pytest.raises(MetricError, match="does not use a layer"):
        gradcam.rank_layers(explainer, image, method="saliency")
    with pytest.raises(LayerError):
        gradcam.rank_layers(explainer, image, layers=["nope"])
    with pytest.raises(MetricError, match="No layers given"):
        gradcam.rank_layers(explainer, image, layers=[])
