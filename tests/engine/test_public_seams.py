"""The public seams that replaced private reach-ins: ``Explainer.job`` (a batch of work built without
``explainer._digests``/``_targets``), ``Explainer.image_key`` and ``resolve_target``, and the one
ranking of classes, ``targets.class_order``."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import gradcam
from gradcam import export
from gradcam.errors import TargetError
from gradcam.job import BatchJob
from gradcam.targets import class_order, top_classes


@pytest.fixture(scope="module")
def explainer() -> gradcam.Explainer:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, name="logits")(x)
    return gradcam.Explainer(keras.Model(inputs, outputs), class_names=["a", "b", "c"])


def test_a_job_from_the_explainer_computes_what_explain_does(explainer):
    image = np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    job = explainer.job([image], ["b"], layer="conv")
    assert isinstance(job, BatchJob)
    assert job.keys == [explainer.image_key(image)]
    assert job.activations().shape == (1, 16, 16, 4)
    np.testing.assert_allclose(job.weights()[0], [0.0, 1.0, 0.0])
    shown = explainer.explain(image, target="b", method="gradcam", layer="conv")
    np.testing.assert_allclose(
        explainer.probabilities_from_logits(job.logits())[0], shown.probabilities, rtol=1e-5, atol=1e-6
    )
    top = explainer.job([image])  # no targets: each image's top prediction
    assert top.weights()[0].argmax() == int(np.argmax(shown.probabilities))


def test_a_job_refuses_a_target_list_of_another_length(explainer):
    image = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(TargetError, match="One target per image is expected; got 2 for 1 images"):
        explainer.job([image], ["a", "b"])


def test_resolve_target_and_image_key_are_the_explainers_own(explainer):
    assert explainer.resolve_target(None).is_top
    np.testing.assert_array_equal(explainer.resolve_target(gradcam.Contrast("a", "c")).weights, [1.0, 0.0, -1.0])
    image = np.full((8, 8, 3), 7, np.uint8)
    assert explainer.image_key(image) == explainer.image_key(image.copy())
    assert explainer.image_key(image) != explainer.image_key(image + 1)


def test_one_class_ranking_everywhere():
    probabilities = np.array([0.1, 0.4, 0.4, 0.1], np.float32)
    assert class_order(probabilities) == [1, 2, 0, 3]  # ties: the lower index first, like np.argmax
    assert class_order(probabilities, 2) == [1, 2] and class_order(probabilities, 0) == []
    assert export.top_order is class_order
    assert [i for i, _, _ in top_classes(probabilities, list("abcd"), k=3)] == [1, 2, 0]
