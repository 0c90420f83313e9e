"""How the app adjusts Streamlit's runtime for a page whose models live for the whole server.

Two of Streamlit's after-run clean-ups are meant for scripts that build their objects anew on every
run; here they cost most of a redraw's time:

* :func:`keep_keras_session`: Streamlit calls ``keras.backend.clear_session()`` after every page
  run, which also empties TensorFlow's kernel cache, so the next run's first call of each compiled
  function rebuilds its kernels (measured 0.45 s for EfficientNet-Lite0's map of a new photo,
  against 25 ms for the computation itself; 40 ms against 2 ms for a 20-op function).
* :func:`freeze_heap`: Streamlit runs a full garbage collection after every page and fragment run.
"""

from __future__ import annotations

import contextlib
import gc
import sys


def keep_keras_session() -> bool:
    """Replace Streamlit's after-run clean-up (``script_runner._clean_problem_modules``) by one
    that still closes Matplotlib's figures but leaves Keras' session alone. The app builds no model
    in the page itself (they are kept in ``st.cache_resource``), so there is no session state to
    clear. Idempotent; returns False when this Streamlit has no such hook (nothing to keep).

    This is the app's one reach into a Streamlit private name (Streamlit offers no supported way to
    keep Keras' session). tests/app/test_runtime.py fails, saying so, when Streamlit drops the hook
    or stops clearing Keras' session in it; tests/engine/test_architecture.py allows the reach-in
    here and nowhere else."""
    try:
        from streamlit.runtime.scriptrunner import script_runner
    except ImportError:  # pragma: no cover - Streamlit is a dependency of the app
        return False
    current = getattr(script_runner, "_clean_problem_modules", None)
    if current is None:
        return False
    if getattr(current, "keeps_keras_session", False):
        return True

    def clean_problem_modules() -> None:
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is not None:
            with contextlib.suppress(Exception):
                plt.close("all")

    clean_problem_modules.keeps_keras_session = True
    clean_problem_modules.replaced = current  # Streamlit's own, for the tests
    script_runner._clean_problem_modules = clean_problem_modules
    return True


def freeze_heap() -> None:
    """Move every object alive now (TensorFlow, Keras, the default model) out of the garbage
    collector's reach. Streamlit runs a full collection after every page and fragment run, and over
    the ~400,000 objects of a loaded TensorFlow that took 0.18 s each time, holding Python's lock
    while the browser waited for the pictures; afterwards it takes well under a millisecond. The
    frozen objects are long-lived; reference counting still frees them (only a cycle among them
    that later becomes garbage would stay, e.g. the default model if the cache ever evicted it)."""
    gc.collect()
    gc.freeze()
