"""Class groups as targets (``gradcam.Group``): the score is the log-sum-exp of the members' logits.

A one-class group is that class; a group's probability is the sum of its members'; the contrast of
two groups explains exactly log P(A) - log P(B). Checked against hand-written TensorFlow on
fixed-weight models, on the real EfficientNet-Lite0 with the WordNet and curated groups, and on a
trained toy model whose group map must land on the group's objects.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import gradcam
from gradcam import Contrast, Group
from gradcam.errors import TargetError

CLASSES = ["a", "b", "c", "d", "e"]


def skip_connection_model() -> keras.Model:
    """A softmax CNN whose last conv layer is skipped over (no head of its own) and whose head is
    not GAP + dense: the group's weights are then chosen inside the compiled forward pass."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv1")(inputs)
    y = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.Add()([x, y])
    x = keras.layers.Flatten()(keras.layers.MaxPooling2D(4)(x))
    outputs = keras.layers.Dense(5, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def gap_model(small_cnn):
    return small_cnn


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(5)
    return [rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8) for _ in range(3)]


def hand_gradcam(model: keras.Model, layer: str, x: np.ndarray, plus, minus) -> np.ndarray:
    """Grad-CAM (mean gradient per channel, ReLU of the weighted sum) of the group score
    lse(z[plus]) - lse(z[minus]) by tf.GradientTape, with the logits z computed by hand from the
    last dense layer's input (its softmax left out)."""
    dense = model.layers[-1]
    features = keras.Model(model.inputs, [model.get_layer(layer).output, dense.input])
    with tf.GradientTape() as tape:
        activations, pooled = features(tf.constant(x[None], tf.float32))
        logits = tf.matmul(pooled, dense.kernel) + dense.bias
        score = tf.reduce_logsumexp(tf.gather(logits, plus, axis=1))
        if minus:
            score -= tf.reduce_logsumexp(tf.gather(logits, minus, axis=1))
    gradients = tape.gradient(score, activations).numpy()[0]
    weights = gradients.mean(axis=(0, 1))
    return np.maximum((activations.numpy()[0] * weights).sum(axis=-1), 0.0)


def test_the_log_sum_exp_of_two_groups_is_their_log_probability_ratio():
    logits = np.array([1.0, -2.0, 0.5, 3.0, 0.0])
    p = np.exp(logits) / np.exp(logits).sum()
    from gradcam.targets import group_scores

    score = group_scores(logits[None], np.array([1, 0, 1, -1, -1]))[0]
    assert score == pytest.approx(np.log(p[[0, 2]].sum()) - np.log(p[[3, 4]].sum()), abs=1e-12)


@pytest.mark.parametrize("method", sorted(gradcam.METHODS))
def test_a_one_class_group_has_that_classs_map_with_every_method(gap_model, images, method):
    explainer = gradcam.Explainer(gap_model, class_names=CLASSES, preprocess=lambda b: b.astype(np.float32))
    options = {"samples": 4} if method == "smoothgrad" else {}
    group = explainer.explain(images[0], Group(["c"]), method=method, **options)  # a new image: fused pass
    single = explainer.explain(images[0], "c", method=method, **options)
    np.testing.assert_allclose(group.heatmap, single.heatmap, atol=2e-5)
    assert group.target_index == single.target_index == 2 and group.target_members == (2,)
    assert group.target_probability == pytest.approx(single.target_probability, abs=1e-7)


def test_a_groups_probability_is_the_sum_of_its_members(gap_model, images):
    explainer = gradcam.Explainer(gap_model, class_names=CLASSES)
    result = explainer.explain(images[1], Group(["a", "d", 4], name="three"))
    probabilities = explainer.predict(images[1])
    assert result.target_probability == pytest.approx(float(probabilities[[0, 3, 4]].sum()), abs=1e-6)
    assert result.target_name == "three" and result.target_members == (0, 3, 4)
    assert result.target_index == max((0, 3, 4), key=lambda i: probabilities[i])  # its most probable member
    assert result.summary()["target_members"] == [0, 3, 4]
    assert explainer.explain(images[1], Group([1, 2])).label == "b + c"  # unnamed: named by its members


