"""Deep Feature Factorization: ``explainer.concepts(image, k, layer)`` and its NMF."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import gradcam
from gradcam.concepts import nmf
from tests.helpers.images import random_image


@pytest.fixture(scope="module")
def explainer(small_cnn):
    return gradcam.Explainer(small_cnn)


@pytest.fixture(scope="module")
def image():
    return random_image(np.random.default_rng(3), 45, 70)


def rectified_activations(explainer, image, layer):
    """The layer's activations of the image, rectified, computed here without the concepts code."""
    x = explainer.prepare_batch([explainer.model_input(image)])
    activations, _ = explainer.layer_functions(layer).forward(x)
    return np.maximum(activations[0].astype(np.float64), 0.0)


class TestNMF:
    def test_recovers_a_separable_matrix_exactly(self):
        # V = W0 H0 with an identity block in both factors: its NMF is unique up to the order and
        # scale of the components, so the factors themselves must come back.
        rng = np.random.default_rng(0)
        w0, h0 = rng.random((30, 3)), rng.random((3, 20))
        w0[:3], h0[:, :3] = np.eye(3), np.eye(3)
        v = w0 @ h0
        w, h, iterations = nmf(v, 3, seed=1, max_iter=2000, tol=1e-12)
        assert w.shape == (30, 3) and h.shape == (3, 20) and (w >= 0).all() and (h >= 0).all()
        assert np.linalg.norm(v - w @ h) / np.linalg.norm(v) < 1e-6
        assert 0 < iterations < 2000
        order = [int(np.argmax(w[j])) for j in range(3)]  # row j of W0 is component j alone
        assert sorted(order) == [0, 1, 2]
        for j, i in enumerate(order):
            np.testing.assert_allclose(w[:, i] / w[j, i], w0[:, j], atol=1e-4)

    def test_is_deterministic_for_a_seed(self):
        v = np.random.default_rng(2).random((25, 12))
        first, again = nmf(v, 4, seed=5), nmf(v, 4, seed=5)
        np.testing.assert_array_equal(first[0], again[0])
        np.testing.assert_array_equal(first[1], again[1])

    def test_a_zero_matrix_gives_zero_factors(self):
        w, h, _ = nmf(np.zeros((6, 5)), 2)
        assert not w.any() and not h.any()


class TestConcepts:
    def test_concept_maps_times_embeddings_are_the_reconstruction(self, explainer, image):
        concepts = explainer.concepts(image, k=3, layer="conv2")
        v = rectified_activations(explainer, image, "conv2")  # (16, 16, 16)
        rebuilt = sum(concepts.coarse[i].astype(np.float64)[..., None] * concepts.embeddings[i] for i in range(3))
        np.testing.assert_allclose(concepts.reconstruction(), rebuilt, rtol=1e-5, atol=1e-6)
        error = np.linalg.norm(v - rebuilt) / np.linalg.norm(v)
        assert concepts.reconstruction_error == pytest.approx(error, rel=1e-4)
        assert concepts.reconstruction_error < 0.6  # 3 concepts explain much of 16 channels
        # More concepts never fit worse (same seed, HALS run to convergence).
        assert explainer.concepts(image, k=8, layer="conv2").reconstruction_error < concepts.reconstruction_error

    def test_shapes_ranges_and_record(self, explainer, image):
        concepts = explainer.concepts(image, k=3)
        assert concepts.layer == "conv2" and concepts.k == 3
        assert concepts.maps.shape == (3, 45, 70) and concepts.maps.dtype == np.float32
        assert concepts.coarse.shape == (3, 16, 16) and concepts.embeddings.shape == (3, 16)
        assert concepts.maps.min() >= 0.0 and concepts.maps.max() <= 1.0
        for i in range(3):
            assert concepts.coarse[i].max() == pytest.approx(1.0)  # W's columns carry no scale
            assert concepts.maps[i].max() == pytest.approx(1.0)
        assert len(concepts.top_classes) == 3 and all(len(c) == 5 for c in concepts.top_classes)
        summary = concepts.summary()
        assert summary["k"] == 3 and len(summary["concepts"]) == 3 and summary["layer"] == "conv2"
        assert concepts.labels(2)[0].startswith("concept 1: class ")

    def test_classes_are_the_dense_head_on_each_embedding(self, explainer, small_cnn, image):
        concepts = explainer.concepts(image, k=3)
        kernel, bias = small_cnn.get_layer("predictions").get_weights()
        logits = concepts.embeddings @ kernel + bias
        np.testing.assert_allclose(concepts.logits, logits, rtol=1e-5, atol=1e-5)
        probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        for i, classes in enumerate(concepts.top_classes):
            assert classes[0][0] == int(np.argmax(logits[i]))
            assert classes[0][2] == pytest.approx(float(probabilities[i].max()), rel=1e-5)

    def test_other_heads_run_on_the_tiled_embedding(self, explainer, image):
        # After conv1 come pooling, conv2, GAP and the dense layer: the head itself is run on each
        # embedding repeated at every location of conv1's (32, 32) grid.
        concepts = explainer.concepts(image, k=2, layer="conv1")
        tiled = np.broadcast_to(concepts.embeddings[:, None, None, :], (2, 32, 32, 8)).astype(np.float32)
        expected = explainer.layer_functions("conv1").head_logits(np.ascontiguousarray(tiled))
        np.testing.assert_allclose(concepts.logits, expected, rtol=1e-5, atol=1e-6)
        assert any("repeated at every location" in note for note in concepts.notes)

    def test_deterministic_with_the_seed(self, explainer, image):
        first = explainer.concepts(image, k=3, seed=4)
        explainer.clear_cache()
        again = explainer.concepts(image, k=3, seed=4)
        np.testing.assert_array_equal(first.maps, again.maps)
        np.testing.assert_array_equal(first.embeddings, again.embeddings)
        assert first.top_classes == again.top_classes

    @pytest.mark.parametrize("k", [0, -2, 17, 2.5, True, "3"])
    def test_bad_k_is_refused_clearly(self, explainer, image, k):
        # conv2 has 16 channels at 16 x 16 locations: k must be from 1 to 16.
        with pytest.raises(gradcam.MethodError, match=r"from 1 to 16|whole number"):
            explainer.concepts(image, k=k, layer="conv2")

    def test_the_largest_k_works(self, explainer, image):
        assert explainer.concepts(image, k=16, layer="conv2").k == 16

    def test_a_dark_layer_gives_empty_concepts(self):
        inputs = keras.Input((8, 8, 3))
        features = keras.layers.Conv2D(2, 1, activation="relu", name="features")(inputs)
        model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(features)))
        model.get_layer("features").set_weights([-np.ones((1, 1, 3, 2)), np.zeros(2)])
        concepts = gradcam.Explainer(model).concepts(np.full((8, 8, 3), 50, np.uint8), k=2)
        assert not concepts.maps.any() and concepts.reconstruction_error == 0.0
        assert any("no positive activation" in note for note in concepts.notes)


