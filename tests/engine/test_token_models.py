"""Vision transformers: token layers (batch, T, C) are explained with no reshape function.

A small ViT is built here (patch embedding by a strided Conv2D, a learned class token, position
embedding, two pre-norm transformer blocks, a class-token head). Its token layers are offered as
8x8 maps, the class token dropped from the map and given back to the head; the default layer is
the last block's first normalisation; Grad-CAM there equals a by-hand reference. Once the ViT is
trained on the toy localisation task of tests/engine/test_localization.py its maps should point at the
objects; measured, that is not yet reliable for this small model (a non-strict xfail with the
numbers of every recipe tried).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import gradcam
import model_zoo
from gradcam import LayerError, MethodError, NoSpatialLayerError
from tests.helpers.toy_models import PATCH, SIZE, ClassToken, dataset, gap_token_model, toy_cnn, vit

GRID = SIZE // PATCH  # 8x8 patch tokens, plus the class token


def by_hand_gradcam(
    model: keras.Model, layer: str, image: np.ndarray, target: int, extra: int, grid: tuple[int, int]
) -> np.ndarray:
    """The paper's Grad-CAM on a token layer, by hand: the layer's output and the gradient of the
    target's logit (the model's own logits layer without its sigmoid/softmax) with respect to it,
    extra tokens dropped, reshaped to the grid; weights = mean gradient per channel; ReLU of the
    weighted sum."""
    last = model.layers[-1]  # a Dense with a sigmoid/softmax, or the model zoo's logits of one
    dense = getattr(last, "dense", last)
    pre = keras.Model(model.inputs[0], [model.get_layer(layer).output, last.input])
    with tf.GradientTape() as tape:
        tokens, features = pre(image[None].astype(np.float32), training=False)
        logits = tf.matmul(features, dense.kernel) + dense.bias
        score = logits[0, target]
    gradients = tape.gradient(score, tokens).numpy()[0, extra:].reshape(*grid, -1)
    activations = tokens.numpy()[0, extra:].reshape(*grid, -1)
    alpha = gradients.mean(axis=(0, 1))
    return np.maximum(activations @ alpha, 0.0)


@pytest.fixture(scope="module")
def random_vit():
    keras.utils.set_random_seed(3)
    model = vit()
    return model, gradcam.Explainer(model, class_names=["square", "disc"])


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(5).integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8)


def test_token_layers_are_listed_as_reshaped_maps(random_vit):
    model, explainer = random_vit
    layers = explainer.layers
    assert layers == gradcam.candidate_layers(model)
    for name in ("tokens", "cls_pos", "block0_norm1", "block1_norm1", "block1_add2", "final_norm"):
        assert name in layers
    notes = explainer.layer_notes
    assert "patch_embed" not in notes  # an ordinary (batch, h, w, C) layer carries no note
    assert notes["tokens"] == "tokens (64, 32) reshaped to a 8x8 grid (grid from the patch embedding)"
    assert notes["block1_norm1"] == (
        "tokens (65, 32) reshaped to a 8x8 grid (1 extra token dropped, grid from the patch embedding)"
    )


def test_default_layer_is_the_last_blocks_first_norm(random_vit):
    # After the last attention only the class token reaches the head: every later layer's patch
    # tokens have zero gradient, and the rule picks the input of the last attention.
    explainer = random_vit[1]
    assert explainer.default_layer == "block1_norm1"
    assert explainer.explain(np.zeros((SIZE, SIZE, 3), np.uint8)).layer == "block1_norm1"


def test_gradcam_equals_the_by_hand_reference(random_vit, image):
    model, explainer = random_vit
    for target in (0, 1):
        expected = by_hand_gradcam(model, "block1_norm1", image, target, extra=1, grid=(GRID, GRID))
        result = explainer.explain(image, target=target)
        assert result.layer == "block1_norm1" and result.coarse.shape == (GRID, GRID)
        assert expected.max() > 0
        np.testing.assert_allclose(result.coarse, expected, rtol=1e-5, atol=1e-5 * expected.max())


def test_a_transformer_is_explained_through_xla_with_the_same_maps(random_vit, image):
    # XLA by default for a model with token layers (measured 1.6x faster on a ViT on a CPU),
    # compiled in the background while the first calls run without it; never for a
    # convolutional network (measured 5x slower on EfficientNet-Lite0's depthwise convolutions).
    model, explainer = random_vit
    assert explainer.jit_compile
    assert not gradcam.Explainer(toy_cnn(2, "sigmoid")).jit_compile
    plain = gradcam.Explainer(model, jit_compile=False)
    eager_xla = gradcam.Explainer(model, jit_compile=True)
    assert not plain.jit_compile and eager_xla.jit_compile
    fresh = gradcam.Explainer(model)
    functions = fresh.layer_functions()
    first = fresh.explain(image, target=1).coarse  # without XLA: batch size 1 is being compiled
    fresh.compiled.wait_for_xla()
    assert functions.xla_batch_sizes == [1] and plain.layer_functions().xla_batch_sizes == []
    assert eager_xla.layer_functions().xla_batch_sizes is None
    for target in (0, 1):
        for method in ("gradcam", "hirescam", "layercam"):
            expected = plain.explain(image, target=target, method=method).coarse
            tolerance = {"rtol": 1e-5, "atol": 1e-5 * max(expected.max(), 1e-12)}
            np.testing.assert_allclose(fresh.explain(image, target=target, method=method).coarse, expected, **tolerance)
            np.testing.assert_allclose(
                eager_xla.explain(image, target=target, method=method).coarse, expected, **tolerance
            )
            if target == 1 and method == "gradcam":
                np.testing.assert_allclose(first, expected, **tolerance)
    # another batch size is compiled for its own shape, and gives the same maps meanwhile and after
    images = [image, image[::-1], image[:, ::-1]]
    expected = [e.coarse for e in plain.explain_batch(images, targets=1)]
    for _ in range(2):
        for got, want in zip(fresh.explain_batch(images, targets=1), expected):
            np.testing.assert_allclose(got.coarse, want, rtol=1e-5, atol=1e-5 * max(want.max(), 1e-12))
        fresh.compiled.wait_for_xla()
    assert functions.xla_batch_sizes == [1, 3]


def test_threads_share_a_transformer_while_xla_compiles_in_the_background(image):
    """Four threads, one fresh Explainer, batch sizes 1, 2 and 3 at once: the calls run while
    XLA compiles those sizes in the background and after, and every map equals the plain one."""
    import threading

    keras.utils.set_random_seed(3)
    model = vit()
    shared = gradcam.Explainer(model)
    plain = gradcam.Explainer(model, jit_compile=False)
    rng = np.random.default_rng(11)
    images = [rng.integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8) for _ in range(6)]
    expected = {i: plain.explain(im, target=i % 2).coarse for i, im in enumerate(images)}
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def session(number):
        try:
            barrier.wait(timeout=60)
            for round_ in range(6):
                size = 1 + (number + round_) % 3
                chosen = [(number + round_ + k) % len(images) for k in range(size)]
                shared.clear_cache()
                results = shared.explain_batch([images[i] for i in chosen], targets=[i % 2 for i in chosen])
                for i, result in zip(chosen, results):
                    np.testing.assert_allclose(
                        result.coarse, expected[i], rtol=1e-4, atol=1e-5 * max(expected[i].max(), 1e-12)
                    )
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=session, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors[0]
    shared.compiled.wait_for_xla()
    assert shared.layer_functions().xla_batch_sizes == [1, 2, 3]


class HostIdentity(keras.layers.Layer):
    """The identity, computed in Python (tf.numpy_function): an op XLA cannot compile."""

    def call(self, x):
        y = tf.numpy_function(lambda a: a, [x], tf.float32, stateful=False)
        return tf.ensure_shape(y, x.shape)

    def compute_output_shape(self, input_shape):
        return input_shape


@pytest.mark.parametrize("jit_compile", [None, True])
def test_a_model_xla_cannot_compile_runs_without_it_and_says_so(image, jit_compile):
    keras.utils.set_random_seed(3)
    reference = vit()
    inputs = keras.Input((SIZE, SIZE, 3))
    model = keras.Model(inputs, reference(HostIdentity()(inputs)))
    explainer = gradcam.Explainer(model, jit_compile=jit_compile)
    assert explainer.jit_compile
    with pytest.warns(RuntimeWarning, match=r"XLA could not compile .*runs without XLA.*jit_compile=False"):
        result = explainer.explain(image, target=1)
        explainer.compiled.wait_for_xla()  # with None, XLA fails in the background
    expected = gradcam.Explainer(reference, jit_compile=False).explain(image, target=1).coarse
    np.testing.assert_allclose(result.coarse, expected, rtol=1e-5, atol=1e-5 * expected.max())
    again = explainer.explain(image[::-1], target=0)  # and keeps working without XLA
    assert np.isfinite(again.coarse).all() and explainer.layer_functions().xla_batch_sizes == []


def test_cached_tokens_answer_a_new_class_exactly_with_the_class_token_given_back(image):
    # Mean pooling over every token, class token included: the head after the last token layer
    # stands alone (no skip connection), so a second class is answered from the cached tokens
    # through the head, which needs the image's own class token back.
    keras.utils.set_random_seed(4)
    model = vit(pooling="mean")
    explainer = gradcam.Explainer(model)
    assert explainer.default_layer == "final_norm"
    functions = explainer.layer_functions("final_norm")
    assert functions.head_available and not functions.has_linear_head  # the class token is pooled too
    for target in (0, 1):  # the second target is served from the cache
        expected = by_hand_gradcam(model, "final_norm", image, target, extra=1, grid=(GRID, GRID))
        np.testing.assert_allclose(
            explainer.explain(image, target=target).coarse, expected, rtol=1e-5, atol=1e-5 * expected.max()
        )
    # The head from maps plus the image's own class token gives back the model's logits.
    x = explainer.prepare_batch([image])
    outputs, logits = functions.forward(x)
    again = functions.head_logits(functions.to_outputs(functions.to_grid(outputs), outputs[:, :1]))
    np.testing.assert_allclose(again, logits, rtol=1e-5, atol=1e-5)


def test_every_method_runs_on_the_token_layer(random_vit, image):
    explainer = random_vit[1]
    for key, method in gradcam.METHODS.items():
        options = {"batch_size": 64} if key in ("scorecam", "ablationcam") else {}
        if key == "cam":
            with pytest.raises(MethodError, match="global average pooling"):
                explainer.explain(image, target=0, method=key)
            continue
        if key == "ablationcam":
            # The last block's norm1 has a skip connection around it (the residual): the head does
            # not stand alone, as for a CNN's inner layers.
            with pytest.raises(MethodError, match="skip connection"):
                explainer.explain(image, target=0, method=key)
            # After the last block it does: ablating patch-token channels cannot change a
            # class-token head, so every weight is zero -- only if the class token goes back intact.
            result = explainer.explain(image, target=0, method=key, layer="final_norm", **options)
            assert result.coarse.shape == (GRID, GRID) and np.allclose(result.coarse, 0, atol=1e-5)
            continue
        result = explainer.explain(image, target=0, method=key, **options)
        assert result.heatmap.shape == (SIZE, SIZE) and np.isfinite(result.heatmap).all(), key
        if method.uses_layer:
            assert result.layer == "block1_norm1", key  # guided Grad-CAM's map is at pixel resolution
        else:
            assert result.layer is None, key


def test_a_built_in_only_token_model_loads_safely_and_every_method_runs(tmp_path):
    keras.utils.set_random_seed(6)
    path = tmp_path / "tokens.keras"
    gap_token_model().save(path)
    loaded = model_zoo.load_user_model(str(path), class_names=["a", "b", "c"], preprocessing="raw")
    explainer = gradcam.Explainer(loaded)
    # No class token: every token reaches the logits through the average, so the last token layer
    # is the default, and a GAP + dense head gives CAM and the closed-form gradient.
    assert explainer.default_layer == "final_norm"
    assert explainer.layer_notes["final_norm"] == (
        "tokens (64, 16) reshaped to a 8x8 grid (grid from the patch embedding)"
    )
    assert explainer.layer_functions().has_linear_head
    image = np.random.default_rng(8).integers(0, 256, size=(50, 60, 3), dtype=np.uint8)
    maps = {}
    for key in gradcam.METHODS:
        options = {"batch_size": 64} if key in ("scorecam", "ablationcam") else {}
        result = explainer.explain(image, target="b", method=key, **options)
        assert result.heatmap.shape == (50, 60) and np.isfinite(result.heatmap).all(), key
        maps[key] = result.coarse
    # CAM = Grad-CAM on a GAP + dense head, up to Grad-CAM's 1/(h*w) from the average gradient.
    np.testing.assert_allclose(maps["cam"] / 64, maps["gradcam"], rtol=1e-4, atol=1e-6)
    keras_model = loaded.keras_model
    expected = by_hand_gradcam(
        keras_model, "final_norm", explainer.prepare_batch([explainer.model_input(image)])[0], 1, extra=0, grid=(8, 8)
    )
    np.testing.assert_allclose(maps["gradcam"], expected, rtol=1e-5, atol=1e-5 * expected.max())


def row_token_model(size=(16, 16)) -> keras.Model:
    """Tokens without a patch embedding: each image row is a token, then a class token."""
    inputs = keras.Input((*size, 3))
    x = keras.layers.Reshape((size[0], size[1] * 3), name="tokens")(inputs)
    x = keras.layers.Dense(8, name="embed")(x)
    x = ClassToken(name="cls_pos")(x)
    x = keras.layers.LayerNormalization(name="norm")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(inputs, keras.layers.Dense(2)(x))


def test_an_ambiguous_token_count_asks_for_token_grid():
    model = row_token_model()  # T = 16 = 4x4 (or 3x3 + 7), then 17 = 4x4 + 1 or 3x3 + 8
    with pytest.raises(NoSpatialLayerError) as info:
        gradcam.Explainer(model).explain(np.zeros((16, 16, 3), np.uint8))
    message = str(info.value)
    assert "token_grid=(h, w)" in message and "ambiguous" in message and "4x4 + 0 or 3x3 + 7" in message, message
    assert gradcam.candidate_layers(model) == []
    assert gradcam.candidate_layers(model, token_grid=(4, 4)) == ["tokens", "embed", "cls_pos", "norm"]
    explainer = gradcam.Explainer(model, token_grid=(4, 4))
    assert explainer.layer_notes["norm"] == (
        "tokens (17, 8) reshaped to a 4x4 grid (1 extra token dropped, grid from the token_grid argument)"
    )
    result = explainer.explain(np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8))
    assert result.layer == "norm" and result.coarse.shape == (4, 4)
    with pytest.raises(LayerError, match="fits no token layer"):
        gradcam.Explainer(model, token_grid=(5, 5))
    with pytest.raises(LayerError, match="two positive integers"):
        gradcam.Explainer(model, token_grid=(4, 0))


def test_a_square_token_count_is_inferred_only_for_a_square_input():
    # 50 = 7x7 + 1: inferred on a square image; on a 7x14-pixel one, a 7x7 grid would be a guess.
    square = keras.Sequential(
        [
            keras.Input((7, 7, 3)),
            keras.layers.Reshape((49, 3), name="tokens"),
            ClassToken(name="cls_pos"),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(2),
        ]
    )
    explainer = gradcam.Explainer(square)
    assert explainer.layer_notes["cls_pos"].endswith("(1 extra token dropped, grid from the square token count)")
    wide = keras.Sequential(
        [
            keras.Input((7, 14, 3)),
            keras.layers.Reshape((49, 6), name="tokens"),
            ClassToken(name="cls_pos"),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(2),
        ]
    )
    with pytest.raises(NoSpatialLayerError, match="the input is not square"):
        _ = gradcam.Explainer(wide).default_layer
    assert gradcam.Explainer(wide, token_grid=(7, 7)).default_layer == "cls_pos"


def test_a_token_layer_without_a_grid_is_refused_by_name_with_the_remedy():
    # A spatial conv layer is offered, the row tokens after it are not (16 tokens, 16x16 map before).
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = keras.layers.Reshape((16, 64), name="tokens")(x)
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling1D()(x))
    explainer = gradcam.Explainer(keras.Model(inputs, outputs))
    assert explainer.layers == ["conv"]
    with pytest.raises(LayerError, match=r"its token grid cannot be inferred.*token_grid=\(h, w\)"):
        explainer.layer_path("tokens")


@pytest.mark.slow
def test_convnext_stages_in_a_nested_backbone():
    keras.utils.set_random_seed(0)
    backbone = keras.applications.ConvNeXtTiny(weights=None, include_top=False, input_shape=(64, 64, 3))
    model = keras.Sequential(
        [keras.Input((64, 64, 3)), backbone, keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)]
    )
    explainer = gradcam.Explainer(model)
    assert explainer.default_layer.startswith(backbone.name + "/") and not explainer.layer_notes
    stage = [path for path in explainer.layers if path.endswith("stage_2_block_2_identity")]
    assert stage, explainer.layers[-5:]
    image = np.random.default_rng(1).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    for layer in (None, stage[0]):
        result = explainer.explain(image, target=1, layer=layer)
        assert result.heatmap.shape == (64, 64) and np.isfinite(result.heatmap).all()


@pytest.fixture(scope="module")
def trained_vit():
    keras.utils.set_random_seed(42)
    images, labels, _ = dataset(2000, np.random.default_rng(42))
    model = vit()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    model.fit(images.astype(np.float32), labels, epochs=10, batch_size=64, verbose=0)
    test_images, test_labels, test_boxes = dataset(160, np.random.default_rng(7))
    predicted = model.predict(test_images.astype(np.float32), verbose=0) > 0.5
    accuracy = float((predicted == (test_labels > 0.5)).all(axis=1).mean())
    assert accuracy > 0.9, f"the toy ViT did not learn its task (accuracy {accuracy:.2f}); the test would prove nothing"
    return gradcam.Explainer(model, class_names=["square", "disc"]), test_images, test_boxes


def single_objects(images, boxes):
    """(image, class, box) for the held-out images with one object."""
    for image, box in zip(images, boxes):
        if len(box) == 1:
            ((label, bounds),) = box.items()
            yield image, int(label), bounds


def peak_on_object(heatmap: np.ndarray, bounds) -> bool:
    """Whether the map's peak falls in the object's box, with 2 pixels of margin."""
    y0, x0, y1, x1 = bounds
    y, x = np.unravel_index(np.argmax(heatmap), heatmap.shape)
    return bool((y0 - 2 <= y < y1 + 2) and (x0 - 2 <= x < x1 + 2))


@pytest.mark.slow
@pytest.mark.xfail(
    strict=False,
    reason=(
        "measured, not reliable: Grad-CAM at block1_norm1 of this 2-block ViT hits the object in 48, 69 and "
        "74 of 80 images (seeds 42, 1, 2; fixture alone, seeded). Not a library bug: on the trained model the "
        "library equals by_hand_gradcam on the misses (max difference 0.0). Seed 42's misses are the discs: "
        "block 0's class-token attention puts ~1.0 on the disc, block 1's is near uniform, the gradient at "
        "block1_norm1 is ~10x smaller than for squares, and 24 of the 80 maps are all zero. "
        "No recipe tried reached 72/80 on every seed (hits, accuracy): "
        "4-px patches 24/61/74, AdamW + cosine 64/60/69, AdamW lr 3e-3 15 epochs 60/65/70, weight decay 0.05 "
        "61/65, 1 head 35/66, 4 heads 62/73, dim 64 15/66, class token joining at the last block 68/40/43; "
        "3 blocks 10 epochs 79 but accuracy 0.76 (seed 42); 3 blocks 14 epochs 78/75/48 (accuracy 0.95/0.91/0.89); "
        "3 blocks lr 2e-3 14 epochs 42 (seed 2, 0.86); 4 blocks 10 epochs 25 (seed 42, 0.82); 2 blocks 20 "
        "epochs 59 (seed 42, 0.975); stochastic depth 0.5 on block 0's attention 64/60/45 (0.76/0.82/0.81), "
        "16 epochs 66 (seed 2, 0.78); attention dropout on block 0 (no zero maps, but it does not learn the task): "
        "0.5 72 (seed 2, 0.68), 0.3 68 (0.69), 0.3 20 epochs 66 (0.71); "
        "stochastic depth 0.1 on every branch, 3 blocks 14 epochs 21 (seed 2, 0.89); 4 register tokens 51 "
        "(seed 42, zero maps 24 -> 2, misses peak on fixed background tokens), with 3 blocks 14 epochs 36 (seed 2); "
        "more data (training images and weights seeded alike): 8,000 images 10 epochs 47/69/72 (accuracy "
        "0.96/0.99/0.99; 29/1/0 zero maps), 16,000 images 8 epochs 57/70/50 (accuracy 1.0); the test's recipe "
        "at every earlier token layer: best patch_embed 73/57/71, block0_add2 64/28/57, block0_norm1 58/28/30; "
        "16,000 images 10 epochs with stochastic depth 0.5 on block 0's attention 59/68/75 (accuracy 0.98-1.0), "
        "with the class token joining at the last block 71/55/63 (accuracy 0.99-1.0); "
        "stop 17 (training images and weights seeded alike, where the test's recipe gives 48/62/60): "
        "LayerNorm without bias (no constant offset in the map) 52/71/68, without bias in norm1 only "
        "43/66/72, one block 77/48/70, no position embedding 59/69/76, LayerScale 0.1 75/53/58, LayerScale 0.01 "
        "49/73/72, mean pooling instead of the class token 52/77/74 (accuracy 0.94/0.56/0.82). No other map "
        "method reaches 72/80 on every seed of the test's own models (seeds 42/1/2): HiResCAM 77/60/64 (block0_norm1 "
        "77/61/70, the patch tokens 78/54/66), LayerCAM 74/62/71, Score-CAM 67/68/66, and even the input gradient "
        "(saliency, no layer at all) 67/64/50; yet covering each 5x5 patch "
        "with noise finds the object in 80/78/76, and the occlusion method in 76/77/72 (the test below): the "
        "decision rests on the object's pixels, and the gradients of these small models do not show it"
    ),
)
def test_vit_gradcam_peak_falls_on_the_object(trained_vit):
    explainer, images, boxes = trained_vit
    assert explainer.default_layer == "block1_norm1"
    found = [
        peak_on_object(explainer.explain(image, target=label).heatmap, bounds)
        for image, label, bounds in single_objects(images, boxes)
    ]
    hits, total = sum(found), len(found)
    assert hits / total >= 0.9, f"ViT Grad-CAM: peak on the object in {hits} of {total} images"


@pytest.mark.slow
def test_vit_gradcam_on_the_trained_model_is_the_papers_and_points_at_objects_well_above_chance(trained_vit):
    """What holds on the trained ViT while the 90% above does not: every map equals the by-hand
    reference, and the peaks fall on the object at least twice as often as a peak placed at
    random would (measured 48 of 80 for this fixture, against about 14 by chance)."""
    explainer, images, boxes = trained_vit
    hits = total = 0
    chance = 0.0
    for image, label, (y0, x0, y1, x1) in single_objects(images, boxes):
        result = explainer.explain(image, target=label)
        expected = by_hand_gradcam(explainer.keras_model, "block1_norm1", image, label, extra=1, grid=(GRID, GRID))
        np.testing.assert_allclose(result.coarse, expected, rtol=1e-4, atol=max(1e-5 * expected.max(), 1e-6))
        hits += peak_on_object(result.heatmap, (y0, x0, y1, x1))
        chance += (min(y1 + 2, SIZE) - max(y0 - 2, 0)) * (min(x1 + 2, SIZE) - max(x0 - 2, 0)) / SIZE**2
        total += 1
    assert hits >= 2 * chance, f"peak on the object in {hits} of {total} images; chance is {chance:.0f}"


@pytest.mark.slow
def test_vit_occlusion_peak_falls_on_the_object(trained_vit):
    """What the 90% demands, from a method that needs no gradient: covering each square of the
    image and watching the score finds the object in at least 90% of the images (measured 76 of 80
    for this fixture; 77 and 72 for seeds 1 and 2) on the same model where Grad-CAM does not."""
    explainer, images, boxes = trained_vit
    found = [
        peak_on_object(explainer.explain(image, target=label, method="occlusion").heatmap, bounds)
        for image, label, bounds in single_objects(images, boxes)
    ]
    hits, total = sum(found), len(found)
    assert hits / total >= 0.9, f"ViT occlusion: peak on the object in {hits} of {total} images"


def test_concepts_run_on_a_token_layer_with_the_class_token_given_back(random_vit, image):
    """Deep Feature Factorization on a ViT's token layer: the patch tokens as a grid, and the head
    run on each concept's embedding with the image's own class token in front."""
    _, explainer = random_vit
    concepts = explainer.concepts(image, k=3)
    h, w = explainer.layer_functions().token_grid
    assert concepts.coarse.shape == (3, h, w) and concepts.maps.shape == (3, *image.shape[:2])
    # a residual goes around the recommended layer (the last block's first norm): no head of its own
    assert concepts.top_classes == () and "the concept maps themselves are unaffected" in concepts.notes[0]
    activations = np.maximum(
        explainer.layer_functions().to_grid(
            explainer.layer_functions().forward(explainer.prepare_batch([explainer.model_input(image)]))[0]
        )[0],
        0,
    )
    reconstruction = concepts.reconstruction()
    error = np.linalg.norm(activations - reconstruction) / np.linalg.norm(activations)
    assert error == pytest.approx(concepts.reconstruction_error, rel=1e-4)

    pooled = gradcam.Explainer(gap_token_model(), class_names=["a", "b", "c"])
    found = pooled.concepts(np.random.default_rng(2).integers(0, 256, size=(32, 32, 3), dtype=np.uint8), k=2)
    assert len(found.top_classes) == 2 and found.coarse.shape[0] == 2  # mean-pooled tokens: the head runs
