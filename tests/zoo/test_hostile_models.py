"""Hostile and broken model files are refused with a clear message *before* any of their code runs.

Every payload here would create a marker file if its code ran. Each test loads the file through
``model_zoo.load_user_model`` (or the legacy .pth reader), expects UnsafeModelError /
InvalidModelError / WeightsFileError naming the cause, and asserts that the marker never appeared.
A control test shows that the Lambda payload *does* create its marker when Keras loads it with
``safe_mode=False``, so these tests are able to fail.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import model_zoo
from gradcam import limits
from model_zoo.errors import InvalidModelError, UnsafeModelError, WeightsFileError

keras = pytest.importorskip("keras")


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "PWNED"
    yield path
    assert not path.exists(), "a payload ran: the marker file was created"


@pytest.fixture
def no_keras_load(monkeypatch):
    """Count calls to keras.saving.load_model: refusals must come before it."""
    calls = []
    real = keras.saving.load_model

    def spy(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(keras.saving, "load_model", spy)
    return calls


def touching_function(marker):
    """A function whose only effect is to create ``marker``; its code is what Lambda serializes."""
    return eval(f"lambda t: (__import__('pathlib').Path({str(marker)!r}).touch(), t)[1]")  # noqa: S307


def lambda_model(marker):
    inp = keras.Input((16, 16, 3), name="img")
    x = keras.layers.Lambda(touching_function(marker), name="payload")(inp)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(x)
    out = keras.layers.Dense(2, name="scores")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inp, out)
    marker.unlink(missing_ok=True)  # building the graph called the function once, here
    return model


from tests.helpers.model_files import rewrite_config  # noqa: E402


def plain_model(classes=3):
    inp = keras.Input((16, 16, 3), name="img")
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inp)
    out = keras.layers.Dense(classes, activation="softmax", name="scores")(keras.layers.GlobalAveragePooling2D()(x))
    return keras.Model(inp, out)


def refused(path, error, *fragments, class_names=None):
    with pytest.raises(error) as info:
        model_zoo.load_user_model(path, class_names=class_names)
    message = str(info.value)
    assert "\n" not in message and str(path) in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


# -- code in the configuration -------------------------------------------------------------------


def test_lambda_payload_really_runs_when_keras_loads_it_unsafely(tmp_path, marker):
    """Control: the payload is live. Keras with safe_mode=False (in a child process) creates the marker."""
    path = tmp_path / "lambda.keras"
    lambda_model(marker).save(path)
    code = textwrap.dedent(f"""
        import keras
        keras.saving.load_model({str(path)!r}, safe_mode=False, compile=False)
    """)
    subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        timeout=120,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert marker.exists()
    marker.unlink()


def test_lambda_keras_refused_before_loading(tmp_path, marker, no_keras_load):
    path = tmp_path / "lambda.keras"
    lambda_model(marker).save(path)
    layer = json.loads(zipfile.ZipFile(path).read("config.json"))["config"]["layers"][1]
    assert layer["class_name"] == "Lambda" and "__lambda__" in json.dumps(layer)  # the code is in there
    refused(path, UnsafeModelError, "Lambda layer", "'payload'", "refused before loading")
    assert no_keras_load == []


def test_lambda_h5_refused_before_loading(tmp_path, marker, no_keras_load):
    path = tmp_path / "lambda.h5"
    lambda_model(marker).save(path)
    refused(path, UnsafeModelError, "Lambda layer", "refused before loading")
    assert no_keras_load == []


@pytest.mark.parametrize(
    "module, name, config",
    [
        ("os", "system", "touch {marker}"),
        ("builtins", "exec", "open({marker!r}, 'w').close()"),
        ("subprocess", "run", ["touch", "{marker}"]),
    ],
)
def test_config_naming_a_module_outside_keras_is_refused(tmp_path, marker, no_keras_load, module, name, config):
    path = tmp_path / f"{module}.keras"
    plain_model().save(path)
    arg = json.loads(json.dumps(config).replace("{marker}", str(marker)).replace("{marker!r}", repr(str(marker))))

    def mutate(cfg):
        cfg["config"]["layers"][1].update(module=module, class_name=name, config={"command": arg}, registered_name=None)

    rewrite_config(path, mutate)
    refused(path, UnsafeModelError, f"module '{module}'")
    assert no_keras_load == []


def test_module_that_only_starts_like_keras_is_refused(tmp_path, marker, no_keras_load, monkeypatch):
    """'kerasevil' is not Keras: a planted module of that name would run on import."""
    (tmp_path / "kerasevil.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).touch()\nclass Conv2D:\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "lookalike.keras"
    plain_model().save(path)
    rewrite_config(path, lambda cfg: cfg["config"]["layers"][1].update(module="kerasevil"))
    refused(path, UnsafeModelError, "module 'kerasevil'")
    assert no_keras_load == [] and "kerasevil" not in sys.modules


@pytest.mark.parametrize(
    "module, function",
    [
        ("keras.utils", "get_file"),
        ("keras.config", "enable_unsafe_deserialization"),
        ("keras.saving", "load_model"),
    ],
)
def test_keras_functions_that_are_not_activations_are_refused(tmp_path, marker, no_keras_load, module, function):
    """A Keras function object in a config (here as a layer's activation) must be an activation,
    loss or metric: get_file with a file:// origin would write a file, enable_unsafe_deserialization
    would switch safe mode off for whatever is loaded next."""
    source = tmp_path / "source.txt"
    source.write_text("x")
    path = tmp_path / "function.keras"
    plain_model().save(path)

    def mutate(cfg):
        dense = cfg["config"]["layers"][-1]
        dense["config"]["activation"] = {
            "module": module,
            "class_name": "function",
            "config": function,
            "registered_name": None,
        }
        dense["inbound_nodes"][0]["kwargs"] = {"fname": str(marker), "origin": source.as_uri()}

    rewrite_config(path, mutate)
    refused(path, UnsafeModelError, f"{module}.{function}")
    assert no_keras_load == []


def test_file_backed_lookup_refused(tmp_path, marker, no_keras_load):
    secret = tmp_path / "secret.txt"
    secret.write_text("password\n")
    path = tmp_path / "lookup.keras"
    plain_model().save(path)
    rewrite_config(
        path,
        lambda cfg: cfg["config"]["layers"].append(
            {
                "module": "keras.layers",
                "class_name": "StringLookup",
                "registered_name": None,
                "config": {"name": "vocab", "vocabulary": str(secret)},
                "inbound_nodes": [],
            }
        ),
    )
    refused(path, UnsafeModelError, str(secret), "reads its vocabulary from the file")
    assert no_keras_load == []


# -- broken or oversized files -------------------------------------------------------------------


def test_file_over_the_size_cap_refused_before_reading(tmp_path, marker, no_keras_load, monkeypatch):
    path = tmp_path / "big.keras"
    lambda_model(marker).save(path)
    monkeypatch.setattr(limits, "MAX_MODEL_BYTES", 1024)
    refused(path, UnsafeModelError, "the limit is", "GRADCAM_MAX_MODEL_BYTES")
    assert no_keras_load == []


def test_config_json_bomb_refused_without_inflating_it(tmp_path, no_keras_load, monkeypatch):
    """A .keras archive whose config.json inflates to far more than any real config."""
    monkeypatch.setattr(limits, "MAX_MODEL_CONFIG_BYTES", 1 << 20)
    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", b"[" + b" " * (64 << 20) + b"]")
        archive.writestr("metadata.json", b"{}")
    assert path.stat().st_size < 1 << 20
    refused(path, InvalidModelError, "config.json", "GRADCAM_MAX_MODEL_CONFIG_BYTES")
    assert no_keras_load == []


def test_zip_that_is_not_a_keras_file_refused(tmp_path, marker, no_keras_load):
    path = tmp_path / "archive.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("__main__.py", f"import pathlib; pathlib.Path({str(marker)!r}).touch()")
    refused(path, InvalidModelError, "config.json")
    assert no_keras_load == []


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_in_an_h5_attribute_is_never_unpickled(tmp_path, marker):
    import h5py

    path = tmp_path / "pickled.h5"
    plain_model().save(path)
    with h5py.File(path, "a") as handle:
        handle.attrs["training_config"] = np.void(pickle.dumps(_Payload(marker)))
    model = model_zoo.load_user_model(path)  # the model itself is fine; the attribute stays data
    assert model.class_names == ["class 0", "class 1", "class 2"]
    with h5py.File(path, "a") as handle:
        handle.attrs["model_config"] = np.void(pickle.dumps(_Payload(marker)))
    refused(path, InvalidModelError, "model_config")


def test_hostile_legacy_pth_refused(tmp_path, marker):
    from model_zoo import torch_legacy

    for where in ("header", "state dict"):
        path = tmp_path / f"hostile_{where.replace(' ', '_')}.pth"
        with open(path, "wb") as handle:
            if where == "header":
                pickle.dump(_Payload(marker), handle, protocol=2)
            else:
                for header in (
                    torch_legacy.MAGIC_NUMBER,
                    torch_legacy.PROTOCOL_VERSION,
                    {"little_endian": True, "protocol_version": 1001},
                ):
                    pickle.dump(header, handle, protocol=2)
                pickle.dump({"weight": _Payload(marker)}, handle, protocol=2)
                pickle.dump([], handle, protocol=2)
        with pytest.raises(WeightsFileError) as info:
            torch_legacy.load_legacy_state_dict(path)
        assert "posix.system" in str(info.value) or "os.system" in str(info.value), info.value
        assert "refused without running it" in str(info.value)
        assert not marker.exists()


# -- models that load but are not image classifiers ----------------------------------------------


def test_two_inputs_refused(tmp_path):
    a, b = keras.Input((8, 8, 3)), keras.Input((8, 8, 3))
    out = keras.layers.Dense(2)(keras.layers.Flatten()(keras.layers.Add()([a, b])))
    path = tmp_path / "two.keras"
    keras.Model([a, b], out).save(path)
    refused(path, InvalidModelError, "expected one image input; found 2 inputs")


def test_output_that_is_not_2d_refused(tmp_path):
    inp = keras.Input((8, 8, 3))
    path = tmp_path / "segmenter.keras"
    keras.Model(inp, keras.layers.Conv2D(2, 1)(inp)).save(path)
    refused(path, InvalidModelError, "expected one output of shape (batch, classes)", "(None, 8, 8, 2)")


def test_class_name_count_mismatch_refused(tmp_path):
    path = tmp_path / "three.keras"
    plain_model(classes=3).save(path)
    names = tmp_path / "names.txt"
    names.write_text("cat\ndog\n")
    with pytest.raises(InvalidModelError, match="the model has 3 outputs but the file lists 2 class names"):
        model_zoo.load_user_model(path, class_names=names)


def test_compiled_model_with_builtin_loss_and_metric_functions_is_accepted(tmp_path):
    """Keras writes built-in functions as {"module": "builtins", "class_name": "function"}: these
    are Keras's own activations/losses/metrics and must not be mistaken for Python builtins."""
    model = plain_model()
    model.compile(
        loss=keras.losses.sparse_categorical_crossentropy, metrics=[keras.metrics.sparse_categorical_accuracy]
    )
    path = tmp_path / "compiled.keras"
    model.save(path)
    config = json.loads(zipfile.ZipFile(path).read("config.json"))
    assert '"module": "builtins", "class_name": "function"' in json.dumps(config)
    assert model_zoo.load_user_model(path).class_names == ["class 0", "class 1", "class 2"]
