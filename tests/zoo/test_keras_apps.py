"""Keras applications: the real loading path with a weights file the test writes into a temporary
Keras cache, the offline error with the network blocked, and the file table checked against Keras."""

from __future__ import annotations

import os
import socket
import time
import urllib.request

import numpy as np
import pytest

import model_zoo
from model_zoo import keras_apps


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home


@pytest.fixture
def no_network(monkeypatch):
    """Make every outgoing connection fail immediately, as on an air-gapped machine."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network unreachable (blocked by the test)")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def test_offline_error_names_file_folder_url(keras_home, no_network):
    assert model_zoo.model_status("mobilenetv2") == model_zoo.NEEDS_DOWNLOAD
    started = time.perf_counter()
    with pytest.raises(model_zoo.WeightsUnavailableError) as info:
        model_zoo.load_model("mobilenetv2")
    assert time.perf_counter() - started < 5  # fails fast, no long retries
    msg = str(info.value)
    app = keras_apps.APPS["mobilenetv2"]
    assert app.file_name in msg
    assert str(keras_home / "models") in msg
    assert app.url in msg
    assert no_network, "the loader should have tried the network once"
    assert not list((keras_home / "models").glob("*")), "no partial file may be left behind"


def test_download_progress_and_hash_check(keras_home, monkeypatch):
    """The download path with a fake server: progress is reported, a wrong hash is refused."""
    import io

    payload = os.urandom(3_000_000)

    class FakeResponse(io.BytesIO):
        headers = {"Content-Length": str(len(payload))}

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: FakeResponse(payload))
    events = []
    app = keras_apps.APPS["mobilenetv2"]  # Keras publishes no hash for it: any bytes are accepted
    path = keras_apps.download(app, progress=lambda f, m: events.append((f, m)))
    assert open(path, "rb").read() == payload and os.path.basename(path) == app.file_name
    assert len(events) >= 3 and events[-1][0] == pytest.approx(0.9)
    resnet = keras_apps.APPS["resnet50"]  # has an md5 in Keras: random bytes must be refused
    with pytest.raises(model_zoo.WeightsUnavailableError, match="does not match"):
        keras_apps.download(resnet)
    assert not os.path.exists(keras_apps.weights_path(resnet))
    assert [f for f in os.listdir(keras_home / "models")] == [app.file_name]


def _write_keras_weights_file(app, models_dir):
    """Save a weights=None build in the legacy HDF5 layout of the published Keras files."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    model = keras_apps.build(app, None)
    os.makedirs(models_dir, exist_ok=True)
    with h5py.File(os.path.join(models_dir, app.file_name), "w") as fh:
        legacy_h5_format.save_weights_to_hdf5_group(fh, model)
    return model


def test_real_loading_path_with_cached_file(keras_home, no_network):
    app = keras_apps.APPS["mobilenetv2"]
    reference = _write_keras_weights_file(app, keras_home / "models")
    assert model_zoo.model_status("mobilenetv2") == model_zoo.READY
    info = {i.name: i for i in model_zoo.list_models()}["mobilenetv2"]
    assert info.status == model_zoo.READY and str(keras_home / "models") in info.status_message
    zm = model_zoo.load_model("mobilenetv2")  # network blocked: must come from the file alone
    assert not no_network
    assert zm.name == "mobilenetv2" and zm.input_size == (224, 224) and zm.preprocessing == "tf"
    assert zm.keras_model.output_shape == (None, 1000) and len(zm.class_names) == 1000
    assert zm.keras_model.layers[-1].activation is not None
    assert zm.keras_model.layers[-1].get_config()["activation"] == "linear"  # logits, no softmax
    assert zm.weights_sha256 == model_zoo.cache.sha256_file(keras_home / "models" / app.file_name)
    x = np.random.default_rng(1).integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)
    np.testing.assert_allclose(
        np.asarray(zm.keras_model(zm.preprocess(x))), np.asarray(reference(zm.preprocess(x))), rtol=1e-5, atol=1e-5
    )


def test_corrupt_cached_file_message(keras_home):
    app = keras_apps.APPS["mobilenetv2"]
    os.makedirs(keras_home / "models")
    (keras_home / "models" / app.file_name).write_bytes(b"truncated download")
    with pytest.raises(model_zoo.WeightsUnavailableError) as info:
        model_zoo.load_model("mobilenetv2")
    assert app.file_name in str(info.value) and "delete the file" in str(info.value)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(keras_apps.APPS))
def test_file_table_matches_keras(name, monkeypatch):
    """Our (file, url, hash) must be what the Keras builder itself asks get_file for."""
    import keras
    from keras.src.utils import file_utils

    asked = {}

    class Stop(Exception):
        pass

    def fake_get_file(fname=None, origin=None, *args, **kwargs):
        asked.update(
            fname=fname, origin=origin, file_hash=kwargs.get("file_hash"), cache_subdir=kwargs.get("cache_subdir")
        )
        raise Stop

    monkeypatch.setattr(file_utils, "get_file", fake_get_file)
    app = keras_apps.APPS[name]
    with pytest.raises(Stop):
        getattr(keras.applications, app.builder)(weights="imagenet", classifier_activation=None)
    assert asked == {"fname": app.file_name, "origin": app.url, "file_hash": app.file_hash, "cache_subdir": "models"}
