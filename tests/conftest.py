"""Shared fixtures and hooks. Nothing here touches the network. The browser tests' timings and
skip reasons appear in the terminal summary."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The app's result cache on disk (gradcam_app.service) lives in a folder of this test run, never in
# the user's own cache: a run starts cold and leaves nothing behind. Browser tests' servers inherit it.
if not os.environ.get("GRADCAM_RESULT_CACHE_DIR"):
    import atexit
    import shutil
    import tempfile

    os.environ["GRADCAM_RESULT_CACHE_DIR"] = tempfile.mkdtemp(prefix="gradcam-test-results-")
    atexit.register(shutil.rmtree, os.environ["GRADCAM_RESULT_CACHE_DIR"], ignore_errors=True)

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
        for name, value, note, unit in TIMINGS:
            terminalreporter.write_line(f"{name:<45} {value:6.2f} {unit:<2} {note}")
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
