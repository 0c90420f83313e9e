"""model_zoo.try_load / try_load_user_model: a typed outcome instead of a string to parse, and
messages that name the files the person uploaded, not the server's temp paths."""

from __future__ import annotations

import pytest

import model_zoo
from model_zoo import LoadOutcome

keras = pytest.importorskip("keras")


def _classifier(classes=3, lambda_layer=False):
    inp = keras.Input((16, 16, 3))
    x = keras.layers.Lambda(lambda t: t * 2.0, name="double")(inp) if lambda_layer else inp
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(x)
    out = keras.layers.Dense(classes, name="scores")(keras.layers.GlobalAveragePooling2D()(x))
    return keras.Model(inp, out)


def test_unknown_zoo_model_is_refused_with_the_valid_names():
    outcome = model_zoo.try_load("alexnet")
    assert outcome == LoadOutcome("refused", None, outcome.message) and not outcome.ok
    assert "efficientnet-lite0" in outcome.message


def test_missing_weights_mean_needs_download(monkeypatch):
    from model_zoo import keras_apps
    from model_zoo.errors import WeightsUnavailableError

    def offline(name, progress=None):
        raise WeightsUnavailableError(f"{name}: no network to fetch its weights; put the file in the Keras folder.")

    monkeypatch.setattr(keras_apps, "load", offline)
    outcome = model_zoo.try_load("mobilenetv2")
    assert outcome.status == "needs_download" and outcome.model is None and "no network" in outcome.message


def test_a_good_user_model_is_ready(tmp_path):
    path = tmp_path / "tmpq1w2e3r4" / "upload.keras"
    path.parent.mkdir()
    _classifier().save(path)
    outcome = model_zoo.try_load_user_model(
        path, class_names=["a", "b", "c"], preprocessing="unit", display_name="my classifier.keras"
    )
    assert outcome.ok and outcome.message is None
    assert outcome.model.label == "my classifier.keras" and outcome.model.name == "my classifier"
    assert "tmpq1w2e3r4" not in outcome.model.description


def test_refusal_names_the_uploaded_file_not_the_temp_path(tmp_path):
    temp = tmp_path / "tmprln6yeca"
    temp.mkdir()
    path = temp / "lambda_model.keras"
    _classifier(lambda_layer=True).save(path)
    outcome = model_zoo.try_load_user_model(path, display_name="lambda_model.keras")
    assert outcome.status == "refused" and outcome.model is None
    assert outcome.message.startswith("lambda_model.keras: refused before loading: it contains a Lambda layer")
    assert "tmprln6yeca" not in outcome.message and str(tmp_path) not in outcome.message
    # The raising loader says the same, for the CLI and scripts.
    with pytest.raises(model_zoo.UnsafeModelError, match=r"^lambda_model\.keras: refused"):
        model_zoo.load_user_model(path, display_name="lambda_model.keras")


def test_a_names_file_is_called_by_the_name_it_was_uploaded_as(tmp_path):
    path = tmp_path / "model.keras"
    _classifier(classes=3).save(path)
    names = tmp_path / "class_names.txt"  # what the server saved the upload as
    names.write_text("\n".join(f"n{i}" for i in range(9)))
    outcome = model_zoo.try_load_user_model(
        path, class_names=names, display_name="mine.keras", names_display_name="names9.txt"
    )
    assert outcome.status == "refused"
    assert outcome.message.startswith("names9.txt: the model has 3 outputs but the file lists 9 class names")
    assert "class_names.txt" not in outcome.message and str(tmp_path) not in outcome.message


def test_a_file_keras_cannot_read_is_refused_not_raised(tmp_path):
    path = tmp_path / "tmpabc" / "broken.h5"
    path.parent.mkdir()
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)  # an HDF5 signature, nothing behind it
    outcome = model_zoo.try_load_user_model(path, display_name="broken.h5")
    assert outcome.status == "refused" and outcome.message.startswith("broken.h5: ")
    assert "tmpabc" not in outcome.message


def test_without_download_a_missing_model_is_reported_at_once(monkeypatch):
    from model_zoo import keras_apps

    def fetch(*args, **kwargs):
        raise AssertionError("download=False must not try to fetch weights")

    monkeypatch.setattr(keras_apps, "is_downloaded", lambda app: False)
    monkeypatch.setattr(keras_apps, "load", fetch)
    outcome = model_zoo.try_load("MobileNetV2", download=False)
    assert outcome.status == "needs_download" and outcome.message.startswith("mobilenetv2: first load downloads")
    assert model_zoo.try_load("alexnet", download=False).status == "refused"
