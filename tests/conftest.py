"""Shared fixtures and hooks. Nothing here touches the network. The browser tests' timings and
skip reasons appear in the terminal summary."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def small_cnn():
    """A small random-weight CNN (Functional, GAP + dense head, softmax output), 32x32 input."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(name="pool1")(x)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(5, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def _browser_summary(terminalreporter):
    try:
        from tests.e2e.conftest import SKIP_REASONS, TIMINGS
    except ImportError:
        return
    if TIMINGS:
        terminalreporter.section("Grad-CAM Explorer timings (browser, measured, not asserted)")
        for name, seconds, note in TIMINGS:
            terminalreporter.write_line(f"{name:<45} {seconds:6.2f} s  {note}")
    for reason in dict.fromkeys(SKIP_REASONS):
        terminalreporter.section("BROWSER TESTS SKIPPED", sep="!")
        terminalreporter.write_line(reason)


@pytest.fixture(scope="session")
def lite0():
    """The real offline EfficientNet-Lite0 and one shared Explainer over it, loaded once."""
    import model_zoo
    from gradcam import Explainer

    model = model_zoo.load_model("efficientnet-lite0")
    return model, Explainer(model)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    _browser_summary(terminalreporter)
    from tests.helpers.summary import FIGURES

    if FIGURES:
        terminalreporter.section("Grad-CAM Explorer figures (measured)")
        for name, text in FIGURES:
            terminalreporter.write_line(f"{name:<45} {text}")
