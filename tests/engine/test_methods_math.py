"""Each method's maths on numbers worked out by hand, through the whole engine.

The models are tiny and their weights fixed, so every gradient is known in closed form. The
image's red channel carries the values; green and blue are zero and the kernels ignore them.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import gradcam
from gradcam.methods.gradient_cams import GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, XGradCAM

# The running example: activations A and gradients G of one 2x2 channel.
A = np.array([[1.0, 2.0], [3.0, 4.0]])
G = np.array([[0.5, -1.0], [1.0, 2.0]])


def image_of(values: np.ndarray) -> np.ndarray:
    image = np.zeros((*values.shape, 3), np.uint8)
    image[..., 0] = values
    return image


def identity(images):
    return images.astype(np.float32)


def flatten_dense_model() -> keras.Model:
    """x -> A = red channel (1x1 conv) -> Flatten -> Dense(2). dlogit_0/dA = G, as a 2x2 map."""
    inputs = keras.Input((2, 2, 3))
    features = keras.layers.Conv2D(1, 1, use_bias=False, name="features")(inputs)
    logits = keras.layers.Dense(2, name="logits")(keras.layers.Flatten()(features))
    model = keras.Model(inputs, logits)
    model.get_layer("features").set_weights([np.array([1.0, 0.0, 0.0]).reshape(1, 1, 3, 1)])
    model.get_layer("logits").set_weights([np.stack([G.ravel(), -G.ravel()], axis=1), np.zeros(2)])
    return model


def gap_dense_model() -> keras.Model:
    """x -> A = [red, -red] (1x1 conv) -> GAP -> Dense with W = [[2, -1], [1, 3]]."""
    inputs = keras.Input((2, 2, 3))
    features = keras.layers.Conv2D(2, 1, use_bias=False, name="features")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    logits = keras.layers.Dense(2, name="logits")(pooled)
    model = keras.Model(inputs, logits)
    kernel = np.zeros((1, 1, 3, 2))
    kernel[0, 0, 0] = [1.0, -1.0]
    model.get_layer("features").set_weights([kernel])
    model.get_layer("logits").set_weights([np.array([[2.0, -1.0], [1.0, 3.0]]), np.array([0.5, 0.0])])
    return model


@pytest.fixture(scope="module")
def flat():
    return gradcam.Explainer(flatten_dense_model(), preprocess=identity)


@pytest.fixture(scope="module")
def gap():
    return gradcam.Explainer(gap_dense_model(), preprocess=identity)


class TestCombineRules:
    """The combination rules alone, on A and G."""

    def test_gradcam_averages_the_gradient(self):
        # alpha = (0.5 - 1 + 1 + 2) / 4 = 0.625
        np.testing.assert_allclose(GradCAM.combine(A[None, ..., None], G[None, ..., None])[0], 0.625 * A)

    def test_hirescam_multiplies_element_wise(self):
        np.testing.assert_allclose(
            HiResCAM.combine(A[None, ..., None], G[None, ..., None])[0], [[0.5, -2.0], [3.0, 8.0]]
        )

    def test_layercam_keeps_positive_gradients(self):
        np.testing.assert_allclose(
            LayerCAM.combine(A[None, ..., None], G[None, ..., None])[0], [[0.5, 0.0], [3.0, 8.0]]
        )

    def test_xgradcam_normalises_by_activation_sum(self):
        # alpha = (0.5 - 2 + 3 + 8) / (1 + 2 + 3 + 4) = 0.95
        np.testing.assert_allclose(XGradCAM.combine(A[None, ..., None], G[None, ..., None])[0], 0.95 * A, rtol=1e-6)

    def test_gradcam_plus_plus_equation_19(self):
        # alpha_ij = g^2 / (2 g^2 + sum(A) g^3), sum(A) = 10:
        #   (0.25 / 1.75, 1 / -8, 1 / 12, 4 / 88); weights = sum alpha * relu(g)
        #   = 0.5/7 + 0 + 1/12 + 8/88 = 0.2456710...
        expected = (0.5 / 7 + 1 / 12 + 8 / 88) * A
        np.testing.assert_allclose(
            GradCAMPlusPlus.combine(A[None, ..., None], G[None, ..., None])[0], expected, rtol=1e-6
        )


class TestThroughTheEngine:
    """The same numbers from real gradients of real (tiny) Keras models."""

    @pytest.mark.parametrize(
        "method, expected",
        [
            ("gradcam", 0.625 * A),
            ("hirescam", [[0.5, 0.0], [3.0, 8.0]]),  # ReLU of [[0.5, -2], [3, 8]]
            ("layercam", [[0.5, 0.0], [3.0, 8.0]]),
            ("xgradcam", 0.95 * A),
            ("gradcam++", (0.5 / 7 + 1 / 12 + 8 / 88) * A),
        ],
    )
    def test_gradient_methods(self, flat, method, expected):
        result = flat.explain(image_of(A), target=0, method=method, layer="features")
        np.testing.assert_allclose(result.coarse, expected, rtol=1e-5, atol=1e-6)

    def test_the_other_class_flips_the_gradient(self, flat):
        # dlogit_1/dA = -G: Grad-CAM's alpha is -0.625, so the map is all negative: no evidence.
        result = flat.explain(image_of(A), target=1, method="gradcam", layer="features")
        assert result.empty and "No positive evidence" in result.message
        assert np.all(result.heatmap == 0) and np.isfinite(result.heatmap).all()

    def test_cam_uses_the_dense_weights(self, gap):
        # Channels are x and -x; class 0 weights (2, 1): 2x - x = x. Class 1 weights (-1, 3): -4x.
        result = gap.explain(image_of(A), target=0, method="cam")
        np.testing.assert_allclose(result.coarse, A, rtol=1e-6)
        assert gap.explain(image_of(A), target=1, method="cam").empty

    def test_gradcam_equals_cam_over_area_on_a_gap_head(self, gap):
        # dlogit/dA_k = W_kc / (h w) everywhere, so Grad-CAM = CAM / 4 on a 2x2 map.
        result = gap.explain(image_of(A), target=0, method="gradcam")
        np.testing.assert_allclose(result.coarse, A / 4, rtol=1e-6)

    def test_contrast_subtracts_the_logits(self, gap):
        # Class 0 minus class 1: weights (2 - -1, 1 - 3) = (3, -2): 3x + 2x = 5x.
        result = gap.explain(image_of(A), target=gradcam.Contrast(0, 1), method="cam")
        np.testing.assert_allclose(result.coarse, 5 * A, rtol=1e-6)
        assert result.label == "class 0 rather than class 1"

    def test_ablation_cam_closed_form(self, gap):
        # y_0 = 2 mean(x) - mean(x) + 0.5 = 3; removing channel k removes W_k0 * mean(A_k):
        # slopes = (2 * 2.5 / 3, 1 * -2.5 / 3); map = slope_0 * x + slope_1 * (-x) = (5/3 + 2.5/3) x.
        result = gap.explain(image_of(A), target=0, method="ablationcam")
        np.testing.assert_allclose(result.coarse, 2.5 * A, rtol=1e-5)

    def test_score_cam_weights_are_masked_probabilities(self, gap):
        # Channel 0 mask: minmax(x) = (x - 1) / 3; channel 1 mask: minmax(-x) = (4 - x) / 3.
        # The masked image's logits are W^T mean([m x, -m x]) + b; the weights are softmax probabilities.
        x = A
        weights = []
        for mask in ((x - 1) / 3, (4 - x) / 3):
            pooled = np.array([np.mean(mask * x), -np.mean(mask * x)])
            logits = pooled @ np.array([[2.0, -1.0], [1.0, 3.0]]) + [0.5, 0.0]
            weights.append(np.exp(logits[0]) / np.exp(logits).sum())
        expected = np.maximum(weights[0] * x - weights[1] * x, 0)
        result = gap.explain(image_of(A), target=0, method="scorecam")
        np.testing.assert_allclose(result.coarse, expected, rtol=1e-4)


class TestPixelMethods:
    def linear_model(self):
        # logit_0 = sum(W * red), so d logit_0 / d red = W and the other channels get 0.
        inputs = keras.Input((2, 2, 3))
        logits = keras.layers.Dense(2, name="logits")(keras.layers.Flatten()(inputs))
        model = keras.Model(inputs, logits)
        kernel = np.zeros((12, 2))
        kernel[0::3, 0] = G.ravel()
        kernel[0::3, 1] = 1.0
        model.get_layer("logits").set_weights([kernel, np.zeros(2)])
        return model

    def test_saliency_is_the_absolute_gradient(self):
        explainer = gradcam.Explainer(self.linear_model(), preprocess=identity)
        result = explainer.explain(image_of(A), target=0, method="saliency")
        np.testing.assert_allclose(result.coarse, np.abs(G), rtol=1e-6)
        np.testing.assert_allclose(result.attribution[..., 0], G, rtol=1e-6)

    def test_smoothgrad_of_a_linear_model_is_its_saliency(self):
        explainer = gradcam.Explainer(self.linear_model(), preprocess=identity)
        result = explainer.explain(image_of(A), target=0, method="smoothgrad", samples=5)
        np.testing.assert_allclose(result.coarse, np.abs(G), rtol=1e-5)

    def test_guided_backprop_gates_negative_gradients_and_inputs(self):
        # h = relu(red - 2) per pixel, logit_0 = sum(G * h). Plain gradient: G where red > 2.
        # Guided: also zero where the incoming gradient G is negative.
        inputs = keras.Input((2, 2, 3))
        hidden = keras.layers.Conv2D(1, 1, activation="relu", name="hidden")(inputs)
        logits = keras.layers.Dense(2)(keras.layers.Flatten()(hidden))
        model = keras.Model(inputs, logits)
        model.get_layer("hidden").set_weights([np.array([1.0, 0, 0]).reshape(1, 1, 3, 1), np.array([-2.0])])
        model.layers[-1].set_weights([np.stack([G.ravel(), G.ravel()], 1), np.zeros(2)])
        explainer = gradcam.Explainer(model, preprocess=identity)
        values = np.array([[1.0, 3.0], [3.0, 4.0]])  # relu active at (0,1), (1,0), (1,1)
        plain = explainer.explain(image_of(values), target=0, method="saliency").attribution[..., 0]
        guided = explainer.explain(image_of(values), target=0, method="guidedbackprop").attribution[..., 0]
        np.testing.assert_allclose(plain, [[0.0, -1.0], [1.0, 2.0]], atol=1e-6)
        np.testing.assert_allclose(guided, [[0.0, 0.0], [1.0, 2.0]], atol=1e-6)

    def test_guided_gradcam_is_guided_backprop_times_gradcam(self):
        explainer = gradcam.Explainer(flatten_dense_model(), preprocess=identity)
        image = image_of(A)
        cam = explainer.explain(image, target=0, method="gradcam", layer="features").coarse
        guided = explainer.explain(image, target=0, method="guidedbackprop").attribution
        combined = explainer.explain(image, target=0, method="guidedgradcam", layer="features")
        np.testing.assert_allclose(combined.attribution, guided * cam[..., None], rtol=1e-5)


def test_eigen_cam_finds_the_dominant_pattern():
    # Activations = u * v (rank one) + a small second pattern: the first component is u, centred,
    # oriented to agree with the total activation.
    rng = np.random.default_rng(0)
    u = rng.random((5, 5))
    activations = u[..., None] * rng.random(8) + 0.01 * rng.random((5, 5, 8))

    class Job:
        def activations(self):
            return activations[None]

    cam = gradcam.METHODS["eigencam"].compute(Job()).maps[0]
    assert np.corrcoef(cam.ravel(), u.ravel())[0, 1] > 0.99


class TestEigenGradCAM:
    """Eigen-Grad-CAM: the first principal component of A * dY/dA, oriented like sum_k A_k dY/dA_k."""

    def test_one_channel_is_the_centred_product(self, flat):
        # With one channel the first principal axis is the channel itself: the map is A * G minus
        # its mean. A * G = [[0.5, -2], [3, 8]], mean 2.375 -> ReLU([[-1.875, -4.375], [0.625, 5.625]]).
        result = flat.explain(image_of(A), target=0, method="eigengradcam", layer="features")
        np.testing.assert_allclose(result.coarse, [[0.0, 0.0], [0.625, 5.625]], rtol=1e-5, atol=1e-6)

    def test_matches_a_numpy_reference_on_several_channels(self):
        # x -> A = conv 1x1 (3 channels, fixed kernel) -> Flatten -> Dense(2): dlogit_c/dA is the
        # dense kernel's column c reshaped to (h, w, K), known without TensorFlow.
        rng = np.random.default_rng(5)
        inputs = keras.Input((4, 4, 3))
        features = keras.layers.Conv2D(3, 1, use_bias=False, name="features")(inputs)
        logits = keras.layers.Dense(2, name="logits")(keras.layers.Flatten()(features))
        model = keras.Model(inputs, logits)
        mixing = rng.normal(size=(3, 3))
        dense = rng.normal(size=(4 * 4 * 3, 2))
        model.get_layer("features").set_weights([mixing.reshape(1, 1, 3, 3)])
        model.get_layer("logits").set_weights([dense, np.zeros(2)])
        explainer = gradcam.Explainer(model, preprocess=identity)
        image = rng.integers(0, 256, size=(4, 4, 3)).astype(np.uint8)

        for target in (0, 1):
            activations = image.astype(np.float64) @ mixing  # (4, 4, 3)
            gradients = dense[:, target].reshape(4, 4, 3)  # Flatten is row-major
            product = (activations * gradients).reshape(16, 3)
            centred = product - product.mean(axis=0)
            _, _, vt = np.linalg.svd(centred)
            projection = centred @ vt[0]
            total = product.sum(axis=1)
            if np.corrcoef(projection, total)[0, 1] < 0:
                projection = -projection
            expected = np.maximum(projection.reshape(4, 4), 0.0)
            result = explainer.explain(image, target=target, method="eigengradcam", layer="features")
            np.testing.assert_allclose(result.coarse, expected, rtol=1e-4, atol=1e-3 * expected.max())

    def test_is_class_specific(self, flat):
        # Class 1's gradient is -G: the product flips sign, and so does the oriented component's
        # reference, so the map stays oriented to class 1's own evidence (now at the top left).
        result = flat.explain(image_of(A), target=1, method="eigengradcam", layer="features")
        # -A * G = [[-0.5, 2], [-3, -8]], mean -2.375 -> ReLU([[1.875, 4.375], [-0.625, -5.625]])
        np.testing.assert_allclose(result.coarse, [[1.875, 4.375], [0.0, 0.0]], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(7, 7, 40), (6, 5, 3)])  # more channels than locations, and fewer
def test_first_component_equals_the_svd_projection(shape):
    from gradcam.methods.eigen_cam import first_component

    features = np.random.default_rng(1).random(shape) ** 3
    matrix = features.reshape(-1, shape[-1])
    centred = matrix - matrix.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    expected = (centred @ vt[0]).reshape(shape[:2])
    orient = features.sum(axis=-1)
    if np.corrcoef(expected.ravel(), orient.ravel())[0, 1] < 0:
        expected = -expected
    np.testing.assert_allclose(first_component(features, orient), expected, rtol=1e-7, atol=1e-9)
