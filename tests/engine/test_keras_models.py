"""Every kind of Keras classifier, the caller's model left untouched, threads, errors, caching."""

from __future__ import annotations

import threading

import keras
import numpy as np
import pytest

import gradcam
from gradcam.errors import (
    LayerError,
    MethodError,
    NoSpatialLayerError,
    TargetError,
    UnknownClassError,
    UnsupportedModelError,
)
from tests.helpers.images import random_image


def tiny_backbone(name="backbone"):
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_a")(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv_b")(x)
    return keras.Model(inputs, x, name=name)


def test_sequential_with_input(rng):
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(4, 3, activation="relu", name="c1"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3),
        ]
    )
    explainer = gradcam.Explainer(model)
    assert explainer.layers == ["c1"]
    assert explainer.explain(random_image(rng, 40, 40)).heatmap.shape == (40, 40)


def test_sequential_without_input_needs_and_uses_input_size(rng):
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.layers.Conv2D(4, 3, activation="relu", name="c1"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    with pytest.raises(UnsupportedModelError, match="input_size"):
        gradcam.Explainer(model)
    explainer = gradcam.Explainer(model, input_size=(28, 28))
    result = explainer.explain(random_image(rng, 50, 30), target=1)
    assert result.heatmap.shape == (50, 30) and result.model_input.shape == (28, 28, 3)
    probabilities = model(result.model_input[None].astype(np.float32)).numpy()[0]
    np.testing.assert_allclose(result.probabilities, probabilities, rtol=1e-4, atol=1e-6)


def test_nested_backbone_inside_sequential(rng):
    keras.utils.set_random_seed(2)
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            tiny_backbone(),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )
    explainer = gradcam.Explainer(model)
    assert explainer.layers == ["backbone/conv_a", "backbone/conv_b"]
    assert gradcam.candidate_layers(model) == explainer.layers
    assert explainer.default_layer == "backbone/conv_b"
    image = random_image(rng, 32, 32)
    by_path = explainer.explain(image, target=0, layer="backbone/conv_a")
    by_name = explainer.explain(image, target=0, layer="conv_a")
    np.testing.assert_allclose(by_path.heatmap, by_name.heatmap)
    assert by_path.layer == "backbone/conv_a"


def test_nested_backbone_inside_functional(rng):
    keras.utils.set_random_seed(3)
    inputs = keras.Input((32, 32, 3))
    features = tiny_backbone("trunk")(inputs)
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(features))
    explainer = gradcam.Explainer(keras.Model(inputs, outputs))
    assert explainer.default_layer == "trunk/conv_b"
    assert not explainer.explain(random_image(rng, 32, 32), target=0).empty or True


def test_softmax_output_is_explained_through_logits_and_model_unchanged(small_cnn, rng):
    image = random_image(rng, 32, 32)
    x = image[None].astype(np.float32)
    weights_before = [w.copy() for w in small_cnn.get_weights()]
    config_before = small_cnn.get_config()
    prediction_before = small_cnn(x).numpy()

    explainer = gradcam.Explainer(small_cnn)
    assert explainer.output_activation == "softmax"
    for method in gradcam.METHODS:
        explainer.explain(image, method=method, **({"channels": 4} if method == "scorecam" else {}))

    # Gradients of the logits: Grad-CAM weights must equal the dense kernel column / area.
    result = explainer.explain(image, target=3, method="cam")
    assert not result.empty
    assert small_cnn.get_layer("predictions").activation.__name__ == "softmax"
    assert small_cnn.get_config() == config_before
    for before, after in zip(weights_before, small_cnn.get_weights()):
        np.testing.assert_array_equal(before, after)
    np.testing.assert_allclose(small_cnn(x).numpy(), prediction_before, rtol=1e-6)
    np.testing.assert_allclose(result.probabilities, prediction_before[0], rtol=1e-4, atol=1e-6)


def test_saturated_softmax_still_gives_a_map(rng):
    """Gradients of a saturated probability vanish; those of the logit do not."""
    inputs = keras.Input((8, 8, 3))
    features = keras.layers.Conv2D(2, 1, activation="relu", name="features")(inputs)
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(features))
    model = keras.Model(inputs, outputs)
    model.get_layer("features").set_weights([np.ones((1, 1, 3, 2)), np.zeros(2)])
    model.layers[-1].set_weights([np.array([[50.0, -50.0], [50.0, -50.0]]), np.zeros(2)])
    image = np.full((8, 8, 3), 200, np.uint8)
    image[2:4, 2:4] = 255
    result = gradcam.Explainer(model).explain(image, target=0)
    assert result.target_probability == pytest.approx(1.0)
    assert not result.empty and result.heatmap.argmax() == np.ravel_multi_index((2, 2), (8, 8))


