"""A map must not depend on the sign or the offset of the score it explains (issue 13).

Adding a constant to one class's logit (a bias: the same weights otherwise) changes nothing about
where the evidence for that class sits: every gradient, every drop when a channel is removed, and
every difference of logits stays the same. So the normalised map of every CAM method that works
on logits must stay the same, for a class whose logit is negative and for one whose logit is
positive, for a contrast and for a group of classes, even when the offset flips the score's sign.
Ablation-CAM's equation 3 divides by the score and failed this for negative scores.

Score-CAM is the one exception, and on purpose: it weights channels by softmax *probabilities*,
as its paper does, and raising one logit makes a different classifier in probability space (the
masked images' probabilities change non-linearly, p' = p e^c / (1 + p (e^c - 1))). What holds for
Score-CAM is invariance to a constant added to *every* logit, which leaves softmax unchanged; both
facts are tested below, so the exemption cannot hide a regression.

The offset is put into a copy of EfficientNet-Lite0's last Dense bias: the same function as
wrapping the model as ``logits + c``, but it keeps the global-average-pooling + dense head that
CAM needs.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

import gradcam
from gradcam.images import load_image
from gradcam.methods import METHODS

IMAGE = Path(__file__).resolve().parents[2] / "sample_images" / "cat_and_coffee.jpg"
SLOT_MACHINE, WINE_BOTTLE, ESPRESSO, EGYPTIAN_MAU = 800, 907, 967, 285

# On cat_and_coffee.jpg slot machine's logit is about -1.4 and espresso's about +6.8: each offset
# flips its class's sign (checked in `test_the_offsets_flip_the_scores_sign`).
ONE_CLASS_OFFSETS = {SLOT_MACHINE: 5.0, ESPRESSO: -10.0}


def _group() -> np.ndarray:
    """A group target: half slot machine, half wine bottle (score about -0.26, shifted +2.24)."""
    weights = np.zeros(1000, np.float32)
    weights[[SLOT_MACHINE, WINE_BOTTLE]] = 0.5
    return weights


TARGETS = [SLOT_MACHINE, ESPRESSO, gradcam.Contrast(SLOT_MACHINE, WINE_BOTTLE), _group()]
TARGET_IDS = ["slot-machine(neg)", "espresso(pos)", "contrast(neg)", "group(neg)"]

# Every CAM method but Score-CAM explains a score made of logits; see the module docstring. A new
# CAM method is in this list, and so must pass the one-class test, unless it is exempted here.
LOGIT_METHODS = [key for key, method in METHODS.items() if method.uses_layer and key != "scorecam"]
SCORE_CAM = {"channels": 16}  # the 16 channels of largest variance: a fair test at 1/80 the cost


def _shifted(zoo, offsets: dict[int, float]) -> gradcam.Explainer:
    """An Explainer over a copy of ``zoo``'s Keras model whose logit i is raised by offsets[i]."""
    model = keras.models.clone_model(zoo.keras_model)
    model.set_weights(zoo.keras_model.get_weights())
    dense = model.get_layer("logits")
    kernel, bias = dense.get_weights()
    bias = bias.copy()
    for index, offset in offsets.items():
        bias[index] += offset
    dense.set_weights([kernel, bias])
    return gradcam.Explainer(model, preprocess=zoo.preprocess, class_names=zoo.class_names)


def _logits(explainer: gradcam.Explainer, image: np.ndarray) -> np.ndarray:
    x = explainer.preprocess(explainer.model_input(image)[None])
    return np.asarray(explainer.keras_model(x, training=False))[0]


def _score(logits: np.ndarray, target) -> float:
    if isinstance(target, gradcam.Contrast):
        return float(logits[target.target] - logits[target.other])
    if isinstance(target, np.ndarray):
        return float(target @ logits)
    return float(logits[target])


@pytest.fixture(scope="module")
def image():
    return load_image(IMAGE)


@pytest.fixture(scope="module")
def one_class(lite0):
    return _shifted(lite0[0], ONE_CLASS_OFFSETS)


