"""The engine's parts on their own: the method contract, the upsampling helper, the activation
cache, the image digest, the tie rule and the public accessors that replace private reach-ins."""

from __future__ import annotations

import threading
import typing

import keras
import numpy as np
import pytest

import gradcam
from gradcam.cache import ActivationCache, DigestMemo, fill_rows
from gradcam.errors import LayerError, MethodError
from gradcam.images import image_digest
from gradcam.job import BatchJob, Job
from gradcam.methods import COMMON_OPTIONS, MethodOutput, Option
from gradcam.resize import upsample
from tests.helpers.images import random_image

FAST_OPTIONS = {"scorecam": {"channels": 8}, "smoothgrad": {"samples": 4}}
PIXEL_ATTRIBUTIONS = {"saliency", "smoothgrad", "guidedbackprop", "guidedgradcam"}


@pytest.fixture(scope="module")
def explainer(small_cnn):
    return gradcam.Explainer(small_cnn)


# -- the method contract --------------------------------------------------------------------------
@pytest.mark.parametrize("key", list(gradcam.METHODS))
def test_every_method_returns_a_method_output(explainer, key, monkeypatch):
    method = gradcam.METHODS[key]
    returned = []
    compute = type(method).compute
    monkeypatch.setattr(type(method), "compute", lambda self, job: returned.append(compute(self, job)) or returned[-1])
    image = random_image(np.random.default_rng(3), 40, 50)
    result = explainer.explain(image, target=1, method=key, **FAST_OPTIONS.get(key, {}))
    (output,) = returned
    assert isinstance(output, MethodOutput)
    h, w = explainer.input_size
    if method.uses_layer:
        assert output.maps.shape[0] == 1 and output.maps.shape[1:] == result.coarse.shape
    else:
        assert output.maps.shape == (1, h, w)
    if key in PIXEL_ATTRIBUTIONS:
        assert output.attributions.shape == (1, h, w, 3)
        np.testing.assert_array_equal(result.attribution, output.attributions[0])
    else:
        assert output.attributions is None and result.attribution is None


def test_the_job_declares_what_it_offers_and_nothing_is_written_onto_it():
    offered = {name for name in dir(Job) if not name.startswith("_")} | set(typing.get_type_hints(Job))
    assert offered >= {
        "x",
        "keys",
        "options",
        "progress",
        "option",
        "activations",
        "logits",
        "weights",
        "gradients",
        "head_logits",
        "probabilities_of_inputs",
        "input_gradients",
        "gap_dense_head",
    }
    for name in offered - {"x", "keys", "options", "progress"}:
        assert callable(getattr(BatchJob, name)), name
    assert not hasattr(BatchJob, "attributions")


def test_options_are_declared_as_data_with_their_defaults():
    declared = {key: {o.name: o.default for o in m.options} for key, m in gradcam.METHODS.items() if m.options}
    assert declared == {
        "scorecam": {"batch_size": 32, "channels": None},
        "ablationcam": {"batch_size": 128},
        "smoothgrad": {"samples": 25, "noise": 0.15, "batch_size": 16, "seed": 0},
        "occlusion": {"window": None, "stride": None, "batch_size": 32},
    }
    for method in gradcam.METHODS.values():
        for option in method.options:
            assert isinstance(option, Option) and option.help.strip(), (method.key, option)
        assert method.option_names() == tuple(o.name for o in method.options)
        assert method.defaults() == {o.name: o.default for o in method.options}


def test_slow_is_an_attribute_set_for_the_many_pass_methods():
    slow = {key for key, m in gradcam.METHODS.items() if m.slow}
    assert slow == {"scorecam", "ablationcam", "smoothgrad", "occlusion"}
    for method in gradcam.METHODS.values():
        assert isinstance(method.slow, bool) and method.passes  # the text for people stays