@pytest.mark.slow
def test_two_objects_land_in_different_concepts():
    """A toy CNN trained to spot squares and discs (tests/engine/test_localization.py's task): with two
    concepts at its last layer, the square and the disc of one image are different concepts, and
    each concept votes for its own object's class."""
    from tests.helpers.toy_models import DISC, SQUARE, dataset, draw, noise, toy_cnn

    keras.utils.set_random_seed(42)
    images, labels, _ = dataset(2000, np.random.default_rng(42))
    model = toy_cnn(2, "sigmoid")
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="binary_crossentropy")
    model.fit(images.astype(np.float32), labels, epochs=12, batch_size=64, verbose=0)
    explainer = gradcam.Explainer(model, class_names=["square", "disc"])

    rng = np.random.default_rng(99)
    separated = voted = 0
    for trial in range(10):
        image = noise(rng)
        left, right = (SQUARE, DISC) if trial % 2 == 0 else (DISC, SQUARE)
        boxes = {left: draw(left, rng, image, center=(20, 10)), right: draw(right, rng, image, center=(20, 30))}
        concepts = explainer.concepts(image, k=2)

        def strongest(box, maps=concepts.maps):
            y0, x0, y1, x1 = box
            return int(np.argmax(maps[:, y0:y1, x0:x1].mean(axis=(1, 2))))

        square, disc = strongest(boxes[SQUARE]), strongest(boxes[DISC])
        separated += square != disc
        voted += concepts.top_classes[square][0][1] == "square" and concepts.top_classes[disc][0][1] == "disc"
    assert separated >= 9, f"the square and the disc fell in different concepts in only {separated} of 10 images"
    assert voted >= 9, f"each object's concept voted for its own class in only {voted} of 10 images"


def test_concepts_overlay_colours_each_pixel_by_its_strongest_concept():
    from gradcam.render import CONCEPT_COLOURS, concepts_overlay

    image = np.full((10, 20, 3), 100, np.uint8)
    maps = np.zeros((2, 10, 20), np.float32)
    maps[0, :, :10] = 1.0  # concept 1 on the left, fully
    maps[1, :, 10:15] = 1.0  # concept 2 in the middle; nothing on the right
    picture = concepts_overlay(image, maps, alpha=1.0)
    assert picture.shape == (10, 20, 3)
    assert (picture[:, :10] == CONCEPT_COLOURS[0]).all() and (picture[:, 10:15] == CONCEPT_COLOURS[1]).all()
    assert (picture[:, 15:] == 100).all()  # no concept: the photo unchanged
    with_legend = concepts_overlay(image, maps, ["concept 1: a", "concept 2: b"])
    assert with_legend.shape[0] > 10 and with_legend.shape[1] == 20
    with pytest.raises(gradcam.errors.RenderError):
        concepts_overlay(image, maps[0])