@pytest.fixture(scope="module")
def every_class(lite0):
    return _shifted(lite0[0], dict.fromkeys(range(1000), 7.0))


def test_the_offsets_flip_the_scores_sign(lite0, one_class, image):
    """The premise: each target's score changes sign, the case equation 3 got wrong."""
    before, after = _logits(lite0[1], image), _logits(one_class, image)
    for target, name in zip(TARGETS, TARGET_IDS):
        assert _score(before, target) * _score(after, target) < 0, name
    assert _score(before, SLOT_MACHINE) < 0 < _score(before, ESPRESSO)


@pytest.mark.parametrize("method", LOGIT_METHODS)
def test_a_one_class_offset_changes_no_map(lite0, one_class, image, method):
    original = lite0[1].explain_targets(image, TARGETS, method=method)
    shifted = one_class.explain_targets(image, TARGETS, method=method)
    for name, a, b in zip(TARGET_IDS, original, shifted):
        assert a.empty == b.empty, f"{method}, {name}"
        np.testing.assert_allclose(b.heatmap, a.heatmap, atol=1e-4, err_msg=f"{method}, {name}")


def test_ablation_cam_maps_evidence_for_a_negative_logit_class(lite0, image):
    """On Lite0's linear head (GAP + dense) removing channel k lowers logit c by exactly
    W_kc mean(A_k), so Ablation-CAM's raw map is sum_k W_kc mean(A_k) A_k / |y_c|: the same map,
    up to a positive factor, whatever the sign of y_c. Equation 3 divided by y_c < 0 and inverted it."""
    zoo, explainer = lite0
    x = zoo.preprocess(explainer.model_input(image)[None])
    layer = explainer.default_layer
    activations = np.asarray(keras.Model(zoo.keras_model.input, zoo.keras_model.get_layer(layer).output)(x))[0]
    kernel = zoo.keras_model.get_layer("logits").get_weights()[0]
    assert _logits(explainer, image)[SLOT_MACHINE] < 0
    expected = np.maximum(activations @ (kernel[:, SLOT_MACHINE] * activations.mean(axis=(0, 1))), 0.0)
    coarse = explainer.explain(image, target=SLOT_MACHINE, method="ablationcam").coarse
    assert np.corrcoef(coarse.ravel(), expected.ravel())[0, 1] > 0.9999
    np.testing.assert_allclose(coarse / coarse.max(), expected / expected.max(), atol=1e-4)


def test_score_cam_is_invariant_to_an_offset_on_every_logit(lite0, every_class, image):
    """What does hold for Score-CAM: softmax, and so every weight, ignores a constant added to all
    logits. (The logit methods need no such test: one offset per class, each already harmless.)"""
    original = lite0[1].explain_targets(image, TARGETS, method="scorecam", **SCORE_CAM)
    shifted = every_class.explain_targets(image, TARGETS, method="scorecam", **SCORE_CAM)
    for name, a, b in zip(TARGET_IDS, original, shifted):
        assert a.empty == b.empty, name
        np.testing.assert_allclose(b.heatmap, a.heatmap, atol=1e-4, err_msg=name)
    assert not original[0].empty and not original[1].empty  # real maps were compared


def test_score_cam_does_depend_on_a_one_class_offset(lite0, one_class, image):
    """Why Score-CAM is left out of the one-class test: raising slot machine's logit by 5 makes it
    more probable than wine bottle under some masks, so the contrast's probability difference
    p_slot - p_wine, negative for every mask before, gains positive weights and a map appears."""
    target = gradcam.Contrast(SLOT_MACHINE, WINE_BOTTLE)
    original = lite0[1].explain(image, target=target, method="scorecam", **SCORE_CAM)
    shifted = one_class.explain(image, target=target, method="scorecam", **SCORE_CAM)
    assert original.empty and not shifted.empty