def test_model_without_spatial_layer(rng):
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(3)])
    explainer = gradcam.Explainer(model)
    with pytest.raises(NoSpatialLayerError, match="saliency"):
        explainer.explain(random_image(rng, 8, 8))
    assert explainer.explain(random_image(rng, 8, 8), method="saliency").heatmap.shape == (8, 8)


def test_dynamic_input_size_needs_input_size(rng):
    inputs = keras.Input((None, None, 3))
    features = keras.layers.Conv2D(4, 3, activation="relu", name="c1")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(features)))
    with pytest.raises(UnsupportedModelError, match="input_size"):
        gradcam.Explainer(model)
    result = gradcam.Explainer(model, input_size=(48, 64)).explain(random_image(rng, 30, 90))
    assert result.model_input.shape == (48, 64, 3) and result.heatmap.shape == (30, 90)


def test_two_inputs_and_non_2d_outputs_are_refused():
    a, b = keras.Input((8, 8, 3)), keras.Input((8, 8, 3))
    two = keras.Model([a, b], keras.layers.Dense(2)(keras.layers.Flatten()(keras.layers.Add()([a, b]))))
    with pytest.raises(UnsupportedModelError, match="2 inputs"):
        gradcam.Explainer(two)
    c = keras.Input((8, 8, 3))
    dense_map = keras.Model(c, keras.layers.Conv2D(2, 1)(c))
    with pytest.raises(UnsupportedModelError, match=r"\(batch, classes\)"):
        gradcam.Explainer(dense_map)


class TestErrors:
    @pytest.fixture(scope="class")
    @classmethod
    def named(cls, small_cnn):
        return gradcam.Explainer(small_cnn, class_names=["espresso", "cup", "wine bottle", "slot machine", "cat"])

    def test_class_names_are_case_insensitive(self, named, rng):
        assert named.explain(random_image(rng, 32, 32), target="Wine Bottle").target_index == 2

    def test_unknown_name_suggests_the_closest(self, named, rng):
        with pytest.raises(UnknownClassError, match="'espresso'"):
            named.explain(random_image(rng, 32, 32), target="espreso")

    def test_index_out_of_range(self, named, rng):
        with pytest.raises(UnknownClassError, match="0 to 4"):
            named.explain(random_image(rng, 32, 32), target=5)

    def test_wrong_class_name_count(self, small_cnn):
        with pytest.raises(UnknownClassError, match="5 outputs"):
            gradcam.Explainer(small_cnn, class_names=["a", "b"])

    def test_unknown_layer_lists_valid_ones(self, named, rng):
        with pytest.raises(LayerError, match="conv1, pool1, conv2"):
            named.explain(random_image(rng, 32, 32), layer="conv9")

    def test_non_spatial_layer_lists_valid_ones(self, named, rng):
        with pytest.raises(LayerError, match="not a spatial.*conv2"):
            named.explain(random_image(rng, 32, 32), layer="gap")

    def test_unknown_method_and_option(self, named, rng):
        with pytest.raises(MethodError, match="gradcam\\+\\+"):
            named.explain(random_image(rng, 32, 32), method="gradcam3")
        with pytest.raises(MethodError, match="channels"):
            named.explain(random_image(rng, 32, 32), method="scorecam", chanels=3)

    def test_cam_on_a_layer_without_gap_head(self, named, rng):
        with pytest.raises(MethodError, match="global average pooling"):
            named.explain(random_image(rng, 32, 32), method="cam", layer="conv1")

    def test_contrast_of_a_class_with_itself(self, named, rng):
        with pytest.raises(TargetError, match="two different classes"):
            named.explain(random_image(rng, 32, 32), target=gradcam.Contrast("cup", "Cup"))

    def test_bad_image(self, named):
        with pytest.raises(gradcam.ImageError, match=r"\(H, W, 3\)"):
            named.explain(np.zeros((4, 4, 3, 2), np.uint8))


class TestBatches:
    def test_one_target_per_image_or_one_for_all(self, small_cnn, rng):
        explainer = gradcam.Explainer(small_cnn)
        images = [random_image(rng, 32 + i, 30) for i in range(5)]
        per_image = explainer.explain_batch(images, [0, 1, 2, 3, 4], batch_size=2)
        assert [r.target_index for r in per_image] == [0, 1, 2, 3, 4]
        assert [r.heatmap.shape for r in per_image] == [(32 + i, 30) for i in range(5)]
        broadcast = explainer.explain_batch(images, 3)
        assert [r.target_index for r in broadcast] == [3] * 5
        for image, result in zip(images, broadcast):
            np.testing.assert_allclose(result.heatmap, explainer.explain(image, 3).heatmap, atol=1e-5)
        tops = explainer.explain_batch(images)
        assert [r.target_index for r in tops] == [int(np.argmax(explainer.predict(i))) for i in images]

    def test_mismatched_target_count_is_refused(self, small_cnn, rng):
        explainer = gradcam.Explainer(small_cnn)
        with pytest.raises(TargetError, match="2 targets were given for 3 images"):
            explainer.explain_batch([random_image(rng, 32, 32)] * 3, [0, 1])