@pytest.mark.parametrize("model_kind", ["gap_dense", "skip_connection"])
def test_the_contrast_of_two_groups_is_the_log_ratio_of_their_probabilities(gap_model, images, model_kind):
    model, layer = (gap_model, "conv2") if model_kind == "gap_dense" else (skip_connection_model(), "conv2")
    size = model.input_shape[1]
    x = images[2][:size, :size]
    explainer = gradcam.Explainer(model, class_names=CLASSES, preprocess=lambda b: b.astype(np.float32))
    expected = hand_gradcam(model, layer, x.astype(np.float32), [0, 2], [1, 3, 4])
    # First on a new image (the weights chosen inside the compiled pass), then from the cache.
    for _ in range(2):
        result = explainer.explain(x, Contrast(Group([0, 2]), Group([1, 3, 4])), layer=layer)
        np.testing.assert_allclose(result.coarse, expected, rtol=1e-4, atol=1e-6 * max(expected.max(), 1e-6))
    one_group = explainer.explain(x, Group([0, 2]), layer=layer)
    np.testing.assert_allclose(
        one_group.coarse, hand_gradcam(model, layer, x.astype(np.float32), [0, 2], []), rtol=1e-4, atol=1e-7
    )
    # A class against a group: the class's log-probability minus the group's.
    mixed = explainer.explain(x, Contrast("a", Group([1, 3])), layer=layer)
    np.testing.assert_allclose(
        mixed.coarse, hand_gradcam(model, layer, x.astype(np.float32), [0], [1, 3]), rtol=1e-4, atol=1e-7
    )
    assert mixed.label == "a rather than b + d" and mixed.contrast_members == (1, 3)


def test_groups_are_explained_together_with_classes_in_one_call(gap_model, images):
    explainer = gradcam.Explainer(gap_model, class_names=CLASSES)
    targets = ["a", Group(["a", "b"]), Contrast(Group(["c"]), Group(["d", "e"])), None]
    together = explainer.explain_targets(images[0], targets)
    explainer.clear_cache()
    alone = [explainer.explain(images[0], target) for target in targets]
    for joint, single in zip(together, alone):
        np.testing.assert_allclose(joint.heatmap, single.heatmap, atol=1e-5)
        assert joint.label == single.label


def test_group_mistakes_are_refused_with_what_to_do(gap_model, images):
    explainer = gradcam.Explainer(gap_model, class_names=CLASSES)
    with pytest.raises(TargetError, match="at least one class"):
        explainer.explain(images[0], Group([]))
    with pytest.raises(TargetError, match="no class in common.*'b'"):
        explainer.explain(images[0], Contrast(Group(["a", "b"]), Group(["b", "c"])))
    with pytest.raises(TargetError, match="not the ImageNet-1k classes.*List the members"):
        explainer.explain(images[0], Group("dog"))
    with pytest.raises(gradcam.UnknownClassError, match="Closest names: 'a'"):
        explainer.explain(images[0], Group(["a", "aa"]))


def test_a_multi_label_sigmoid_model_refuses_groups(images):
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, name="conv")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="sigmoid")(x))
    explainer = gradcam.Explainer(model)
    assert explainer.output_activation == "sigmoid"
    with pytest.raises(TargetError, match="independent sigmoids.*one by one"):
        explainer.explain(images[0], Group([0, 1]))
    explainer.explain(images[0], 0)  # a single class still works


class TestImageNetGroups:
    """Named WordNet and curated groups on the real EfficientNet-Lite0."""

    @pytest.fixture(scope="class")
    @classmethod
    def cat(cls):
        from gradcam.images import decode_image

        return decode_image(Path(__file__).resolve().parents[2] / "sample_images" / "chelsea.jpg").pixels

    def test_a_wordnet_group_adds_its_members_probabilities(self, lite0, cat):
        from model_zoo.imagenet_hierarchy import group_members

        _, explainer = lite0
        result = explainer.explain(cat, Group("domestic cat"))
        probabilities = explainer.predict(cat)
        members = group_members("domestic cat")
        assert result.target_members == tuple(members) == (281, 282, 283, 284, 285)
        assert result.target_probability == pytest.approx(float(probabilities[members].sum()), abs=1e-6)
        assert result.target_probability > max(probabilities[members])  # the group is surer than any breed
        assert result.label == "domestic cat" and not result.empty

    def test_curated_concepts_contrast_and_synonyms_resolve(self, lite0, cat):
        _, explainer = lite0
        pair = explainer.explain(cat, Contrast(Group("alcohol"), Group("gambling")), method="gradcam++")
        assert pair.label == "alcohol rather than gambling" and 800 in pair.contrast_members
        assert explainer.class_index("one-armed bandit") == 800  # ImageNet synonyms find the class
        assert explainer.class_index("n04243546") == 800  # and its WordNet id

    def test_an_unknown_group_suggests_the_closest(self, lite0, cat):
        _, explainer = lite0
        with pytest.raises(TargetError, match='Closest groups: "dog"'):
            explainer.explain(cat, Group("dgo"))


