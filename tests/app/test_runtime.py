"""The app's adjustments to Streamlit's runtime (gradcam_app.runtime): Keras' session (and with it
TensorFlow's kernel cache) survives a page run, Matplotlib's figures are still closed."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")
import keras  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from streamlit.runtime.scriptrunner import script_runner  # noqa: E402

from gradcam_app import runtime  # noqa: E402


def test_after_run_clean_up_keeps_keras_session_and_closes_figures(monkeypatch):
    cleared = []
    monkeypatch.setattr(keras.backend, "clear_session", lambda *a, **k: cleared.append(1))
    streamlits = script_runner._clean_problem_modules
    streamlits = getattr(streamlits, "replaced", streamlits)  # an earlier page run may have replaced it
    monkeypatch.setattr(script_runner, "_clean_problem_modules", streamlits)
    script_runner._clean_problem_modules()
    assert cleared == [1], "this Streamlit no longer clears Keras' session after a run: the hook can go"
    cleared.clear()

    assert runtime.keep_keras_session() is True
    assert runtime.keep_keras_session() is True  # idempotent
    plt.figure()
    script_runner._clean_problem_modules()
    assert cleared == [] and plt.get_fignums() == []


@pytest.mark.slow
def test_a_page_run_does_not_clear_keras_session(monkeypatch):
    from tests.helpers.app import new_app, problems

    monkeypatch.setenv("GRADCAM_ALLOW_MODEL_UPLOAD", "1")
    cleared = []
    monkeypatch.setattr(keras.backend, "clear_session", lambda *a, **k: cleared.append(1))
    at = new_app()
    at.run()
    at.run()
    assert problems(at) == []
    assert cleared == [], "a page run cleared Keras' session (and TensorFlow's kernel cache with it)"