def test_new_class_on_the_same_image_does_not_rerun_the_network(small_cnn, rng):
    explainer = gradcam.Explainer(small_cnn)
    image = random_image(rng, 60, 40)
    first = explainer.explain(image, target=0)
    functions = explainer.layer_functions(None)
    calls = []
    original, original_linear = functions.forward, functions.forward_linear
    functions.forward = lambda x: calls.append(len(x)) or original(x)
    functions.forward_linear = lambda x, *rest: calls.append(len(x)) or original_linear(x, *rest)
    try:
        second = explainer.explain(image, target=1)
        several = explainer.explain_targets(image, [2, 3, 4])
        assert calls == []
        explainer.explain(random_image(rng, 60, 40), target=1)
        assert calls == [1]
        # Several classes of a new image: one pass of that one image, then the head for all.
        explainer.explain_targets(random_image(rng, 60, 40), [0, 1, 2, 3])
        assert calls == [1, 1]
    finally:
        functions.forward, functions.forward_linear = original, original_linear
    assert first.target_index == 0 and second.target_index == 1
    assert [r.target_index for r in several] == [2, 3, 4]


def test_cache_is_bounded(small_cnn, rng, monkeypatch):
    from gradcam import limits

    monkeypatch.setattr(limits, "ACTIVATION_CACHE_ENTRIES", 3)
    explainer = gradcam.Explainer(small_cnn)
    for _ in range(10):
        explainer.explain(random_image(rng, 32, 32))
    assert len(explainer.cache) == 3


def test_images_differing_in_a_few_pixels_get_their_own_results(small_cnn, rng):
    explainer = gradcam.Explainer(small_cnn)
    image = random_image(rng, 32, 32)
    other = image.copy()
    other[5:8, 5:8] = 255 - other[5:8, 5:8]
    first = explainer.explain_targets(image, list(range(5)), method="hirescam")
    second = explainer.explain_targets(other, list(range(5)), method="hirescam")
    # The 3x3 change reaches a few cells of the 16x16 map; some class must see it.
    assert any(not np.allclose(a.coarse, b.coarse) for a, b in zip(first, second))
    fresh = gradcam.Explainer(small_cnn).explain_targets(other, list(range(5)), method="hirescam")
    for a, b in zip(fresh, second):
        np.testing.assert_allclose(a.heatmap, b.heatmap, atol=1e-6)


def test_eight_threads_get_the_sequential_results(small_cnn):
    explainer = gradcam.Explainer(small_cnn)
    rng = np.random.default_rng(5)
    jobs = [
        (random_image(rng, 30 + i, 40), i % 5, ("gradcam", "gradcam++", "scorecam", "saliency")[i % 4])
        for i in range(16)
    ]
    options = {"scorecam": {"channels": 4}}

    def run(job):
        image, target, method = job
        return explainer.explain(image, target, method=method, **options.get(method, {}))

    expected = [run(job) for job in jobs]
    explainer.clear_cache()
    results: list = [None] * len(jobs)
    barrier = threading.Barrier(8)

    def worker(k):
        barrier.wait()
        for i in range(k, len(jobs), 8):
            results[i] = run(jobs[i])

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for want, got in zip(expected, results):
        np.testing.assert_allclose(got.heatmap, want.heatmap, atol=1e-5)
        np.testing.assert_allclose(got.probabilities, want.probabilities, atol=1e-6)
        assert got.target_index == want.target_index


def test_aug_smooth_averages_a_map_of_the_same_shape(small_cnn, rng):
    explainer = gradcam.Explainer(small_cnn)
    image = random_image(rng, 50, 32)
    plain = explainer.explain(image, target=1)
    smooth = explainer.explain(image, target=1, aug_smooth=True)
    assert smooth.heatmap.shape == plain.heatmap.shape and smooth.notes
    assert not np.allclose(smooth.heatmap, plain.heatmap)


def test_linear_head_shortcut_equals_tensorflow_gradients(small_cnn, rng):
    """The closed-form gradient of a GAP + dense head must match TensorFlow's own."""
    explainer = gradcam.Explainer(small_cnn)
    functions = explainer.layer_functions("conv2")
    assert functions.linear_head() is not None
    image = random_image(rng, 36, 44)
    fast = [explainer.explain(image, t, method=m) for t in (0, 3) for m in ("gradcam++", "hirescam", "layercam")]
    dense, functions._dense, functions.has_linear_head = functions._dense, None, False
    try:
        explainer.clear_cache()
        slow = [explainer.explain(image, t, method=m) for t in (0, 3) for m in ("gradcam++", "hirescam", "layercam")]
    finally:
        functions._dense, functions.has_linear_head = dense, True
    for a, b in zip(fast, slow):
        np.testing.assert_allclose(a.coarse, b.coarse, rtol=1e-4, atol=1e-6)