def mean_in(heatmap: np.ndarray, box) -> float:
    y0, x0, y1, x1 = box
    return float(heatmap[y0:y1, x0:x1].mean())


@pytest.mark.slow
def test_a_groups_map_favours_the_groups_objects_on_a_trained_model():
    """A softmax CNN trained to name the one shape in an image (square, disc or cross); the group
    {square, cross} ("angular") must point at the angular shape in images holding one angular
    shape and one disc, in at least 9 of 10."""
    from tests.helpers.toy_models import SIZE, draw, noise, toy_cnn

    def cross(rng, image, center):
        cy, cx = center
        arm, width = int(rng.integers(5, 8)), 2
        colour = rng.integers(170, 256, size=3)
        image[cy - arm : cy + arm + 1, cx - width : cx + width + 1] = colour
        image[cy - width : cy + width + 1, cx - arm : cx + arm + 1] = colour
        return cy - arm, cx - arm, cy + arm + 1, cx + arm + 1

    def shape(kind, rng, image, center=None):
        center = center if center is not None else tuple(int(c) for c in rng.integers(9, SIZE - 9, size=2))
        return cross(rng, image, center) if kind == 2 else draw(kind, rng, image, center=center)

    keras.utils.set_random_seed(11)
    rng = np.random.default_rng(11)
    images, labels = [], []
    for i in range(1800):
        image = noise(rng)
        shape(i % 3, rng, image)
        images.append(image)
        labels.append(i % 3)
    model = toy_cnn(3, "softmax")
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(np.stack(images).astype(np.float32), np.array(labels), epochs=10, batch_size=64, verbose=0)
    explainer = gradcam.Explainer(model, class_names=["square", "disc", "cross"])
    check = np.random.default_rng(3)
    right = 0
    for _ in range(60):
        image, kind = noise(check), int(check.integers(3))
        shape(kind, check, image)
        right += int(np.argmax(explainer.predict(image)) == kind)
    assert right >= 54, f"the toy model did not learn its task ({right} of 60 right); the test would prove nothing"

    trial_rng = np.random.default_rng(99)
    wins = 0
    for trial in range(10):
        image = noise(trial_rng)
        angular = (0, 2)[trial % 2]
        sides = (10, 30) if trial % 4 < 2 else (30, 10)
        group_box = shape(angular, trial_rng, image, center=(20, sides[0]))
        disc_box = shape(1, trial_rng, image, center=(20, sides[1]))
        heatmap = explainer.explain(image, Group(["square", "cross"], name="angular")).heatmap

        wins += mean_in(heatmap, group_box) > mean_in(heatmap, disc_box)
    assert wins >= 9, f"the group's map favoured the group's object in only {wins} of 10 images"


def test_faithfulness_curves_follow_the_groups_summed_probability(gap_model, images):
    explainer = gradcam.Explainer(gap_model, class_names=CLASSES)
    group = explainer.explain(images[0], Group([0, 3], name="pair"))
    result = gradcam.evaluate(explainer, images[0], group, ["deletion"], steps=4, baseline=False)
    assert result.target_name == "pair"
    assert result.probability == pytest.approx(group.target_probability, abs=1e-6)
    fractions, probabilities = result.curves["deletion"]
    assert probabilities[0] == pytest.approx(group.target_probability, abs=1e-5)  # nothing removed yet
    single = gradcam.evaluate(
        explainer, images[0], explainer.explain(images[0], 0), ["deletion"], steps=4, baseline=False
    )
    assert single.probability < result.probability  # the group's curve is not its first member's