def test_options_are_resolved_converted_and_unknown_ones_refused(explainer):
    smoothgrad = gradcam.METHODS["smoothgrad"]
    assert smoothgrad.resolve_options({"samples": "4"}) == {"samples": 4, "noise": 0.15, "batch_size": 16, "seed": 0}
    with pytest.raises(MethodError, match=r"Option samples='many' is not usable: int expected"):
        smoothgrad.resolve_options({"samples": "many"})
    image = random_image(np.random.default_rng(4), 32, 32)
    with pytest.raises(MethodError) as refused:
        explainer.explain(image, method="scorecam", chanels=8)
    assert "Unknown option(s) chanels for Score-CAM" in str(refused.value)
    assert "valid options: aug_smooth, batch_size, channels, progress" in str(refused.value)
    assert set(COMMON_OPTIONS) == {"aug_smooth", "progress"}
    # Given as text or as a number, an option means the same.
    as_text = explainer.explain(image, method="scorecam", channels="4")
    as_number = explainer.explain(image, method="scorecam", channels=4)
    np.testing.assert_array_equal(as_text.heatmap, as_number.heatmap)


# -- upsampling -------------------------------------------------------------------------------------
def test_upsample_on_a_hand_computed_2x2():
    # Half-pixel centres: output x = 0..3 samples input x = -0.25, 0.25, 0.75, 1.25, clamped to
    # [0, 1]: weights of [a, b] are [1, 0], [.75, .25], [.25, .75], [0, 1]. With rows weighted the
    # same way, out[i, j] = c[j] + 2 c[i] for c = [0, .25, .75, 1].
    c = np.array([0.0, 0.25, 0.75, 1.0])
    expected = c[None, :] + 2 * c[:, None]
    out = upsample(np.array([[0.0, 1.0], [2.0, 3.0]]), (4, 4))
    assert out.dtype == np.float32 and out.shape == (4, 4)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    stacked = upsample(np.stack([np.array([[0.0, 1.0], [2.0, 3.0]])] * 3), (4, 4))
    np.testing.assert_allclose(stacked, np.stack([expected] * 3), atol=1e-6)


@pytest.mark.parametrize(
    "shape, size",
    [
        ((7, 7), (224, 224)),
        ((3, 5, 9), (45, 70)),
        ((300, 4, 6), (32, 32)),
        ((2, 16, 16), (30, 90)),
        ((1, 14, 14), (400, 600)),
    ],
)
def test_upsample_agrees_with_tensorflow_bilinear(shape, size):
    """The three former paths (OpenCV in the explainer, tf.image.resize in Guided Grad-CAM and
    Score-CAM) give the same maps: only float rounding differs."""
    import tensorflow as tf

    maps = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    stack = maps if maps.ndim == 3 else maps[None]
    reference = tf.image.resize(stack[..., None], size, method="bilinear").numpy()[..., 0]
    ours = upsample(maps, size)
    np.testing.assert_allclose(ours, reference if maps.ndim == 3 else reference[0], atol=2e-5)


def test_upsample_refuses_other_shapes():
    with pytest.raises(ValueError, match=r"a map \(h, w\) or a stack of maps \(B, h, w\); got shape \(1, 2, 2, 3\)"):
        upsample(np.zeros((1, 2, 2, 3)), (4, 4))


# -- the cache --------------------------------------------------------------------------------------
def _entry(nbytes: int) -> dict:
    return {"a": np.zeros(nbytes, np.uint8), "label": "not counted"}


def test_cache_evicts_the_least_recently_used_entry():
    cache = ActivationCache(max_entries=3, max_megabytes=1)
    for key in "abc":
        cache.put(key, _entry(10))
    assert cache.get("a") is not None  # "a" is now the most recently used
    cache.put("d", _entry(10))
    assert "b" not in cache and all(k in cache for k in "acd")
    assert len(cache) == 3 and cache.nbytes == 30


