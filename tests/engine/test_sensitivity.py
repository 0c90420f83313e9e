"""Class sensitivity: is a class's map about that class, or the top class's map again?

The similarity is checked against a by-hand Spearman on the 56x56 grid, against a model built so
that two classes have the same map (rho must be 1), and against a trained two-object model whose
other class must get its own map; the Random Logit baseline must be seeded."""

from __future__ import annotations

import cv2
import keras
import numpy as np
import pytest
from scipy.stats import spearmanr

import gradcam
from gradcam.errors import MetricError
from gradcam.sensitivity import (
    DISTINCT,
    NOT_APPLICABLE,
    PARTLY_SHARED,
    SAME_AS_TOP,
    TOP_CLASS,
    ClassSensitivity,
    compare_to_top,
    random_classes,
    verdict_for,
)
from model_zoo.imagenet_names import class_index


def by_hand_spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho of two maps shrunk to 56x56 by area averaging, with scipy's own spearmanr."""
    small = [cv2.resize(np.asarray(m, np.float32), (56, 56), interpolation=cv2.INTER_AREA).ravel() for m in (a, b)]
    return float(spearmanr(*small).statistic)


@pytest.fixture(scope="module")
def coffee():
    from gradcam.images import load_image
    from gradcam_app import samples_dir

    return load_image(samples_dir() / "coffee.jpg")


def test_similarity_is_spearman_on_the_56x56_grid(lite0, coffee):
    _, explainer = lite0
    found = gradcam.class_sensitivity(explainer, coffee, "slot", n_random=3)
    assert isinstance(found, ClassSensitivity)
    top_map = explainer.explain(coffee, None).heatmap
    slot_map = explainer.explain(coffee, "slot").heatmap
    assert found.similarity_to_top == pytest.approx(by_hand_spearman(slot_map, top_map), abs=1e-9)
    assert found.top_index == class_index("espresso") and found.top_name == "espresso"
    assert found.target_label == "slot" and found.target_index == class_index("slot")
    for klass, rho in zip(found.random_classes, found.random_similarities):
        expected = by_hand_spearman(explainer.explain(coffee, klass).heatmap, top_map)
        assert rho == pytest.approx(expected, abs=1e-9)
    assert found.verdict == verdict_for(found.similarity_to_top)
    assert found.summary()["verdict"] == found.verdict


def test_the_second_class_on_coffee_repeats_espresso(lite0, coffee):
    """On coffee.jpg the second class's map (cup) is espresso's again: "same as top", with the
    reading a person sees."""
    _, explainer = lite0
    second = gradcam.top_classes(explainer.predict(coffee), explainer.class_names, 2)[1]
    found = gradcam.class_sensitivity(explainer, coffee, second[0], n_random=0)
    assert found.similarity_to_top >= SAME_AS_TOP and found.verdict == "same as top"
    assert found.offers_contrast
    assert found.reading.startswith(f"{found.similarity_to_top:.0%} the same as espresso's map")
    assert f"not what is specific to {second[1]}" in found.reading


def test_the_top_class_and_none_are_the_top_class(lite0, coffee):
    _, explainer = lite0
    for target in (None, "espresso"):
        found = gradcam.class_sensitivity(explainer, coffee, target, n_random=2)
        assert found.verdict == TOP_CLASS and found.is_top and found.similarity_to_top == 1.0
        assert len(found.random_similarities) == 2 and found.top_index not in found.random_classes


def test_a_group_is_compared_with_the_top_class(lite0, coffee):
    _, explainer = lite0
    found = gradcam.class_sensitivity(explainer, coffee, gradcam.Group("alcohol"), n_random=0)
    top_map = explainer.explain(coffee, None).heatmap
    group_map = explainer.explain(coffee, gradcam.Group("alcohol")).heatmap
    assert found.target_label == "alcohol" and found.verdict != TOP_CLASS
    assert found.similarity_to_top == pytest.approx(by_hand_spearman(group_map, top_map), abs=1e-9)
    assert found.verdict == verdict_for(found.similarity_to_top)


def test_a_contrast_gets_no_verdict_and_says_why(lite0, coffee):
    _, explainer = lite0
    found = gradcam.class_sensitivity(explainer, coffee, gradcam.Contrast("slot", "espresso"))
    assert found.verdict == NOT_APPLICABLE and found.similarity_to_top is None
    assert found.random_similarities == () and found.top_explanation is None
    assert "contrastive map" in found.reading and "share" in found.reading
    assert found.summary()["similarity_to_top"] is None


def test_the_random_logit_baseline_is_seeded(lite0, coffee):
    _, explainer = lite0
    a = gradcam.class_sensitivity(explainer, coffee, "slot", n_random=4, seed=3)
    b = gradcam.class_sensitivity(explainer, coffee, "slot", n_random=4, seed=3)
    c = gradcam.class_sensitivity(explainer, coffee, "slot", n_random=4, seed=4)
    assert a.random_classes == b.random_classes and a.random_similarities == b.random_similarities
    assert a.random_classes != c.random_classes
    assert a.top_index not in a.random_classes + c.random_classes
    assert len(set(a.random_classes)) == 4
    assert random_classes(1000, 967, 4, seed=3) == list(a.random_classes)
    assert random_classes(3, 1, 8) in ([0, 2], [2, 0])  # all but the top when fewer
    assert gradcam.class_sensitivity(explainer, coffee, "slot", n_random=0).random_similarities == ()


@pytest.mark.parametrize("bad", [-1, 1.5, "8", True])
def test_a_bad_n_random_is_refused_with_what_to_do(lite0, coffee, bad):
    _, explainer = lite0
    with pytest.raises(MetricError, match="n_random must be a whole number >= 0"):
        gradcam.class_sensitivity(explainer, coffee, "slot", n_random=bad)


