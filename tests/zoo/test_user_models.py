"""Users' own models: acceptance (softmax -> logits, class names, sizes) and every refusal, with the
refusal happening before Keras deserializes anything."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

import model_zoo
from model_zoo import user_models
from model_zoo.errors import InvalidModelError, UnsafeModelError
from tests.helpers.model_files import rewrite_config

keras = pytest.importorskip("keras")


def _tiny_cnn(classes=3, activation="softmax", channels=3, size=(32, 32), softmax_layer=False):
    inp = keras.Input((*size, channels), name="img")
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inp)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    if softmax_layer:
        x = keras.layers.Dense(classes, name="scores")(x)
        out = keras.layers.Softmax(name="probs")(x)
    else:
        out = keras.layers.Dense(classes, activation=activation, name="scores")(x)
    return keras.Model(inp, out)


@pytest.fixture(autouse=True)
def _no_keras_load(monkeypatch, request):
    """For refusal tests: fail loudly if Keras deserialization is reached at all."""
    if "refusal" in request.node.name:

        def boom(*a, **k):
            raise AssertionError("keras.saving.load_model was called on a model that must be refused first")

        monkeypatch.setattr(keras.saving, "load_model", boom)


def test_accepts_softmax_model_and_explains_logits(tmp_path):
    model = _tiny_cnn()
    path = tmp_path / "m.keras"
    model.save(path)
    names = tmp_path / "names.txt"
    names.write_text("cat\ndog\n\nbird\n")
    zm = model_zoo.load_user_model(path, class_names=names, preprocessing="unit")
    assert zm.class_names == ["cat", "dog", "bird"]
    assert zm.input_size == (32, 32) and zm.preprocessing == "unit"
    assert zm.keras_model.output_shape == (None, 3)
    x = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    logits = np.asarray(zm.keras_model(zm.preprocess(x)))
    probs = np.asarray(model(x.astype(np.float32) / 255))
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(e / e.sum(axis=1, keepdims=True), probs, rtol=1e-5, atol=1e-6)
    assert not np.allclose(logits.sum(axis=1), 1.0)  # really logits, not probabilities
    assert "softmax" in zm.description and zm.weights_sha256 == model_zoo.cache.sha256_file(path)
    # The user's loaded model object keeps its softmax (not mutated): load again and compare.
    again = keras.saving.load_model(path, safe_mode=True, compile=False)
    assert again.layers[-1].get_config()["activation"] == "softmax"


def test_accepts_softmax_layer_h5_and_json_names(tmp_path):
    model = _tiny_cnn(classes=2, softmax_layer=True)
    path = tmp_path / "m.h5"
    model.save(path)
    names = tmp_path / "names.json"
    names.write_text(json.dumps(["no", "yes"]))
    zm = model_zoo.load_user_model(path, class_names=names)
    assert zm.class_names == ["no", "yes"] and zm.keras_model.layers[-1].name == "scores"
    x = np.random.default_rng(2).integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    pre_softmax = keras.Model(model.inputs[0], model.get_layer("scores").output)
    np.testing.assert_allclose(
        np.asarray(zm.keras_model(zm.preprocess(x))), np.asarray(pre_softmax(zm.preprocess(x))), rtol=1e-5, atol=1e-6
    )


def test_accepts_sequential_softmax_model(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(2, 3, name="c"),
            keras.layers.Flatten(),
            keras.layers.Dense(5, activation="softmax", name="d"),
        ]
    )
    path = tmp_path / "seq.keras"
    model.save(path)
    zm = model_zoo.load_user_model(path, class_names=list("abcde"), preprocessing="raw")
    assert zm.class_names == list("abcde") and zm.input_size == (16, 16)
    x = np.random.default_rng(3).integers(0, 256, (1, 16, 16, 3), dtype=np.uint8)
    logits = np.asarray(zm.keras_model(zm.preprocess(x)))[0]
    p = np.exp(logits - logits.max())
    np.testing.assert_allclose(p / p.sum(), np.asarray(model(x.astype(np.float32)))[0], rtol=1e-5, atol=1e-6)
    assert "c" in [layer.name for layer in zm.keras_model.layers]  # conv layers stay pickable


def test_logits_model_unchanged_and_numbered_names(tmp_path):
    path = tmp_path / "logits.keras"
    _tiny_cnn(classes=4, activation=None).save(path)
    zm = model_zoo.load_user_model(path)
    assert zm.class_names == ["class 0", "class 1", "class 2", "class 3"]
    assert "numbered" in zm.description


def test_grayscale_and_dynamic_input(tmp_path):
    inp = keras.Input((None, None, 1))
    x = keras.layers.Conv2D(2, 3)(inp)
    out = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x))
    path = tmp_path / "gray.keras"
    keras.Model(inp, out).save(path)
    zm = model_zoo.load_user_model(path, preprocessing="unit")
    assert zm.input_size == (224, 224) and "dynamic" in zm.description
    batch = zm.preprocess(np.full((1, 224, 224, 3), 255, np.uint8))
    assert batch.shape == (1, 224, 224, 1) and np.allclose(batch, 1.0)
    with pytest.raises(InvalidModelError, match="needs RGB"):
        model_zoo.load_user_model(path, preprocessing="torch")


def test_class_name_count_mismatch(tmp_path):
    path = tmp_path / "m.keras"
    _tiny_cnn().save(path)
    names = tmp_path / "names.txt"
    names.write_text("a\nb\n")
    with pytest.raises(InvalidModelError, match="3 outputs but the file lists 2"):
        model_zoo.load_user_model(path, class_names=names)
    bad = tmp_path / "names.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidModelError, match="not valid JSON"):
        model_zoo.load_user_model(path, class_names=bad)


def test_not_a_classifier(tmp_path):
    inp = keras.Input((16, 16, 3))
    seg = keras.layers.Conv2D(2, 1)(inp)  # a 4-D output: segmentation, not classification
    path = tmp_path / "seg.keras"
    keras.Model(inp, seg).save(path)
    with pytest.raises(InvalidModelError, match=r"one output of shape \(batch, classes\)"):
        model_zoo.load_user_model(path)
    vec = keras.Input((10,))
    path2 = tmp_path / "vector.keras"
    keras.Model(vec, keras.layers.Dense(2)(vec)).save(path2)
    with pytest.raises(InvalidModelError, match=r"\(batch, H, W, C\)"):
        model_zoo.load_user_model(path2)
    a, b = keras.Input((8, 8, 3)), keras.Input((8, 8, 3))
    two = keras.layers.Dense(2)(keras.layers.Flatten()(keras.layers.Add()([a, b])))
    path3 = tmp_path / "two_inputs.keras"
    keras.Model([a, b], two).save(path3)
    with pytest.raises(InvalidModelError, match="one image input; found 2"):
        model_zoo.load_user_model(path3)


def test_bad_preset_name(tmp_path):
    path = tmp_path / "m.keras"
    _tiny_cnn().save(path)
    with pytest.raises(InvalidModelError, match="Unknown preprocessing preset"):
        model_zoo.load_user_model(path, preprocessing="imagenet")


# ----------------------------------------------------------------------------- refusals


def _layers(cfg):
    return cfg["config"]["layers"]


def test_refusal_lambda_layer(tmp_path):
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Lambda(lambda t: t * 2.0, name="double")(inp)
    out = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x))
    path = tmp_path / "lambda.keras"
    keras.Model(inp, out).save(path)
    with pytest.raises(UnsafeModelError, match="Lambda layer") as info:
        model_zoo.load_user_model(path)
    assert "double" in str(info.value) and "built-in" in str(info.value)


def test_refusal_lambda_in_nested_model(tmp_path):
    inner_in = keras.Input((8, 8, 3))
    inner = keras.Model(inner_in, keras.layers.Lambda(lambda t: t + 1, name="hidden")(inner_in), name="inner")
    inp = keras.Input((8, 8, 3))
    out = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(inner(inp)))
    path = tmp_path / "nested.keras"
    keras.Model(inp, out).save(path)
    with pytest.raises(UnsafeModelError, match="Lambda") as info:
        model_zoo.load_user_model(path)
    assert "inner" in str(info.value)


def test_refusal_lambda_in_h5(tmp_path):
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Lambda(lambda t: t * 2.0)(inp)
    out = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x))
    path = tmp_path / "lambda.h5"
    keras.Model(inp, out).save(path)
    with pytest.raises(UnsafeModelError, match="Lambda"):
        model_zoo.load_user_model(path)


def test_refusal_non_keras_module(tmp_path):
    path = tmp_path / "os.keras"
    _tiny_cnn().save(path)
    rewrite_config(path, lambda cfg: _layers(cfg)[1].update(module="os", class_name="system"))
    with pytest.raises(UnsafeModelError, match="module 'os'"):
        model_zoo.load_user_model(path)


def test_refusal_custom_registered_object(tmp_path):
    path = tmp_path / "custom.keras"
    _tiny_cnn().save(path)

    def mutate(cfg):
        layer = _layers(cfg)[1]
        layer.update(module="keras.layers", class_name="MyConv", registered_name="mypkg>MyConv")

    rewrite_config(path, mutate)
    with pytest.raises(UnsafeModelError, match="mypkg>MyConv"):
        model_zoo.load_user_model(path)


def test_refusal_unknown_class_in_legacy_config():
    cfg = {"class_name": "Functional", "config": {"layers": [{"class_name": "EvilLayer", "config": {"name": "e"}}]}}
    with pytest.raises(UnsafeModelError, match="EvilLayer"):
        user_models.check_config(cfg, "x.h5")


def test_refusal_file_backed_lookup(tmp_path):
    path = tmp_path / "lookup.keras"
    _tiny_cnn().save(path)

    def mutate(cfg):
        _layers(cfg).append(
            {
                "module": "keras.layers",
                "class_name": "StringLookup",
                "config": {"name": "vocab", "vocabulary": "/etc/passwd"},
                "registered_name": None,
            }
        )

    rewrite_config(path, mutate)
    with pytest.raises(UnsafeModelError, match="/etc/passwd"):
        model_zoo.load_user_model(path)


def test_refusal_file_too_large(tmp_path, monkeypatch):
    from gradcam import limits

    path = tmp_path / "m.keras"
    _tiny_cnn().save(path)
    monkeypatch.setattr(limits, "MAX_MODEL_BYTES", 1000)
    with pytest.raises(UnsafeModelError, match="GRADCAM_MAX_MODEL_BYTES"):
        model_zoo.load_user_model(path)


def test_refusal_zip_that_is_not_keras(tmp_path):
    path = tmp_path / "fake.keras"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("hello.txt", "hi")
    with pytest.raises(InvalidModelError, match="config.json"):
        model_zoo.load_user_model(path)
    path2 = tmp_path / "plain.keras"
    path2.write_bytes(b"not a zip")
    with pytest.raises(InvalidModelError, match="not a zip"):
        model_zoo.load_user_model(path2)
    path3 = tmp_path / "model.pt"
    path3.write_bytes(b"x")
    with pytest.raises(InvalidModelError, match=r"\.keras or \.h5"):
        model_zoo.load_user_model(path3)