def test_cache_keeps_to_its_byte_budget_and_counts_replacements():
    cache = ActivationCache(max_entries=100, max_megabytes=1000 / 2**20)  # 1000 bytes
    cache.put("a", _entry(400))
    cache.put("b", _entry(400))
    cache.put("a", _entry(100))  # a replacement frees the old entry's bytes
    assert cache.nbytes == 500 and len(cache) == 2
    cache.put("c", _entry(600))  # 1100 > 1000: the least recently used ("b") goes
    assert "b" not in cache and cache.nbytes == 700
    cache.put("huge", _entry(5000))  # larger than the whole budget: not kept, and evicts all
    assert "huge" not in cache and cache.nbytes == 0 and len(cache) == 0
    cache.put("a", _entry(10))
    cache.clear()
    assert len(cache) == 0 and cache.nbytes == 0 and cache.get("a") is None


def test_cache_reads_the_limits_at_each_put(monkeypatch):
    from gradcam import limits

    cache = ActivationCache()
    monkeypatch.setattr(limits, "ACTIVATION_CACHE_ENTRIES", 2)
    for key in range(5):
        cache.put(key, _entry(1))
    assert len(cache) == 2 and cache.max_entries == 2


def test_cache_stays_consistent_under_threads():
    cache = ActivationCache(max_entries=8, max_megabytes=1)
    barrier = threading.Barrier(8)

    def work(k):
        barrier.wait()
        for i in range(300):
            cache.put((k, i % 13), _entry(100 + k))
            cache.get((k, (i * 7) % 13))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) <= 8
    assert cache.nbytes == sum(cache.get(key)["a"].nbytes for key in list(cache._entries))


def test_fill_rows_computes_each_missing_key_once_in_one_call():
    stored, calls = {"k1": "cached"}, []

    def compute(rows):
        calls.append(rows)
        return [f"computed {row}" for row in rows]

    def store(key, row, value):
        stored[key] = value

    values = fill_rows(["k0", "k1", "k0", "k2"], stored.get, compute, store)
    assert values == ["computed 0", "cached", "computed 0", "computed 3"]
    assert calls == [[0, 3]]
    assert stored == {"k0": "computed 0", "k1": "cached", "k2": "computed 3"}


# -- the image digest -------------------------------------------------------------------------------
def test_one_digest_that_changes_with_pixels_shape_and_dtype():
    image = random_image(np.random.default_rng(1), 20, 30)
    assert image_digest(image) == image_digest(image.copy()) == gradcam.image_digest(image)
    assert len(image_digest(image)) == 32
    changed = image.copy()
    changed[3, 4, 1] ^= 1
    assert image_digest(changed) != image_digest(image)
    assert image_digest(image.reshape(30, 20, 3)) != image_digest(image)
    assert image_digest(image.astype(np.uint16)) != image_digest(image)
    assert image_digest(np.asfortranarray(image)) == image_digest(image)  # the pixels, not the layout


def test_digest_memo_never_reuses_a_digest_for_changed_pixels():
    memo = DigestMemo(size=2)
    image = random_image(np.random.default_rng(2), 40, 60)
    first = memo.digest(image)
    assert memo.digest(image) == first == image_digest(image)
    image[10, 10] = 255 - image[10, 10]  # changed in place: same object, same address
    assert memo.digest(image) == image_digest(image) != first
    odd = random_image(np.random.default_rng(3), 5, 7)  # 105 bytes: not a multiple of 8
    assert memo.digest(odd) == image_digest(odd)
    odd[0, 0, 0] ^= 1
    assert memo.digest(odd) == image_digest(odd)


def test_an_image_changed_in_place_is_explained_afresh(explainer):
    image = random_image(np.random.default_rng(5), 32, 32)
    before = explainer.explain(image, target=0)
    image[:16] = 255 - image[:16]
    after = explainer.explain(image, target=0)
    fresh = gradcam.Explainer(explainer.keras_model).explain(image, target=0)
    assert not np.allclose(before.coarse, after.coarse)
    np.testing.assert_allclose(after.heatmap, fresh.heatmap, atol=1e-6)