class TestConstantChannels:
    """Perturbation methods skip channels that are zero everywhere, and only those: a constant
    channel that is not zero adds w_k * A_k, a constant, to the whole map before the ReLU.

    The model: image red channel x = [[1, 2], [3, 4]] -> a 1x1 conv with three channels,
    A_0 = x, A_1 = 2 (its bias), A_2 = 0 -> global average pooling -> Dense with kernel
    W = [[1, -1], [-1.5, 1], [5, 5]] and bias (1.5, 0). So y_0 = 2.5 - 3 + 1.5 = 1 and
    y_1 = -2.5 + 2 = -0.5 (a negative logit).
    """

    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    W = np.array([[1.0, -1.0], [-1.5, 1.0], [5.0, 5.0]])
    B = np.array([1.5, 0.0])

    @pytest.fixture(scope="class")
    @classmethod
    def explainer(cls):
        inputs = keras.Input((2, 2, 3))
        features = keras.layers.Conv2D(3, 1, name="features")(inputs)
        logits = keras.layers.Dense(2, name="logits")(keras.layers.GlobalAveragePooling2D()(features))
        model = keras.Model(inputs, logits)
        kernel = np.zeros((1, 1, 3, 3))
        kernel[0, 0, 0, 0] = 1.0  # A_0 = red; A_1 and A_2 ignore the image
        model.get_layer("features").set_weights([kernel, np.array([0.0, 2.0, 0.0])])
        model.get_layer("logits").set_weights([cls.W, cls.B])
        return gradcam.Explainer(model, preprocess=lambda images: images.astype(np.float32))

    def image(self) -> np.ndarray:
        image = np.zeros((2, 2, 3), np.uint8)
        image[..., 0] = self.X
        return image

    def run(self, explainer, target, method):
        messages = []
        result = explainer.explain(
            self.image(), target=target, method=method, progress=lambda fraction, message: messages.append(message)
        )
        return result, messages

    @pytest.mark.parametrize("method", ["ablationcam", "scorecam"])
    def test_only_the_zero_channel_is_skipped(self, explainer, method):
        _, messages = self.run(explainer, 0, method)
        assert messages and messages[-1].endswith("2 of 2 channels"), messages

    def test_ablation_cam_counts_the_constant_channel(self, explainer):
        # Removing A_0 lowers y_0 by 1 * mean(x) = 2.5; removing A_1 by -1.5 * 2 = -3 (it rises);
        # A_2 = 0 adds nothing. |y_0| = 1: map = 2.5 x - 3 * 2 = [[-3.5, -1], [1.5, 4]].
        # Skipping A_1 would have given 2.5 x, positive everywhere.
        result, _ = self.run(explainer, 0, "ablationcam")
        np.testing.assert_allclose(result.coarse, [[0.0, 0.0], [1.5, 4.0]], rtol=1e-5, atol=1e-6)

    def test_ablation_cam_on_a_negative_logit(self, explainer):
        # y_1 = -0.5. Removing A_0 changes y_1 by -(-1 * 2.5) (it rises by 2.5: a drop of -2.5);
        # removing A_1 lowers it by 1 * 2 = 2. Divided by |y_1| = 0.5: weights -5 and 4, so the
        # map is 8 - 5x = [[3, -2], [-7, -12]]: evidence for class 1 only where x is smallest.
        # Equation 3 (dividing by y_1 < 0) gave 5x - 8: the evidence against it.
        result, _ = self.run(explainer, 1, "ablationcam")
        np.testing.assert_allclose(result.coarse, [[3.0, 0.0], [0.0, 0.0]], rtol=1e-5, atol=1e-6)

    def test_score_cam_counts_the_constant_channel(self, explainer):
        # A_0's mask is minmax(x) = (x - 1) / 3; A_1's min-max mask is zero (a blank image, which
        # still has A_1 = 2). Each weight is p_0 of the masked image; map = p x + p' * 2.
        def p0(masked_red: np.ndarray) -> float:
            pooled = np.array([masked_red.mean(), 2.0, 0.0])
            logits = pooled @ self.W + self.B
            return float(np.exp(logits[0]) / np.exp(logits).sum())

        expected = p0((self.X - 1) / 3 * self.X) * self.X + p0(np.zeros_like(self.X)) * 2.0
        result, _ = self.run(explainer, 0, "scorecam")
        np.testing.assert_allclose(result.coarse, expected, rtol=1e-4)
