"""The page before TensorFlow (gradcam_app.early): with the default view in the result cache, a
page drawn while the model still loads shows the photo, the heatmap and the probabilities, and
TensorFlow has not been imported.

The page runs in AppTest in a fresh Python process in which importing TensorFlow or Keras blocks
(as a slow import does) until the checks are done: a page that needed TensorFlow would hang there
and the test would fail on AppTest's timeout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

PAGE_WITHOUT_TENSORFLOW = r"""
import importlib.util, json, sys, threading
gate = threading.Event()
attempts = []  # the threads that began to import TensorFlow or Keras

class BlockTensorFlow:
    # Importing tensorflow or keras waits (as a slow import does) until the checks are done. It
    # waits in the loader, not in find_spec, which Python calls holding the global import lock.
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras"):
            return importlib.util.spec_from_loader(name, self)
        return None
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        attempts.append(threading.current_thread().name)
        gate.wait(120)
        raise ImportError("blocked by the test")

sys.meta_path.insert(0, BlockTensorFlow())
from streamlit.testing.v1 import AppTest
from gradcam_app import early, service
import model_zoo

service.note_background_loading()  # as gradcam-app's warm-up does
early.start_loading(model_zoo.DEFAULT_MODEL)  # its import of TensorFlow now waits on the gate
at = AppTest.from_file(sys.argv[1], default_timeout=60)
at.run()
captions = [img.caption for image in at.get("image") for img in image.proto.imgs]
out = {
    # Imported: the module finished loading (a blocked import leaves a bare module in sys.modules).
    "tensorflow_imported": hasattr(sys.modules.get("tensorflow"), "__version__"),
    "import_threads": sorted(set(attempts)),
    "captions": captions,
    "problems": [str(e.value) for e in at.exception] + [str(e.value) for e in at.error],
    "infos": [str(e.value) for e in at.info],
    "charts": sum("gc-probs" in h.proto.body for h in at.get("html")),
    "sidebar": [w.label for w in at.sidebar.selectbox],
}
print("RESULT " + json.dumps(out), flush=True)
gate.set()
"""


def page_without_tensorflow(cache_folder: Path) -> dict:
    """Run :data:`PAGE_WITHOUT_TENSORFLOW` in a fresh process on the result cache in
    ``cache_folder``; what it saw (captions, problems, whether TensorFlow was imported, ...)."""
    env = dict(os.environ, GRADCAM_RESULT_CACHE_DIR=str(cache_folder), PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", PAGE_WITHOUT_TENSORFLOW, str(ROOT / "gradcam_app" / "page.py")],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"the page did not finish: {done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return json.loads(lines[-1][len("RESULT ") :])


def test_a_cached_view_shows_its_map_before_tensorflow_is_imported(lite0, tmp_path):
    from gradcam import Explainer
    from gradcam.images import decode_image
    from gradcam.result_cache import ResultCache

    model, _ = lite0
    # The default view as the first start of the server leaves it in the cache.
    data = (ROOT / "sample_images" / "cat_and_coffee.jpg").read_bytes()
    pixels = decode_image(data, name="cat_and_coffee.jpg").pixels
    expected = Explainer(model, cache_dir=ResultCache(tmp_path)).explain(pixels)
    out = page_without_tensorflow(tmp_path)
    assert out["problems"] == []
    assert not out["tensorflow_imported"], "the page imported TensorFlow"
    # Only the background load asked for TensorFlow, never the page's own thread.
    assert out["import_threads"] == ["gradcam-app-load-efficientnet-lite0"], out["import_threads"]
    assert f"Heatmap · {expected.label}" in out["captions"], out["captions"]
    assert any(c.startswith("Original · ") for c in out["captions"])
    assert any(c.startswith("Overlay · ") for c in out["captions"])
    assert out["charts"] == 1, "the class probabilities are missing"
    assert any("Loading TensorFlow and the model" in text for text in out["infos"])
    assert "Classifier" in out["sidebar"] and "Explanation method" in out["sidebar"]


def test_without_a_cached_view_the_photo_shows_and_the_map_waits(tmp_path):
    out = page_without_tensorflow(tmp_path)
    assert out["problems"] == [] and not out["tensorflow_imported"]
    assert out["import_threads"] == ["gradcam-app-load-efficientnet-lite0"], out["import_threads"]
    assert [c for c in out["captions"] if c.startswith("Original · ")], out["captions"]
    assert not [c for c in out["captions"] if c.startswith("Heatmap · ")]


def test_the_warm_up_waits_until_the_server_is_quiet():
    """Before importing TensorFlow the warm-up waits until this process stops using the CPU (it has
    sent the first page); a process that stays busy is waited for at most the limit."""
    import threading
    import time

    from gradcam_app.early import wait_until_quiet

    def burn(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            sum(range(1000))

    busy = threading.Thread(target=burn, args=(1.0,))
    started = time.monotonic()
    busy.start()
    assert wait_until_quiet(limit=10.0, window=0.1, calm=2)
    assert not busy.is_alive(), "it returned while the process was still busy"
    assert time.monotonic() - started < 10.0

    busy = threading.Thread(target=burn, args=(1.5,))
    busy.start()
    started = time.monotonic()
    assert not wait_until_quiet(limit=0.5, window=0.1, calm=2)  # still busy at the limit
    assert time.monotonic() - started >= 0.5
    busy.join()


def test_a_page_leaves_the_default_model_to_the_warm_up_waiting_for_it(monkeypatch):
    """While the warm-up waits for the first page to be sent, that page does not start loading the
    default model beside it (TensorFlow's import would hold the interpreter while the page is drawn
    and served); once the wait is over, the page's redraw timer starts the load if nothing has."""
    from types import SimpleNamespace

    import model_zoo
    from gradcam_app import early, service

    started: list[str] = []

    class RecordedThread:
        def __init__(self, target, name, daemon):
            self.name = name

        def start(self):
            started.append(self.name)

    monkeypatch.setattr(early, "threading", SimpleNamespace(Thread=RecordedThread))
    monkeypatch.setattr(service, "model_ready", lambda name: False)
    monkeypatch.setattr(early, "_loading", {})
    early._warm_up_waiting.set()
    try:
        early.start_loading(model_zoo.DEFAULT_MODEL)
        assert started == [], "the page started the default model's load while the warm-up waited"
        early.start_loading("efficientnet-lite4")  # another model: nobody else is about to load it
        assert started == ["gradcam-app-load-efficientnet-lite4"]
    finally:
        early._warm_up_waiting.clear()
    early.start_loading(model_zoo.DEFAULT_MODEL)
    assert started[-1] == f"gradcam-app-load-{model_zoo.DEFAULT_MODEL}"