# -- ties ---------------------------------------------------------------------------------------------
def _all_equal_model(head: str) -> keras.Model:
    """Every logit is exactly 0 whatever the image: an untrained model at its most undecided."""
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x) if head == "gap" else keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(6, kernel_initializer="zeros", activation="softmax", name="out")(x)
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("head", ["gap", "flatten"])
def test_ties_go_to_the_lowest_class_index_everywhere(head):
    names = ["fig", "lemon", "apple", "kiwi", "plum", "date"]
    explainer = gradcam.Explainer(_all_equal_model(head), class_names=names)
    image = random_image(np.random.default_rng(6), 20, 24)
    probabilities = explainer.predict(image)
    np.testing.assert_allclose(probabilities, 1 / 6, rtol=1e-6)
    expected_top = [(i, names[i]) for i in range(5)]
    assert [(i, n) for i, n, _ in explainer.top_k(image)] == expected_top
    assert [(i, n) for i, n, _ in gradcam.top_classes(probabilities, names)] == expected_top
    assert int(np.argmax(probabilities)) == 0
    # The top prediction chosen inside each compiled path, and from cached activations.
    for method in ("gradcam", "hirescam", "saliency", "guidedbackprop", "eigencam"):
        result = explainer.explain(image, method=method)
        assert result.target_index == 0 and result.target_name == "fig", method
        assert [(i, n) for i, n, _ in result.top] == expected_top
    fresh = gradcam.Explainer(_all_equal_model(head), class_names=names).explain_batch([image, image[::-1]])
    assert [r.target_index for r in fresh] == [0, 0]


def test_top_classes_orders_by_probability_then_index():
    p = np.array([0.1, 0.3, 0.1, 0.3, 0.2], np.float32)
    assert [i for i, _, _ in gradcam.top_classes(p, list("abcde"), k=5)] == [1, 3, 4, 0, 2]
    assert gradcam.top_classes(p, list("abcde"), k=2) == [(1, "b", pytest.approx(0.3)), (3, "d", pytest.approx(0.3))]
    assert gradcam.top_classes(p, list("abcde"), k=0) == []


# -- public accessors ---------------------------------------------------------------------------
def test_public_accessors_replace_the_private_reach_ins(explainer, small_cnn):
    assert explainer.layer_path(None) == explainer.default_layer == "conv2"
    assert explainer.layer_path("conv1") == "conv1"
    with pytest.raises(LayerError, match="conv1"):
        explainer.layer_path("conv9")
    functions = explainer.layer_functions("conv1")
    assert functions.layer.path == "conv1" and functions is explainer.layer_functions("conv1")
    assert explainer.layer_functions().layer.path == "conv2"
    assert gradcam.candidate_layers(small_cnn) == explainer.layers == ["conv1", "pool1", "conv2"]
    explainer.clear_cache()
    explainer.explain(random_image(np.random.default_rng(7), 32, 32))
    assert len(explainer.cache) == 2 and explainer.cache.nbytes > 0  # the input, one layer's activations
    explainer.clear_cache()
    assert len(explainer.cache) == 0 and explainer.cache.nbytes == 0
    logits = np.array([[0.0, 1.0, 2.0, 3.0, 4.0]])
    np.testing.assert_allclose(explainer.probabilities_from_logits(logits), explainer.probabilities(logits))


def test_the_sparse_channel_weights_equal_the_full_product(small_cnn, monkeypatch):
    """A GAP + dense head's closed-form gradient reads only the target classes' kernel columns;
    with every class weighted it multiplies by the whole kernel: both must agree."""
    from gradcam import compute

    explainer = gradcam.Explainer(small_cnn)
    image = random_image(np.random.default_rng(8), 32, 32)
    targets = [0, gradcam.Contrast(1, 3), np.array([0.5, -1.0, 2.0, 0.0, 0.25], np.float32)]
    explainer.explain(image)  # cache the activations: the next calls take the head route
    sparse = explainer.explain_targets(image, targets, method="hirescam")
    monkeypatch.setattr(compute, "_FEW_CLASSES", 0)
    full = explainer.explain_targets(image, targets, method="hirescam")
    for a, b in zip(sparse, full):
        np.testing.assert_allclose(a.coarse, b.coarse, rtol=1e-5, atol=1e-7)