def test_maps_of_different_methods_are_not_compared(lite0, coffee):
    _, explainer = lite0
    slot = explainer.explain(coffee, "slot")
    top = explainer.explain(coffee, None, method="gradcam++")
    with pytest.raises(MetricError, match="one method and layer"):
        compare_to_top(slot, top)
    with pytest.raises(MetricError, match="must explain the top prediction"):
        compare_to_top(slot, explainer.explain(coffee, "cup"))


def test_thresholds_give_the_documented_verdicts():
    assert verdict_for(1.0) == verdict_for(SAME_AS_TOP) == "same as top"
    assert verdict_for(np.nextafter(SAME_AS_TOP, 0)) == verdict_for(PARTLY_SHARED) == "partly shared"
    assert verdict_for(np.nextafter(PARTLY_SHARED, 0)) == verdict_for(-0.3) == DISTINCT
    assert verdict_for(None) == "undefined"


def test_a_class_whose_logit_is_the_top_one_minus_a_constant_is_the_same_as_top():
    """Class B's logit is class A's minus 3: their gradients, hence their Grad-CAM maps, are
    identical, so rho is exactly 1 and the verdict "same as top"."""
    keras.utils.set_random_seed(5)
    inputs = keras.Input((24, 24, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    a = keras.layers.Dense(1, name="a")(x)
    both = keras.layers.Dense(3, name="ab", trainable=False)(a)
    model = keras.Model(inputs, both)
    # Outputs: [A, A - 3, -A + 1]: B follows A exactly, C is its opposite.
    model.get_layer("ab").set_weights(
        [np.array([[1.0, 1.0, -1.0]], np.float32), np.array([0.0, -3.0, 1.0], np.float32)]
    )
    explainer = gradcam.Explainer(model, class_names=["A", "B", "C"])
    rng = np.random.default_rng(0)
    for _ in range(5):
        image = rng.integers(0, 256, size=(24, 24, 3), dtype=np.uint8)
        top = int(np.argmax(explainer.predict(image)))
        follower = 1 if top == 0 else 0
        if top == 2:  # C is on top (A < 1 - A): then A and B still share one map
            continue
        found = gradcam.class_sensitivity(explainer, image, follower, n_random=0)
        assert found.top_index == 0 and found.target_index == 1
        assert found.similarity_to_top == pytest.approx(1.0, abs=1e-9)
        assert found.verdict == "same as top"
        return
    pytest.fail("no image made A the top class: the test would prove nothing")


# -- the trained two-object toy model (as in tests/test_localization.py) -------------------------
SIZE = 40
SQUARE, DISC = 0, 1


def _draw(kind: int, rng, image: np.ndarray, center=None) -> None:
    radius = int(rng.integers(5, 8))
    cy, cx = center if center is not None else rng.integers(radius + 1, SIZE - radius - 1, size=2)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    if kind == SQUARE:
        mask = (abs(yy - cy) <= radius) & (abs(xx - cx) <= radius)
    else:
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
    image[mask] = rng.integers(170, 256, size=3)


def _noise(rng) -> np.ndarray:
    return rng.integers(0, 90, size=(SIZE, SIZE, 3)).astype(np.uint8)


def _dataset(n: int, rng):
    images, labels = [], []
    for i in range(n):
        image = _noise(rng)
        kinds = [(), (SQUARE,), (DISC,), (SQUARE, DISC)][i % 4]
        if len(kinds) == 2:
            for kind, cx in zip(kinds, rng.permutation([10, 30])):
                _draw(kind, rng, image, center=(int(rng.integers(9, SIZE - 9)), int(cx)))
        elif kinds:
            _draw(kinds[0], rng, image)
        images.append(image)
        labels.append([float(SQUARE in kinds), float(DISC in kinds)])
    return np.stack(images), np.array(labels)


@pytest.mark.slow
def test_the_other_objects_class_is_distinct_on_a_trained_two_object_model():
    """A small CNN trained to find a square and a disc (two sigmoid outputs); on an image with
    both, one object's class is on top, and the other object's class must get a map of its own:
    "distinct" in at least 9 of 10 images."""
    keras.utils.set_random_seed(42)
    images, labels = _dataset(2000, np.random.default_rng(42))
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="last_conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="sigmoid")(x))
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="binary_crossentropy")
    model.fit(images.astype(np.float32), labels, epochs=12, batch_size=64, verbose=0)
    test_images, test_labels = _dataset(160, np.random.default_rng(7))
    accuracy = float(
        ((model.predict(test_images.astype(np.float32), verbose=0) > 0.5) == (test_labels > 0.5)).all(1).mean()
    )
    assert accuracy > 0.9, (
        f"the toy model did not learn its task (accuracy {accuracy:.2f}); the test would prove nothing"
    )
    explainer = gradcam.Explainer(model, class_names=["square", "disc"])
    rng = np.random.default_rng(99)
    verdicts, figures = [], []
    for trial in range(10):
        image = _noise(rng)
        left, right = (SQUARE, DISC) if trial % 2 == 0 else (DISC, SQUARE)
        _draw(left, rng, image, center=(20, 10))
        _draw(right, rng, image, center=(20, 30))
        top = int(np.argmax(explainer.predict(image)))
        found = gradcam.class_sensitivity(explainer, image, 1 - top, n_random=0)
        assert found.top_index == top
        verdicts.append(found.verdict)
        figures.append(found.similarity_to_top)
    distinct = verdicts.count(DISTINCT)
    assert distinct >= 9, f"the other object's class was distinct in only {distinct} of 10 images: rho {figures}"
