"""How the app is deployed: settings read from environment variables and Streamlit's secrets
(``.streamlit/secrets.toml``). An environment variable wins over the secrets; without either the
default applies.

* ``GRADCAM_ALLOW_MODEL_UPLOAD`` / ``allow_model_upload``: whether people may upload their own model
  (0/false/no/off switches it off for a public deployment).
* ``GRADCAM_RUNS_DIR`` / ``runs_dir``: the one folder the Dataset view opens runs from (default ``./runs``).
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st


def model_upload_allowed() -> bool:
    """GRADCAM_ALLOW_MODEL_UPLOAD (0/false/no/off disables) wins; else secrets' allow_model_upload."""
    value = os.environ.get("GRADCAM_ALLOW_MODEL_UPLOAD")
    if value is not None and value.strip():
        return value.strip().lower() not in ("0", "false", "no", "off")
    try:
        return bool(st.secrets.get("allow_model_upload", True))
    except Exception:  # no secrets file: the default applies
        return True


def runs_folder() -> Path:
    """The folder the Dataset view opens runs from: GRADCAM_RUNS_DIR wins, else secrets' runs_dir,
    else ./runs under the working directory (see :func:`gradcam.dataset.browse.runs_root`)."""
    from gradcam.dataset.browse import runs_root

    try:
        configured = st.secrets.get("runs_dir")
    except Exception:  # no secrets file: the default applies
        configured = None
    return runs_root(configured)


__all__ = ["model_upload_allowed", "runs_folder"]