def test_explanation_from_raw_names_the_empty_case():
    names = ["cat", "dog", "fox"]
    result = gradcam.Explanation.from_raw(
        -np.ones((2, 2)),
        image_size=(4, 6),
        model_input=np.zeros((2, 2, 3), np.uint8),
        probabilities=np.array([0.2, 0.5, 0.3], np.float32),
        weights=np.array([0.0, 1.0, -1.0]),
        class_names=names,
        method="gradcam",
        method_label="Grad-CAM",
        layer="conv",
        seconds=0.1,
    )
    assert result.empty and result.peak == 0.0 and result.heatmap.shape == (4, 6) and not result.heatmap.any()
    assert (result.target_index, result.contrast_index, result.label) == (1, 2, "dog rather than fox")
    assert result.message.startswith("No positive evidence for 'dog' rather than 'fox' at conv with Grad-CAM")
    shown = gradcam.Explanation.from_raw(
        np.array([[0.0, 2.0], [np.nan, -1.0]]),
        image_size=(2, 2),
        model_input=np.zeros((2, 2, 3), np.uint8),
        probabilities=np.array([0.2, 0.5, 0.3], np.float32),
        weights=np.zeros(3),
        class_names=names,
        method="gradcam",
        method_label="Grad-CAM",
        layer="conv",
        seconds=0.1,
    )
    assert shown.target_index == 1 and shown.peak == 2.0 and not shown.empty  # no weight: the top class
    np.testing.assert_array_equal(shown.coarse, [[0.0, 2.0], [0.0, 0.0]])
    np.testing.assert_array_equal(shown.heatmap, [[0.0, 1.0], [0.0, 0.0]])


# -- the dataset writer's fast paths --------------------------------------------------------------
def test_stored_heatmaps_round_as_numpy_does_on_every_float16_boundary():
    from gradcam.dataset.results import stored_heatmap

    # Every float16 in [0, 1], the float32 midpoints between neighbours (where ties round to
    # even) and the float32 values either side of each midpoint, plus -0.0 and values to clip.
    halves = np.arange(0, 0x3C01, dtype=np.uint16).view(np.float16).astype(np.float32)
    middles = (halves[:-1] + halves[1:]) / 2
    values = np.concatenate(
        [
            halves,
            middles,
            np.nextafter(middles, np.float32(0)),
            np.nextafter(middles, np.float32(2)),
            np.float32([-0.0, -1.0, 1.5, 3e-8]),
        ]
    )
    values = np.resize(values, (len(values) // 7 + 1, 7)).astype(np.float32)
    expected = np.clip(values, 0.0, 1.0).astype(np.float16)
    stored = stored_heatmap(values)
    assert stored.dtype == np.float16 and stored.shape == values.shape
    assert np.array_equal(stored.view(np.uint16), expected.view(np.uint16))
    assert np.array_equal(stored_heatmap(stored).view(np.uint16), expected.view(np.uint16))


def test_peak_location_searches_only_the_rows_with_the_maximum_and_finds_the_same_pixel():
    from gradcam.metrics import peak_location

    def everywhere(heatmap):  # the plain search over the whole map
        if not heatmap.max() > heatmap.min():
            return None
        ys, xs = np.nonzero(heatmap >= heatmap.max())
        nearest = np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2)
        return int(xs[nearest]), int(ys[nearest])

    rng = np.random.default_rng(5)
    for _ in range(200):
        coarse = np.round(np.maximum(rng.normal(size=tuple(rng.integers(1, 5, 2))), 0)).astype(np.float32)
        coarse.flat[rng.integers(coarse.size)] = 2.0
        heatmap = upsample(coarse, tuple(int(v) for v in rng.integers(2, 300, 2)))
        assert peak_location(heatmap) == everywhere(heatmap)
