"""Importing TensorFlow without its start-up notices.

TensorFlow 2.21 writes several lines to the process's standard error when it is imported and when
it first looks for devices ("oneDNN custom operations are on", "Could not find cuda drivers", ...),
from C++ before its log level applies, so TF_CPP_MIN_LOG_LEVEL cannot hide them. They are noise
for the CLI and the tests, so file descriptor 2 is pointed at /dev/null for those two steps only.
Python exceptions are unaffected: a failed import still raises. Set GRADCAM_TF_NOTICES=1 to see
the notices.
"""

from __future__ import annotations

import os
import sys


def import_tensorflow_quietly() -> None:
    """Import TensorFlow (once) with its C++ start-up notices sent to /dev/null; a no-op when it is
    already imported or GRADCAM_TF_NOTICES=1."""
    if "tensorflow" in sys.modules or os.environ.get("GRADCAM_TF_NOTICES") == "1":
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real standard error (some embedded interpreters)
        import tensorflow  # noqa: F401

        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow as tf

            tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
